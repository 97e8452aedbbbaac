#if canImport(Glibc)
import Glibc
#endif
import CasetrackCore
import Foundation
import GRDB

// Moving a single-host register into a shared store, whole: ids, history, sequence numbers and
// the event chain. An export and import would lose all of them.

/// What `casetrackd --migrate-to-postgresql` moved.
public struct SharedMove: Sendable {
    public var register = ""
    public var cases = 0
    public var events = 0
    public var lastSequence: Int64 = 0
    public var head = ""
    public var bytes: Int64 = 0
}

extension SQLiteCaseStore {
    /// Moves the register in `path` into `shared`, which must hold no register yet or an empty
    /// one: the database is verified (chain and tables), copied in one snapshot (`VACUUM
    /// INTO`), stored as the register's starting point, read back and compared (SHA-256), and
    /// only then marked as this office's copy. The daemon must be stopped (the file is locked).
    /// Offices that join later start from that copy, then apply the rounds after it.
    public static func move(_ path: String, into shared: any SharedLog, progress: (String) -> Void) async throws -> SharedMove {
        guard access(path, F_OK) == 0 else {
            throw CasetrackError(.storageFailure, "there is no database at \(path); nothing to move")
        }
        let store = try SQLiteCaseStore(path: path)
        var summary = SharedMove()
        let copy = path + ".to-shared-store"
        unlink(copy)
        defer { unlink(copy) }
        do {
            progress("verifying the register in \(path)")
            let report = try await store.verify()
            guard report.ok else {
                throw CasetrackError(.storageFailure,
                    "the register in \(path) does not verify (\(report.problems.first.map { "\($0.subject): \($0.message)" } ?? "see casectl verify")); nothing was moved. Repair it first (casetrackd --rebuild)")
            }
            let schema = try await store.pool.read { db in try Schema.migrator.appliedIdentifiers(db).count }
            let register = try shared.open(schema: schema)
            guard register.round == 0, !register.hasBase else {
                throw CasetrackError(.storageFailure,
                    "the shared store holds a register already (\(register.id), round \(register.round)); nothing was moved. Move a register only into an empty PostgreSQL database")
            }
            summary.register = register.id
            (summary.cases, summary.events, summary.lastSequence) = try await store.pool.read { db in
                (try Int.fetchOne(db, sql: "SELECT count(*) FROM cases") ?? 0,
                 try Int.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0,
                 try eventSeq(db))
            }
            summary.head = try await store.chainHead().hash
            // One snapshot, in a file of its own with nothing beside it (no WAL).
            try await store.pool.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [copy]) }
            let sha = try fileSHA256(copy)
            summary.bytes = Int64((try? FileManager.default.attributesOfItem(atPath: copy)[.size] as? Int) ?? 0)
            progress("storing \(summary.bytes) bytes in the shared store")
            try shared.storeBase(path: copy, sha256: sha)
            // Read back: what a joining office will start from must be this file, byte for byte.
            unlink(copy)
            guard let stored = try shared.fetchBase(to: copy), stored == sha, try fileSHA256(copy) == sha else {
                throw CasetrackError(.storageFailure,
                    "the copy read back from the shared store differs from what was stored; the register stays in \(path). Drop the tables casetrack_register, casetrack_rounds and casetrack_base in PostgreSQL and try again")
            }
            try await store.pool.write { db in try setLocalValue("register", register.id, db) }
        } catch {
            try? store.close()
            throw error
        }
        try store.close()
        return summary
    }

    /// An office joining a register that began as a moved single-host one: its empty database
    /// file becomes that starting point (checked against its SHA-256) and is marked as a copy
    /// of the register. Nothing happens when the file holds anything, or the register has no
    /// starting point.
    ///
    /// Written into the file itself, not renamed over it: the daemon's lock is on that file.
    ///
    /// Any failure on the way (the store gone part-way, a full disk) empties the file again:
    /// the next start fetches it anew, where a part of it would be taken for a copy.
    static func startFromBase(_ path: String, _ shared: any SharedLog) throws {
        var info = stat()
        if stat(path, &info) == 0, info.st_size > 0 { return }
        do {
            guard let sha = try shared.fetchBase(to: path) else { return }
            guard try fileSHA256(path) == sha, let register = try shared.probe() else {
                throw CasetrackError(.storageFailure,
                    "the register's starting point in the shared store does not match its SHA-256: it was changed outside casetrack; nothing was changed here")
            }
            let queue = try DatabaseQueue(path: path)
            try queue.write { db in try setLocalValue("register", register.id, db) }
            try queue.close()
        } catch {
            truncate(path, 0)
            for suffix in ["-journal", "-wal", "-shm"] { unlink(path + suffix) }
            throw error
        }
    }

    static func fileSHA256(_ path: String) throws -> String {
        guard let file = FileHandle(forReadingAtPath: path) else {
            throw CasetrackError(.storageFailure, "cannot read \(path)")
        }
        defer { try? file.close() }
        var hasher = SHA256Digest()
        while let chunk = try file.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(chunk) }
        return hasher.hex()
    }
}
