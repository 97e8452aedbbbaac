#if canImport(Glibc)
import Glibc
#endif
import CasetrackCore
import GRDB

// What a failing disk or file means, said truthfully: a write not made, a write that may have
// been made (a failed commit), a full disk that passes, a damaged file that stops writes.

extension SQLiteCaseStore {
    /// Reads the whole file once at start (SQLite's quick_check: every page, every index
    /// entry in its table) while writes wait, so that a damaged file is found before any
    /// write goes into it, not when a read happens to meet the damage. Reads are served
    /// meanwhile.
    func checkFile() async {
        var problem: CasetrackError?
        do {
            let found = try await pool.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check(5)") }
            if found != ["ok"] {
                problem = CasetrackError(.storageDamaged,
                    "the database file is damaged (SQLite's quick_check: \(found.prefix(3).joined(separator: "; "))): found by the check at start; the change was not made, and the daemon takes no more writes. Reads of intact cases go on. Stop the daemon, then remake the tables from the event log with casetrackd --rebuild (it keeps the damaged file), or restore the latest backup (README: Rebuild from the log)")
            }
        } catch {
            if Self.fault(of: error) == .damaged {
                problem = Self.damagedError(error, doing: "found by the check at start; the change was not made")
            }
        }
        if let problem { writer.refuseWrites(problem) }
        writer.open()
    }

    /// What a failure of SQLite means for the daemon.
    enum Fault {
        /// No space left: SQLite rolled the transaction back; later writes may succeed.
        case full
        /// The file is damaged: no write may go into it.
        case damaged
        /// Anything else (an I/O error, a lock held too long…).
        case failed
    }

    /// `error` as SQLite's full disk when the file system refuses more blocks for a reason
    /// SQLite does not name.
    ///
    /// SQLite calls a write that fails with ENOSPC `SQLITE_FULL`, but one that fails with
    /// EDQUOT (a user's or a project's quota on the file system, as on a shared host) a plain
    /// `SQLITE_IOERR_WRITE`: the daemon took it for a dying disk, stopped, and restarted into
    /// the same quota until systemd gave up. Both leave the commit unwritten and roll it back
    /// alike. SQLite does not keep the write's errno (`sqlite3_system_errno` reads the
    /// thread's errno after the rollback's own calls: 0), so a page is written to a scratch
    /// file beside the database to ask the file system itself; this runs only after a failed
    /// write.
    static func fullDiskSaid(_ error: any Error, databasePath: String) -> any Error {
        guard let failure = error as? DatabaseError, failure.extendedResultCode == .SQLITE_IOERR_WRITE else { return error }
        let probe = databasePath + "-space-probe"
        let descriptor = Glibc.open(probe, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return error }
        defer {
            Glibc.close(descriptor)
            Glibc.unlink(probe)
        }
        let page = [UInt8](repeating: 0, count: 4096)
        guard Glibc.pwrite(descriptor, page, page.count, 0) < 0 else { return error }
        let found = errno
        guard found == ENOSPC || found == EDQUOT else { return error }
        let said = found == EDQUOT ? "disk quota exceeded" : "no space left on device"
        return DatabaseError(resultCode: .SQLITE_FULL, message: "\(said) (\(failure.message ?? "disk I/O error"))")
    }

    static func fault(of error: any Error) -> Fault {
        guard let error = error as? DatabaseError else { return .failed }
        switch error.resultCode {
        case .SQLITE_FULL: return .full
        case .SQLITE_CORRUPT, .SQLITE_NOTADB: return .damaged
        default: return .failed
        }
    }

    /// A write that failed before its commit began: SQLite rolled it back, so it was not made.
    static func storageFailure(_ error: any Error) -> CasetrackError {
        if let error = error as? CasetrackError { return error }
        switch fault(of: error) {
        case .full: return fullError(error)
        case .damaged: return damagedError(error, doing: "the change was not made")
        case .failed: return CasetrackError(.storageFailure, "the database failed: \(describe(error)); the change was not made")
        }
    }

    /// A write whose commit failed part-way. After a failed sync SQLite cannot say what
    /// reached the disk: the log may hold the commit, and a restart would bring it back. So
    /// the answer says exactly that, and a client that retries with the same `request_id`,
    /// or reads first, never makes a change twice.
    static func commitFailure(_ error: any Error) -> CasetrackError {
        if let error = error as? CasetrackError { return error }
        switch fault(of: error) {
        // A full disk fails the log write before the commit frame: rolled back.
        case .full: return fullError(error)
        case .damaged: return damagedError(error, doing: "the change was not made")
        case .failed:
            var details = Fields()
            details.append("outcome", "unknown")
            return CasetrackError(.storageFailure,
                "the database failed while committing (\(describe(error))): the change may or may not have been recorded. The daemon stops and recovers; once it is back, read the case (or send the request again with the same request_id) before writing again",
                details: details)
        }
    }

    /// A round of an office's copy whose local commit failed after the round was appended to
    /// the shared register: other offices have the change, and this copy takes it from the
    /// register once it can (after a restart, or once there is space).
    static func sharedCommitFailure(_ error: any Error) -> CasetrackError {
        var details = Fields()
        details.append("outcome", "unknown")
        let cause = (error as? CasetrackError)?.message ?? describe(error)
        return CasetrackError(.storageFailure,
            "this office's copy failed while taking the change (\(cause)) after it was appended to the shared register: other offices have it, and this office takes it from the register once its copy can. Read the case, or send the request again with the same request_id, before writing again",
            details: details)
    }

    /// A read that failed: said as a read, never as a change.
    static func readFailure(_ error: any Error) -> CasetrackError {
        if let error = error as? CasetrackError { return error }
        switch fault(of: error) {
        case .damaged: return damagedError(error, doing: "this request could not be answered")
        case .full, .failed: return CasetrackError(.storageFailure, "the database failed to answer: \(describe(error)); nothing was changed")
        }
    }

    static func fullError(_ error: any Error) -> CasetrackError {
        CasetrackError(.storageFull,
            "the disk holding the database is full (\(describe(error))): the change was not made. Free space on that file system (or raise its quota); writes resume by themselves, and reads, notices and waits go on meanwhile")
    }

    static func damagedError(_ error: any Error, doing what: String) -> CasetrackError {
        CasetrackError(.storageDamaged,
            "the database file is damaged (\(describe(error))): \(what), and the daemon takes no more writes. Reads of intact cases go on. Stop the daemon, then remake the tables from the event log with casetrackd --rebuild (it keeps the damaged file), or restore the latest backup (README: Rebuild from the log)")
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return "SQLite error \(error.resultCode.rawValue): \(error.message ?? "\(error)")"
        }
        return "\(error)"
    }
}
