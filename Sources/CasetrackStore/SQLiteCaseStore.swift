#if canImport(Glibc)
import Glibc
#endif
import CasetrackCore
import GRDB
import ServiceLifecycle

/// An exclusive `flock` on the database file: one daemon per database, whatever its socket.
final class DatabaseLock: Sendable {
    let fd: Int32

    init(path: String) throws {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw CasetrackError(.storageFailure, "cannot open the database \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            let reason = String(cString: strerror(errno))
            close(fd)
            throw CasetrackError(.storageFailure, busy
                ? "another casetrackd already uses the database \(path); stop it first"
                : "cannot lock the database \(path): \(reason)")
        }
    }

    deinit { close(fd) }
}

/// The ``CaseStore`` over one SQLite file: WAL, `synchronous=FULL`, one group-commit writer,
/// concurrent readers.
///
/// Run it as a `Service` (its ``run()`` is the writer); writes wait for it.
public final class SQLiteCaseStore: CaseStore, Service {
    let pool: DatabasePool
    let writer: GroupCommitWriter
    let checkpointer: Checkpointer
    let pointReader: PointReader
    /// The database file (backups of it are checked against it).
    let path: String
    /// Held open for the store's lifetime: its `flock` keeps a second daemon off this file.
    private let lock: DatabaseLock

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// Refuses, without writing anything, a file that is not a casetrack database or that
    /// SQLite cannot read. `onCommit` is told the notices of every commit, in sequence order,
    /// after the commit (see ``CaseStore``); it must return quickly.
    ///
    /// `onFault` is told when writes begin to be refused for a full disk or a damaged file
    /// (with the error the writes get) and when they are taken again (`nil`), once each time.
    public init(path: String, busyTimeout: Double = 10, onCommit: @escaping @Sendable ([Notice]) -> Void = { _ in },
                onFault: @escaping @Sendable (CasetrackError?) -> Void = { _ in }) throws {
        lock = try DatabaseLock(path: path)
        self.path = path
        var configuration = Configuration()
        configuration.label = "casetrack"
        // A short lock by another process (an sqlite3 shell, a backup) is waited for, not fatal.
        configuration.busyMode = .timeout(busyTimeout)
        configuration.prepareDatabase { db in
            db.add(function: FilterSQL.heldReached)
            // Statement and savepoint journals in memory: every write runs in its own
            // savepoint, and on disk these journals cost two writes per changed page (they
            // only serve rollback inside a transaction; the WAL gives durability).
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
        }
        do {
            // Look before touching: opening a pool switches the file to WAL, which would
            // already change another application's database.
            try SQLiteCaseStore.checkOwnership(path)
            pool = try DatabasePool(path: path, configuration: configuration)
            // FULL: a commit is on disk before the writer answers (WAL + NORMAL can lose the
            // newest commits in a power cut). Set on the writer connection after GRDB's WAL
            // setup, which sets NORMAL, and checked, because everything rests on it.
            let synchronous = try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
                // Every write reaches into random pages of the case indexes; at a million cases
                // SQLite's default 2 MB cache missed on most of them (a pread each).
                try db.execute(sql: "PRAGMA cache_size = -32768")
                try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Checkpointer.writerBackstop)")
                return try Int.fetchOne(db, sql: "PRAGMA synchronous")
            }
            guard synchronous == 2 else {
                throw CasetrackError(.storageFailure, "SQLite refused synchronous=FULL on \(path); refusing to run without it")
            }
            // A database a newer casetrackd migrated holds what this one cannot read or keep
            // consistent (an older package installed over a newer one, a backup restored to
            // an older host): refused before anything is written.
            if try pool.read({ try Schema.migrator.hasBeenSuperseded($0) }) {
                throw CasetrackError(.storageFailure,
                    "the database \(path) was written by a newer casetrackd (its schema has changes this version does not know); nothing was changed. Run the newer casetrackd again, or restore a backup made by this version")
            }
            try Schema.migrator.migrate(pool)
        } catch let error as CasetrackError {
            throw error
        } catch {
            throw CasetrackError(.storageFailure,
                "cannot open the database \(path): \(SQLiteCaseStore.describe(error)). Nothing was changed; check the path, its permissions, or restore a backup")
        }
        pointReader = PointReader(path: path)
        let checkpointer = Checkpointer(path: path, configuration: configuration)
        self.checkpointer = checkpointer
        writer = GroupCommitWriter(pool: pool, onCommit: onCommit, afterCommit: checkpointer.committed, onFault: onFault)
    }

    /// The writer: commits queued writes until graceful shutdown, then the rest. The
    /// checkpointer runs beside it and stops with it.
    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.checkpointer.run() }
            group.addTask { await self.checkFile() }
            defer { group.cancelAll() }
            try await writer.run()
        }
    }

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
                    "the database file is damaged (SQLite's quick_check: \(found.prefix(3).joined(separator: "; "))): found by the check at start; the change was not made, and the daemon takes no more writes. Reads of intact cases go on. Stop the daemon, keep the damaged file, and restore the latest backup (README: Backup and restore)")
            }
        } catch {
            if Self.fault(of: error) == .damaged {
                problem = Self.damagedError(error, doing: "found by the check at start; the change was not made")
            }
        }
        if let problem { writer.refuseWrites(problem) }
        writer.open()
    }

    /// Closes the database files. Call after ``run()`` returned.
    public func close() throws {
        pointReader.close()
        // A clean stop leaves every committed change in the database file itself: the file
        // alone is then the whole register (an operator's copy of it, a look with sqlite3).
        // Without this the WAL kept it all. Best effort: the WAL is durable either way.
        _ = try? pool.writeWithoutTransaction { try $0.checkpoint(.truncate) }
        try pool.close()
    }

    // MARK: Writes

    public func add(_ new: NewCase, details: EventDetails, actor: Actor, clock: WriteClock) async throws -> CaseChange {
        try await writer.submit(notices: Self.notices) { db in
            try Self.checkReferences(new.references, for: nil, db)
            let id = CaseID(number: try Self.bump("case_id", db))
            var change = try CaseRules.open(new, id: id, details: details, actor: actor, clock: clock)
            try Self.insert(change.record, db)
            change.event.seq = try Self.append(change.event, change.record, db)
            try Self.flagDuplicates(&change, db)
            return change
        }
    }

    public func setStatus(_ id: CaseID, to status: Status, details: EventDetails, actor: Actor, expectVersion: Int?,
                          correction: Bool, clock: WriteClock) async throws -> CaseChange {
        try await writer.submit(notices: Self.notices) { db in
            let current = try Self.load(id, db)
            var change = try CaseRules.setStatus(current, to: status, details: details, actor: actor,
                                                 expectVersion: expectVersion, correction: correction, clock: clock)
            try Self.replace(change.record, was: current, db)
            change.event.seq = try Self.append(change.event, change.record, db)
            return change
        }
    }

    public func update(_ id: CaseID, _ update: CaseUpdate, details: EventDetails, actor: Actor, expectVersion: Int?,
                       clock: WriteClock) async throws -> CaseChange {
        try await writer.submit(notices: Self.notices) { db in
            let current = try Self.load(id, db)
            var change = try CaseRules.update(current, update, details: details, actor: actor,
                                              expectVersion: expectVersion, clock: clock)
            try Self.checkReferences(change.record.references, for: id, db)
            try Self.replace(change.record, was: current, db)
            change.event.seq = try Self.append(change.event, change.record, db)
            return change
        }
    }

    // MARK: Reads

    public func get(_ id: CaseID) async throws -> CaseRecord? {
        if let served = try pointReader.fetch(id), let record = served { return record }
        // Not there (or not served): a case merged into another says where it went.
        return try await read { db in
            if let record = try Self.fetch(id, db) { return record }
            if let merged = try Self.mergedError(id, db) { throw merged }
            return nil
        }
    }

    public func history(_ id: CaseID) async throws -> [HistoryEvent]? {
        try await read { db in
            guard try Self.fetch(id, db) != nil || Self.mergedError(id, db) != nil else { return nil }
            return try Row.fetchAll(db, sql: "SELECT * FROM events WHERE case_id = ? ORDER BY seq", arguments: [id.number])
                .map(RowCoding.event)
        }
    }

    public func list(_ filter: CaseFilter, today: Day, limit: Int, after: CaseID?) async throws -> [CaseRecord] {
        var sql = FilterSQL(filter, today: today, orderedByID: true)
        if let after {
            sql.clauses.append("id > ?")
            sql.arguments += [after.number]
        }
        let query = "SELECT \(RowCoding.caseColumns) FROM cases\(sql.whereClause) ORDER BY id LIMIT \(max(0, limit))"
        let arguments = sql.arguments
        return try await read { db in try Row.fetchAll(db, sql: query, arguments: arguments).map(RowCoding.record) }
    }

    public func count(_ filter: CaseFilter, today: Day) async throws -> Int {
        let sql = FilterSQL(filter, today: today)
        if sql.clauses.isEmpty {
            return try await read { db in try Int.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'cases'") ?? 0 }
        }
        if let held = FilterSQL.heldCount(filter, today: today) {
            return try await read { db in try Int.fetchOne(db, sql: held.sql, arguments: held.arguments) ?? 0 }
        }
        let query = "SELECT count(*) FROM cases\(sql.whereClause)"
        return try await read { db in try Int.fetchOne(db, sql: query, arguments: sql.arguments) ?? 0 }
    }

    public func statistics(_ filter: CaseFilter, today: Day) async throws -> CaseStatistics {
        let sql = FilterSQL(filter, today: today)
        let query = "SELECT status, category, count(*) AS n FROM cases\(sql.whereClause) GROUP BY status, category"
        return try await read { db in
            var statistics = CaseStatistics()
            for row in try Row.fetchAll(db, sql: query, arguments: sql.arguments) {
                guard let status = Status(rawValue: row["status"]), let category = Category(rawValue: row["category"])
                else { throw RowCoding.corrupt("unknown status or category in statistics") }
                statistics.counts[status, default: [:]][category] = row["n"]
            }
            return statistics
        }
    }

    public func lastSequence() async throws -> Int64 {
        try await read { db in try Int64.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'event_seq'") ?? 0 }
    }

    // MARK: Notices

    public func notices(after seq: Int64, limit: Int) async throws -> [Notice] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT events.*, cases.names FROM events LEFT JOIN cases ON cases.id = events.case_id
                WHERE events.seq > ? ORDER BY events.seq LIMIT ?
                """, arguments: [seq, max(0, limit)]).map(RowCoding.notice)
        }
    }

    public func trimmedThrough() async throws -> Int64 {
        try await read { db in try Int64.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'trimmed_through'") ?? 0 }
    }

    public func recordTestNotice(note: String?, actor: Actor, clock: WriteClock) async throws -> Notice {
        try await writer.submit(notices: { [$0] }) { db in
            var event = HistoryEvent(
                seq: 0, caseID: CaseID(number: 0), kind: .test, oldStatus: nil, newStatus: nil, occurredOn: PartialDate(clock.today),
                recordedAt: clock.now, source: nil, confidence: nil, actor: actor, note: note, version: 0)
            event.seq = try Self.append(event, nil, db)
            return Notice(event: event, record: nil)
        }
    }

    /// Finds candidates with a reader (no lock on writers), then records each due alert in
    /// the writer, checking again there: a case may have changed in between.
    public func recordDueAlerts(_ policy: AlertPolicy, actor: Actor, clock: WriteClock) async throws -> [Notice] {
        let today = clock.today
        let staleCutoff = policy.staleAfterDays.map { clock.now.unixMilliseconds - Int64($0) * 86_400_000 }
        let candidates: [Int64] = try await read { db in
            var ids = Set<Int64>()
            for threshold in policy.heldThresholds {
                let latestStart = threshold.latestStart(reaching: today).daysSinceEpoch
                ids.formUnion(try Int64.fetchAll(db, sql: """
                    SELECT cases.id FROM cases LEFT JOIN alert_marks ON alert_marks.case_id = cases.id
                    WHERE cases.status IN ('missing', 'captive') AND cases.since_day <= ?
                      AND coalesce(alert_marks.held_rank, 0) < ?
                    """, arguments: [latestStart, threshold.rank]))
            }
            if let staleCutoff {
                ids.formUnion(try Int64.fetchAll(db, sql: """
                    SELECT cases.id FROM cases LEFT JOIN alert_marks ON alert_marks.case_id = cases.id
                    WHERE cases.status IN ('missing', 'captive') AND cases.updated_at <= ?
                      AND coalesce(alert_marks.stale_version, 0) < cases.version
                    """, arguments: [staleCutoff]))
            }
            return ids.sorted()
        }
        var notices: [Notice] = []
        // Small batches: writers queued meanwhile wait for one batch, not for the whole scan.
        var rest = candidates[...]
        // Between batches, a stopping daemon stops here: the rest is due at the next start.
        while !rest.isEmpty, !Task.isCancelled, !Task.isShuttingDownGracefully {
            let batch = Array(rest.prefix(500))
            rest = rest.dropFirst(500)
            notices += try await writer.submit(notices: { $0 }) { db in
                var recorded: [Notice] = []
                for number in batch {
                    guard let record = try Self.fetch(CaseID(number: number), db) else { continue }
                    let marks = try Row.fetchOne(db, sql: "SELECT held_rank, stale_version FROM alert_marks WHERE case_id = ?",
                                                 arguments: [number])
                    let heldRank: Int = marks?["held_rank"] ?? 0
                    let staleVersion: Int = marks?["stale_version"] ?? 0
                    var alerts: [(EventKind, String)] = []
                    var newRank = heldRank
                    if let threshold = policy.heldAlert(for: record, alreadyTold: heldRank, today: today) {
                        alerts.append((.held, threshold.description))
                        newRank = threshold.rank
                    }
                    let stale = staleVersion < record.version && policy.isStale(record, now: clock.now)
                    if stale, let threshold = policy.staleThreshold { alerts.append((.stale, threshold)) }
                    guard !alerts.isEmpty else { continue }
                    for (kind, threshold) in alerts {
                        var event = HistoryEvent(
                            seq: 0, caseID: record.id, kind: kind, oldStatus: record.status, newStatus: record.status,
                            occurredOn: PartialDate(today), recordedAt: clock.now, source: nil, confidence: nil,
                            actor: actor, note: nil, version: record.version, threshold: threshold)
                        event.seq = try Self.append(event, record, db)
                        recorded.append(Notice(event: event, record: record))
                    }
                    try db.execute(sql: """
                        INSERT INTO alert_marks (case_id, held_rank, stale_version) VALUES (?, ?, ?)
                        ON CONFLICT (case_id) DO UPDATE SET held_rank = excluded.held_rank, stale_version = excluded.stale_version
                        """, arguments: [number, newRank, stale ? record.version : staleVersion])
                }
                return recorded
            }
        }
        return notices
    }

    public func trim(_ retention: Retention, clock: WriteClock) async throws -> Int {
        let through: Int64? = try await read { db in
            switch retention {
            case .all:
                return nil
            case .events(let keep):
                let last = try Int64.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'event_seq'") ?? 0
                return last - Int64(keep)
            case .days(let days):
                // Everything before the first event recorded at or after the cut-off: always a
                // prefix of the log (even if the clock once stepped back), found along the
                // primary key from where the last trim stopped.
                let cutoff = clock.now.unixMilliseconds - Int64(days) * 86_400_000
                let trimmed = try Int64.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'trimmed_through'") ?? 0
                if let keep = try Int64.fetchOne(db, sql: "SELECT seq FROM events WHERE seq > ? AND recorded_at >= ? ORDER BY seq LIMIT 1",
                                                 arguments: [trimmed, cutoff]) {
                    return keep - 1
                }
                return try Int64.fetchOne(db, sql: "SELECT max(seq) FROM events")
            }
        }
        guard let through, through > 0 else { return 0 }
        var deleted = 0
        // In slices, so that a first trim of a large log does not hold writers up; a stopping
        // daemon stops between slices.
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let slice = try await writer.submit { db -> Int? in
                let trimmed = try Int64.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'trimmed_through'") ?? 0
                let upTo = min(through, trimmed + 10_000)
                guard upTo > trimmed else { return nil }
                try db.execute(sql: "DELETE FROM events WHERE seq > ? AND seq <= ?", arguments: [trimmed, upTo])
                let count = db.changesCount
                try db.execute(sql: "UPDATE counters SET value = ? WHERE name = 'trimmed_through'", arguments: [upTo])
                return count
            }
            guard let slice else { break }
            deleted += slice
        }
        return deleted
    }

    // MARK: Helpers

    /// A pragma's value as the writer connection sees it (for tests of the durability settings).
    func writerPragma(_ name: String) async throws -> String? {
        try await writer.submit { db in try String.fetchOne(db, sql: "PRAGMA \(name)") ?? "" }
    }

    /// Refuses a file that is not empty and not a casetrack database, through a read-only
    /// connection that changes nothing.
    private static func checkOwnership(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0, info.st_size > 0 else { return }
        var configuration = Configuration()
        configuration.readonly = true
        let (applicationID, tables) = try DatabaseQueue(path: path, configuration: configuration).read { db in
            (try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0,
             try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") ?? 0)
        }
        if applicationID != Schema.applicationID, tables > 0 {
            throw CasetrackError(.storageFailure,
                "\(path) is an SQLite database of another application (application_id \(applicationID)); refusing to touch it")
        }
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.read(body)
        } catch let error as CasetrackError {
            throw error
        } catch {
            let failure = Self.readFailure(error)
            // A damaged page found by a read: no write may go into the file either.
            if failure.code == .storageDamaged { writer.refuseWrites(Self.damagedError(error, doing: "the change was not made")) }
            throw failure
        }
    }

    static func fetch(_ id: CaseID, _ db: Database) throws -> CaseRecord? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT \(RowCoding.caseColumns) FROM cases WHERE id = ?"), arguments: [id.number])
            .map(RowCoding.record)
    }

    static func load(_ id: CaseID, _ db: Database) throws -> CaseRecord {
        guard let record = try fetch(id, db) else {
            throw try mergedError(id, db) ?? CasetrackError(.notFound, "no case \(id)")
        }
        return record
    }

    static func bump(_ counter: String, _ db: Database) throws -> Int64 {
        guard let value = try Int64.fetchOne(db.cachedStatement(sql: "UPDATE counters SET value = value + 1 WHERE name = ? RETURNING value"),
                                             arguments: [counter]) else {
            throw RowCoding.corrupt("counter \(counter) is missing")
        }
        return value
    }

    /// Stores an event with the next sequence number (in the caller's transaction, so that the
    /// numbers stay gap-free in commit order) and returns that number.
    static func append(_ event: HistoryEvent, _ record: CaseRecord?, _ db: Database) throws -> Int64 {
        var event = event
        event.seq = try bump("event_seq", db)
        try run("""
            INSERT INTO events (seq, case_id, kind, old_status, new_status, occurred, recorded_at, source, confidence,
                                actor_uid, actor_pid, note, version, changes, category, unit, tags, threshold,
                                exchange, phase, tally)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, RowCoding.eventArguments(event, record), db)
        return event.seq
    }

    static func notices(_ change: CaseChange) -> [Notice] { change.notices }

    static func checkReferences(_ references: [String], for id: CaseID?, _ db: Database) throws {
        for ref in references {
            if let owner = try Int64.fetchOne(db.cachedStatement(sql: "SELECT case_id FROM case_refs WHERE ref = ?"), arguments: [ref]),
               owner != id?.number {
                throw CasetrackError(.duplicateReference, "reference \(ref) already belongs to \(CaseID(number: owner))")
            }
        }
    }

    static func insert(_ record: CaseRecord, _ db: Database) throws {
        try run(RowCoding.insertCase, RowCoding.caseArguments(record), db)
        _ = try bump("cases", db)
        try insertKeys(record, db)
    }

    /// Writes `record` over `old`, its stored version, touching only what differs.
    ///
    /// SQLite rewrites an index when the UPDATE names one of its columns, whatever the value:
    /// a status change that rewrote the whole row and its side tables dirtied some twenty
    /// pages, each a WAL frame to write and later checkpoint. Naming only the changed columns
    /// leaves the others' indexes alone.
    static func replace(_ record: CaseRecord, was old: CaseRecord, _ db: Database) throws {
        let new = RowCoding.caseValues(record)
        let before = RowCoding.caseValues(old)
        var assignments: [String] = []
        var arguments: [DatabaseValue] = []
        for index in new.indices.dropFirst() where new[index] != before[index] {
            assignments.append("\(RowCoding.caseTableColumns[index]) = ?")
            arguments.append(new[index])
        }
        if !assignments.isEmpty {
            arguments.append(record.id.number.databaseValue)
            try run("UPDATE cases SET \(assignments.joined(separator: ", ")) WHERE id = ?", StatementArguments(arguments), db)
        }
        if record.tags != old.tags {
            try run("DELETE FROM case_tags WHERE case_id = ?", [record.id.number], db)
            try insertRows("case_tags", "tag", record.tags, record.id, db)
        }
        if record.references != old.references {
            try run("DELETE FROM case_refs WHERE case_id = ?", [record.id.number], db)
            try insertRows("case_refs", "ref", record.references, record.id, db)
        }
        if matchKeysDiffer(record, old) {
            try run("DELETE FROM case_match_keys WHERE case_id = ?", [record.id.number], db)
            try insertMatchKeys(record, db)
        }
        // Names first: their keys cost more to compute than the rest of a change.
        if record.names != old.names {
            try run("DELETE FROM case_name_keys WHERE case_id = ?", [record.id.number], db)
            try insertRows("case_name_keys", "key", NameKey.keys(for: record.names), record.id, db)
        }
    }

    static func insertKeys(_ record: CaseRecord, _ db: Database) throws {
        try insertRows("case_tags", "tag", record.tags, record.id, db)
        try insertRows("case_refs", "ref", record.references, record.id, db)
        try insertRows("case_name_keys", "key", NameKey.keys(for: record.names), record.id, db)
        try insertMatchKeys(record, db)
    }

    /// One statement for all of a case's rows of a side table (a statement per row was most of
    /// the cost of opening a case).
    private static func insertRows(_ table: String, _ column: String, _ values: [String], _ id: CaseID, _ db: Database) throws {
        guard !values.isEmpty else { return }
        let rows = Array(repeating: "(?, ?)", count: values.count).joined(separator: ", ")
        var arguments = StatementArguments()
        for value in values { arguments += [value, id.number] }
        try run("INSERT INTO \(table) (\(column), case_id) VALUES \(rows)", arguments, db)
    }

    /// Runs one of the store's fixed statements, prepared once per connection: the writer
    /// runs the same few statements for every case, and parsing each again is most of the
    /// cost of a small write.
    static func run(_ sql: String, _ arguments: StatementArguments, _ db: Database) throws {
        try db.cachedStatement(sql: sql).execute(arguments: arguments)
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
            "the disk holding the database is full (\(describe(error))): the change was not made. Free space on that file system; writes resume by themselves, and reads, notices and waits go on meanwhile")
    }

    static func damagedError(_ error: any Error, doing what: String) -> CasetrackError {
        CasetrackError(.storageDamaged,
            "the database file is damaged (\(describe(error))): \(what), and the daemon takes no more writes. Reads of intact cases go on. Stop the daemon, keep the damaged file, and restore the latest backup (README: Backup and restore)")
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return "SQLite error \(error.resultCode.rawValue): \(error.message ?? "\(error)")"
        }
        return "\(error)"
    }
}
