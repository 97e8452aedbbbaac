#if canImport(Glibc)
import Glibc
#endif
import CasetrackCore
import Foundation
import GRDB

/// `casetrackd --rebuild`: a new database file made from the event log alone.
///
/// Every event is read in order and its chain link checked; the first event that cannot be
/// read or does not match its hash ends the log (what follows it cannot be trusted). The cases,
/// their tags, references and search keys, and every counter are made from the events'
/// after-images; the new file is verified like `VERIFY` before it replaces the old one, which
/// is kept beside it. Exchanges, their lists, merge records, duplicate decisions, alert marks
/// and request ids are not case rows: they are copied from the old file where it can still be
/// read, and reported where it cannot.
public enum LogRebuild {
    public struct Outcome: Sendable {
        /// The events kept, and the chain head they end on.
        public var events = 0
        public var lastSeq: Int64 = 0
        public var head = EventChain.genesis
        public var cases = 0
        /// Why the log ends before the old file's last event (damage, a broken link), if it does.
        public var cut: String?
        /// Tables that could not be copied from the old file, and why.
        public var lostTables: [String] = []
        /// Where the old file was moved; `nil` when it was left in place.
        public var oldFile: String?
        public var rebuiltFile = ""
    }

    /// Tables that hold decisions rather than case rows, copied as they are.
    static let copiedTables = ["exchanges", "exchange_cases", "exchange_phases", "merged_cases", "not_duplicates",
                               "alert_marks", "requests", "event_chain", "contacts", "enquiries"]

    /// Rebuilds the database at `path`. With `acceptLoss` false, a log cut short (damage) or a
    /// table that could not be copied leaves the old file in place and the new one beside it.
    public static func run(path: String, acceptLoss: Bool, progress: @escaping (String) -> Void) throws -> Outcome {
        var info = stat()
        guard stat(path, &info) == 0, info.st_size > 0 else {
            throw CasetrackError(.storageFailure, "there is no database at \(path) to rebuild; name it with --database or in the configuration")
        }
        let lock = try DatabaseLock(path: path)
        defer { withExtendedLifetime(lock) {} }
        try SQLiteCaseStore.checkOwnership(path)
        let old = try DatabaseQueue(path: path)
        let (superseded, applied) = try old.read { db in
            (try Schema.migrator.hasBeenSuperseded(db), try Schema.migrator.appliedIdentifiers(db))
        }
        if superseded {
            throw CasetrackError(.storageFailure,
                "the database \(path) was written by a newer casetrackd; rebuild it with that version. Nothing was changed")
        }
        if !applied.contains(Schema.afterImages) {
            throw CasetrackError(.storageFailure,
                "the database \(path) was written before events carried after-images: its log cannot remake the cases. Nothing was changed; start this casetrackd on it once to upgrade it, or restore the latest backup")
        }
        let oldCounters = (try? old.read { db in
            try Dictionary(Row.fetchAll(db, sql: "SELECT name, value FROM counters").map { ($0[0] as String, $0[1] as Int64) },
                           uniquingKeysWith: { a, _ in a })
        }) ?? [:]
        if let trimmed = oldCounters["trimmed_through"], trimmed > 0 {
            throw CasetrackError(.storageFailure,
                "retention removed events 1 to \(trimmed): the log alone no longer holds every case, so it cannot rebuild them. Nothing was changed; restore the latest backup instead (README: Backup and restore)")
        }
        let imagesFrom = oldCounters["images_from"] ?? 1
        var outcome = Outcome()
        outcome.rebuiltFile = path + ".rebuilt"
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(outcome.rebuiltFile + suffix) }
        let new = try DatabaseQueue(path: outcome.rebuiltFile)
        try Schema.migrator.migrate(new)
        try new.writeWithoutTransaction { db in
            // A scratch file until it is complete and verified: nothing to journal.
            try db.execute(sql: "PRAGMA journal_mode = OFF")
            try db.execute(sql: "PRAGMA synchronous = OFF")
            try db.execute(sql: "PRAGMA cache_size = -262144")
        }

        progress("reading the log of \(path)")
        try copyEvents(from: old, to: new, imagesFrom: imagesFrom, &outcome)
        progress("\(outcome.events) events read; making the cases from their after-images")
        try new.inTransaction {
            try makeCases(new: $0, &outcome)
            return .commit
        }
        progress("\(outcome.cases) cases made; copying exchanges, merges and decisions")
        try new.writeWithoutTransaction { db in
            try db.execute(sql: "ATTACH DATABASE ? AS old", arguments: [path])
            for table in copiedTables {
                do {
                    let columns = try Row.fetchAll(db, sql: "PRAGMA main.table_info(\(table))").map { $0["name"] as String }.joined(separator: ", ")
                    try db.inTransaction {
                        try db.execute(sql: "DELETE FROM main.\(table)")
                        try db.execute(sql: "INSERT INTO main.\(table) (\(columns)) SELECT \(columns) FROM old.\(table)")
                        return .commit
                    }
                } catch {
                    outcome.lostTables.append("\(table) (\(SQLiteCaseStore.describe(error)))")
                }
            }
            try db.execute(sql: "DETACH DATABASE old")
            // A log cut short (--accept-loss) lost the events past its end: what the copied
            // tables say of them goes too. A request answered past the cut would be answered
            // again as done (replayed) though its change is gone, and never made; a merge or
            // a completed phase past it would stand without its events.
            for (table, column) in [("requests", "last_seq"), ("merged_cases", "seq"), ("exchange_phases", "seq")] {
                try db.execute(sql: "DELETE FROM \(table) WHERE \(column) > ?", arguments: [outcome.lastSeq])
            }
            func highest(_ sql: String) throws -> Int64 { try Int64.fetchOne(db, sql: sql) ?? 0 }
            var counters: [(String, Int64)] = [
                ("event_seq", outcome.lastSeq), ("cases", Int64(outcome.cases)), ("images_from", imagesFrom), ("trimmed_through", 0),
                ("case_id", max(oldCounters["case_id"] ?? 0, try highest("SELECT max(case_id) FROM events"))),
                // The copied contacts and enquiries keep their ids: the next ones follow them
                // (left at 0, the first new contact took id 1 again and the daemon stopped).
                ("contact_id", max(oldCounters["contact_id"] ?? 0, try highest("SELECT max(id) FROM contacts"))),
                ("enquiry_id", max(oldCounters["enquiry_id"] ?? 0, try highest("SELECT max(id) FROM enquiries"))),
            ]
            // Any other counter the old file kept, as it was.
            let made = Set(counters.map(\.0))
            counters += oldCounters.filter { !made.contains($0.key) }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            for (name, value) in counters {
                try db.execute(sql: "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                               arguments: [name, value])
            }
        }
        try old.close()

        progress("verifying the rebuilt file")
        let report = try new.read { db in try SQLiteCaseStore.verifyWhole(db) }
        guard report.ok else {
            let first = report.problems.first.map { "\($0.subject): \($0.message)" } ?? ""
            throw CasetrackError(.storageFailure,
                "the rebuilt file \(outcome.rebuiltFile) does not verify (\(first)); the old file was left in place")
        }
        outcome.head = report.head
        try new.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.checkpoint(.truncate)
        }
        try new.close()
        // Run as root on the service's file: the new one belongs to the service user too.
        if getuid() == 0 { _ = chown(outcome.rebuiltFile, info.st_uid, info.st_gid) }
        try syncFile(outcome.rebuiltFile)

        if (outcome.cut != nil || !outcome.lostTables.isEmpty) && !acceptLoss { return outcome }
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let kept = "\(path).before-rebuild-\(stamp)"
        guard rename(path, kept) == 0 else {
            throw CasetrackError(.storageFailure, "cannot move \(path) aside: \(String(cString: strerror(errno))); the rebuilt file is \(outcome.rebuiltFile)")
        }
        // The old file's WAL belongs with it: left at the path, SQLite would apply it to the new file.
        if access(path + "-wal", F_OK) == 0 { rename(path + "-wal", kept + "-wal") }
        unlink(path + "-shm")
        guard rename(outcome.rebuiltFile, path) == 0 else {
            throw CasetrackError(.storageFailure, "cannot move \(outcome.rebuiltFile) to \(path): \(String(cString: strerror(errno))); the old file is now \(kept)")
        }
        try syncFile(URL(fileURLWithPath: path).deletingLastPathComponent().path)
        outcome.oldFile = kept
        return outcome
    }

    /// Copies the events in order while their chain holds; stops at the first one that cannot
    /// be read or does not link.
    static func copyEvents(from old: DatabaseQueue, to new: DatabaseQueue, imagesFrom: Int64, _ outcome: inout Outcome) throws {
        let insert = "INSERT INTO events (\(EventChain.columns), hash) VALUES (\(Array(repeating: "?", count: EventChain.columnCount + 1).joined(separator: ", ")))"
        var previous = EventChain.genesis
        var expected: Int64 = 1
        var batch: [[DatabaseValue]] = []
        func flush() throws {
            guard !batch.isEmpty else { return }
            try new.inTransaction { db in
                let statement = try db.cachedStatement(sql: insert)
                for values in batch { try statement.execute(arguments: StatementArguments(values)) }
                return .commit
            }
            batch.removeAll(keepingCapacity: true)
        }
        // Read in slices by seq: a damaged page ends one slice's read, and the events before it
        // are kept.
        readLoop: while true {
            var read = 0
            do {
                try old.read { db in
                    let rows = try Row.fetchCursor(db, sql: "SELECT \(EventChain.columns), hash FROM events WHERE seq >= ? ORDER BY seq LIMIT 10000",
                                                   arguments: [expected])
                    while let row = try rows.next() {
                        let values = (0...EventChain.columnCount).map { row[$0] as DatabaseValue }
                        let seq = Int64.fromDatabaseValue(values[0]) ?? 0
                        guard seq == expected else {
                            outcome.cut = "event \(expected) is missing"
                            return
                        }
                        let hash = String.fromDatabaseValue(values[EventChain.columnCount])
                        let computed = EventChain.link(previous, Array(values.prefix(EventChain.columnCount)), imagesFrom: imagesFrom)
                        guard hash == computed else {
                            outcome.cut = "event \(seq) does not match its hash (changed, or damaged)"
                            return
                        }
                        if let image = Data.fromDatabaseValue(values[EventChain.imageIndex]), !image.isEmpty,
                           CanonicalValues.decode(image).map({ (try? RowCoding.padded($0)) != nil }) != true {
                            outcome.cut = "event \(seq) holds an after-image that cannot be read"
                            return
                        }
                        previous = computed
                        expected = seq + 1
                        outcome.events += 1
                        outcome.lastSeq = seq
                        batch.append(values)
                        read += 1
                    }
                }
            } catch {
                outcome.cut = "the log cannot be read past event \(expected - 1): \(SQLiteCaseStore.describe(error))"
            }
            try flush()
            if outcome.cut != nil || read == 0 { break readLoop }
        }
        // Events beyond the cut were once written: say so, and how many the counter names.
        if outcome.cut == nil, let counted = try? old.read({ try Int64.fetchOne($0, sql: "SELECT value FROM counters WHERE name = 'event_seq'") }),
           counted > outcome.lastSeq {
            outcome.cut = "the event counter is at \(counted) but the last event is \(outcome.lastSeq)"
        }
        outcome.head = previous
    }

    /// One row per case from its last after-image, with its side rows; cases merged away
    /// (an empty image) get none.
    static func makeCases(new db: Database, _ outcome: inout Outcome) throws {
        let images = try Row.fetchCursor(db, sql: "SELECT case_id, image FROM events WHERE image IS NOT NULL ORDER BY case_id, seq")
        var current: (Int64, Data)?
        func make(_ image: Data) throws {
            guard !image.isEmpty, let decoded = CanonicalValues.decode(image) else { return }
            let values = try RowCoding.padded(decoded)
            try SQLiteCaseStore.run(RowCoding.insertCase, StatementArguments(values), db)
            let record = try RowCoding.record(tableValues: values)
            try SQLiteCaseStore.insertKeys(record, keys: CaseKeys(record), db)
            outcome.cases += 1
        }
        while let row = try images.next() {
            let id: Int64 = row[0]
            if let (last, image) = current, last != id { try make(image) }
            current = (id, row[1])
        }
        if let (_, image) = current { try make(image) }
    }

    static func syncFile(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CasetrackError(.storageFailure, "cannot open \(path) to sync it: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw CasetrackError(.storageFailure, "cannot sync \(path): \(String(cString: strerror(errno)))") }
    }
}
