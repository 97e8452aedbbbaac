#if canImport(Glibc)
import Glibc
#endif
import CasetrackCore
import Foundation
import GRDB

extension SQLiteCaseStore {
    public func importRows(_ rows: [ImportRow], dryRun: Bool, actor: Actor, clock: WriteClock) async throws -> [ImportOutcome] {
        if dryRun {
            return try await read { db in
                var planner = ImportPlanner(owner: { try Self.referenceOwner($0, db) })
                return try rows.enumerated().map { position, row in
                    var decision = try planner.decide(row, index: row.number > 0 ? row.number - 1 : position)
                    if decision == .add {
                        // The checks of opening the case (dates in order), without opening it.
                        do {
                            _ = try CaseRules.open(row.new, id: CaseID(number: 1), details: row.details, actor: actor, clock: clock)
                        } catch let error as CasetrackError {
                            decision = .conflict(error.message)
                        }
                    }
                    return ImportOutcome(decision: decision)
                }
            }
        }
        return try await importRowsCheckedBeside(rows, actor: actor, clock: clock).outcomes
    }

    /// An import with its duplicate check made by readers beside the writer, and that check
    /// (which tells how many rows it served); none for a few rows.
    func importRowsCheckedBeside(_ rows: [ImportRow], actor: Actor, clock: WriteClock) async throws
        -> (outcomes: [ImportOutcome], check: ImportCheck?) {
        let ready = await PreparedNewCase.prepare(rows, actor: actor, clock: clock)
        // A few rows the writer checks as fast as it would wait for readers' snapshots.
        guard rows.count >= Self.rowsForReaders else {
            return (try await importRows(rows, ready: ready, check: nil, actor: actor, clock: clock), nil)
        }
        let check = ImportCheck(workers: importReaders.load(ordering: .relaxed))
        return try await withThrowingTaskGroup(of: Void.self) { readers in
            for worker in 0..<check.workers {
                readers.addTask {
                    // However the reader ends (its read may fail before it begins: a cancelled
                    // task), neither this import nor the writer may wait for it.
                    defer { check.end(worker) }
                    // A reader's failure is no import's: the writer checks the rows itself.
                    _ = try? await self.read { db in try check.run(rows, ready: ready, worker: worker, db) }
                }
            }
            defer {
                check.abandon()
                // A reader still waiting for a pool connection (long reads holding them all)
                // would take one, a snapshot and a group of rows before it saw it was not
                // wanted, and the committed import's answer waited for it: its read fails now.
                readers.cancelAll()
            }
            await check.snapshotTaken()
            let started = DispatchTime.now().uptimeNanoseconds
            let outcomes = try await importRows(rows, ready: ready, check: check, actor: actor, clock: clock)
            if check.rowsServed > 0 {
                let share = Double(check.writerWaited) / Double(max(1, DispatchTime.now().uptimeNanoseconds - started))
                importReaders.store(Self.readers(after: share, with: check.workers), ordering: .relaxed)
            }
            return (outcomes, check)
        }
    }

    /// Below this many rows an import's writer checks them itself.
    static let rowsForReaders = 32

    /// How many readers the next import gets, from the share of its time the writer waited
    /// for `readers` in the last one. The check costs what the register's blocks hold: about
    /// as much as the writer's inserts a row at 100,000 cases (the writer waited 2-27% of its
    /// time for one reader, and a second one only took cores from it: 0.85 times the rate),
    /// about twice as much at 1,000,000 (it waited half its time; two readers gave 1.4 times
    /// the rate). A second reader, then, when the writer waits a third of its time for one,
    /// and back to one when it hardly waits for two.
    static func readers(after waitedShare: Double, with readers: Int) -> Int {
        let most = min(2, ProcessInfo.processInfo.activeProcessorCount)
        if readers < most, waitedShare > 0.3 { return most }
        if readers > 1, waitedShare < 0.1 { return 1 }
        return readers
    }

    /// The writer's part of an import. `check`: the duplicate check a reader makes beside it,
    /// taken where it holds (``ImportCheck``); `nil`, or wherever it does not, the writer
    /// checks the row itself.
    func importRows(_ rows: [ImportRow], ready: [PreparedNewCase?], check: ImportCheck?, actor: Actor,
                    clock: WriteClock) async throws -> [ImportOutcome] {
        try await writer.submit(solo: true, notices: { outcomes in
            outcomes.flatMap { $0.change?.notices ?? [] }
        }) { db in
            var beside = check
            if let check, !check.matches(eventSeq: try Self.eventSeq(db)) {
                check.abandon()
                beside = nil
            }
            // Added rows are inserted as they are decided, so later rows see their references.
            var planner = ImportPlanner(owner: { try Self.referenceOwner($0, db) })
            var outcomes: [ImportOutcome] = []
            let prepared = PreparedIdentities()
            for (position, row) in rows.enumerated() {
                let index = row.number > 0 ? row.number - 1 : position
                let decision = try planner.decide(row, index: index)
                switch decision {
                case .conflict(let message):
                    throw CasetrackError(.duplicateReference, "row \(index + 1): \(message); nothing was imported",
                                         details: ["row": .int(Int64(index + 1))])
                case .existing:
                    outcomes.append(ImportOutcome(decision: decision))
                case .add:
                    let id = CaseID(number: try Self.bump("case_id", db))
                    var change: CaseChange
                    do {
                        change = try CaseRules.open(row.new, id: id, details: row.details, actor: actor, clock: clock)
                    } catch let error as CasetrackError {
                        var details = error.details
                        details.append("row", index + 1)
                        throw CasetrackError(error.code, "row \(index + 1): \(error.message); nothing was imported", details: details)
                    }
                    try Self.insert(change.record, keys: ready[position]?.keys, db)
                    try Self.append(&change.event, change.record, db)
                    var found: [DuplicateCandidate]?
                    if let check = beside {
                        found = check.finding(at: position, id: id)
                        if found == nil {
                            check.abandon()
                            beside = nil
                        }
                    }
                    if let found {
                        try Self.flagDuplicates(&change, found: found, db)
                    } else {
                        try Self.flagDuplicates(&change, ready: ready[position], prepared: prepared, db)
                    }
                    outcomes.append(ImportOutcome(decision: decision, change: change))
                }
            }
            return outcomes
        }
    }

    static func referenceOwner(_ ref: String, _ db: Database) throws -> CaseID? {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT case_id FROM case_refs WHERE ref = ?"), arguments: [ref])
            .map { CaseID(number: $0) }
    }

    public func backup(to path: String) async throws -> BackupSummary {
        // A new file, created 0600 whatever the umask: a backup holds every personal record.
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let reason = errno == EEXIST ? "it exists already; name a new file" : String(cString: strerror(errno))
            throw CasetrackError.badArgument("cannot create the backup \(path): \(reason)")
        }
        fchmod(fd, 0o600)
        Glibc.close(fd)
        do {
            // VACUUM INTO reads one snapshot through its own connection (WAL: writers go on)
            // and writes a compact copy into the empty file.
            var configuration = Configuration()
            configuration.readonly = true
            configuration.busyMode = .timeout(10)
            let source = try DatabaseQueue(path: self.path, configuration: configuration)
            try await source.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [path]) }
            try source.close()
            try Self.syncFile(path)
            try Self.syncFile(Self.directory(of: path))
            // Read it back: a backup nobody can open is no backup.
            let copy = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? copy.close() }
            let summary = try await copy.read { db -> BackupSummary in
                var summary: BackupSummary
                let check = try String.fetchAll(db, sql: "PRAGMA quick_check")
                guard check == ["ok"] else {
                    throw CasetrackError(.storageFailure, "the backup \(path) fails SQLite's check: \(check.prefix(3).joined(separator: "; "))")
                }
                summary = BackupSummary(
                    path: path, bytes: 0, cases: try Int.fetchOne(db, sql: "SELECT count(*) FROM cases") ?? 0,
                    events: try Int.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0,
                    lastSequence: try Int64.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'event_seq'") ?? 0)
                summary.head = try EventChain.head(db)
                return summary
            }
            var info = stat()
            var result = summary
            if stat(path, &info) == 0 { result.bytes = Int64(info.st_size) }
            return result
        } catch {
            unlink(path)
            if let error = error as? CasetrackError { throw error }
            throw CasetrackError(.storageFailure, "the backup to \(path) failed: \(Self.describe(error)); the partial file was removed")
        }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func syncFile(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CasetrackError(.storageFailure, "cannot open \(path) to sync it: \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        guard fsync(fd) == 0 else { throw CasetrackError(.storageFailure, "fsync of \(path) failed: \(String(cString: strerror(errno)))") }
    }
}
