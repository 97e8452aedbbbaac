#if canImport(Glibc)
import Glibc
#endif
import CasetrackCore
import Foundation
import CSQLiteSession
import GRDB
import ServiceLifecycle
import Synchronization

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
    /// The shared register this database follows (several offices), if any.
    let replica: Replica?
    /// Why the shared register could not be reached at start (writes wait for it).
    public let startupProblem: CasetrackError?
    /// How many readers check an import's rows beside the writer (``ImportCheck``), set by
    /// how long the writer waited for them in the last import.
    let importReaders = Atomic<Int>(1)

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// Refuses, without writing anything, a file that is not a casetrack database or that
    /// SQLite cannot read. `onCommit` is told the notices of every commit, in sequence order,
    /// after the commit (see ``CaseStore``); it must return quickly.
    ///
    /// `onFault` is told when writes begin to be refused for a full disk, a damaged file or a
    /// shared store out of reach (with the error the writes get) and when they are taken again
    /// (`nil`), once each time.
    ///
    /// With `shared`, the database is this office's copy of a register kept by several
    /// offices (see ``SharedLog``): it is checked against the register and brought up to date
    /// before this returns, when the shared store answers (otherwise `startupProblem` says
    /// why, and writes wait for it). `office` (else the shared log's) is recorded in every event.
    public init(path: String, busyTimeout: Double = 10, shared: (any SharedLog)? = nil, office: String? = nil,
                onCommit: @escaping @Sendable ([Notice]) -> Void = { _ in },
                onFault: @escaping @Sendable (CasetrackError?) -> Void = { _ in }) throws {
        lock = try DatabaseLock(path: path)
        self.path = path
        /// The shared store refused this office's writes (see ``SharedRegisterRefusal``).
        var refusedAtStart = false
        _ = Self.statementJournalInMemory
        var configuration = Configuration()
        configuration.label = "casetrack"
        // A short lock by another process (an sqlite3 shell, a backup) is waited for, not fatal.
        configuration.busyMode = .timeout(busyTimeout)
        configuration.prepareDatabase { db in
            db.add(function: FilterSQL.heldReached)
            // Readers' sorts and temporary b-trees in memory. The writer sets FILE below.
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
        }
        do {
            // Look before touching: opening a pool switches the file to WAL, which would
            // already change another application's database.
            try SQLiteCaseStore.checkOwnership(path)
            // A new office's empty file becomes the register's starting point, if it has one.
            if let shared {
                do {
                    try Self.startFromBase(path, shared)
                } catch let failure as SharedLogFailure {
                    throw CasetrackError(.storageFailure,
                        "cannot make this office's copy of the register: the shared store cannot be reached (\(failure.message)); nothing was changed. Start again once it answers")
                }
            }
            pool = try DatabasePool(path: path, configuration: configuration)
            // FULL: a commit is on disk before the writer answers (WAL + NORMAL can lose the
            // newest commits in a power cut). Set on the writer connection after GRDB's WAL
            // setup, which sets NORMAL, and checked, because everything rests on it. An
            // office's copy of a shared register is NORMAL: every round is durable in the
            // shared store before the copy commits it, and a copy that lost its newest commits
            // in a power cut takes them from the register again at start (a sync here too
            // halved the office's write rate).
            let wanted = shared == nil ? 2 : 1
            let synchronous = try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = \(wanted == 2 ? "FULL" : "NORMAL")")
                // Every write runs in its own savepoint, whose page images go to the
                // sub-journal; held in memory, SQLite walks it from its start at the end of
                // each statement, so a job that changes thousands of pages (an import) cost
                // quadratic time: 430 µs a statement after 3,000 rows, against 47 µs with
                // FILE, which keeps the first 64 KiB in memory (an ordinary write never
                // leaves it) and spills the rest to an unlinked temporary file.
                try db.execute(sql: "PRAGMA temp_store = FILE")
                // Every write reaches into random pages of the case indexes; at a million cases
                // SQLite's default 2 MB cache missed on most of them (a pread each).
                try db.execute(sql: "PRAGMA cache_size = -32768")
                try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Checkpointer.writerBackstop)")
                return try Int.fetchOne(db, sql: "PRAGMA synchronous")
            }
            guard synchronous == wanted else {
                throw CasetrackError(.storageFailure, "SQLite refused synchronous=\(wanted == 2 ? "FULL" : "NORMAL") on \(path); refusing to run without it")
            }
            // A database a newer casetrackd migrated holds what this one cannot read or keep
            // consistent (an older package installed over a newer one, a backup restored to
            // an older host): refused before anything is written.
            if try pool.read({ try Schema.migrator.hasBeenSuperseded($0) }) {
                throw CasetrackError(.storageFailure,
                    "the database \(path) was written by a newer casetrackd (its schema has changes this version does not know); nothing was changed. Run the newer casetrackd again, or restore a backup made by this version")
            }
            try Schema.migrator.migrate(pool)
            let office = shared?.office ?? office
            try pool.write { db in
                // An office's copy written to alone would no longer follow the register.
                if shared == nil, let register = try Self.localValue("register", db) {
                    throw CasetrackError(.storageFailure,
                        "the database \(path) is an office's copy of the shared register \(register) and is written only through it: start the daemon with store = postgresql (README: Several offices); nothing was changed")
                }
                try Self.setLocalValue("office", office, db)
            }
            let replica = shared.map { Replica(log: $0, path: path) }
            self.replica = replica
            var problem: CasetrackError?
            do {
                // Before the hub begins: subscribers start after what this applied.
                try replica?.join(pool) { _ in }
            } catch let failure as SharedLogFailure {
                problem = failure.notMade
            } catch let refusal as SharedRegisterRefusal {
                problem = refusal.error
                refusedAtStart = true
            }
            startupProblem = problem
        } catch let error as CasetrackError {
            throw error
        } catch {
            throw CasetrackError(.storageFailure,
                "cannot open the database \(path): \(SQLiteCaseStore.describe(error)). Nothing was changed; check the path, its permissions, or restore a backup")
        }
        pointReader = PointReader(path: path)
        let checkpointer = Checkpointer(path: path, configuration: configuration)
        self.checkpointer = checkpointer
        writer = GroupCommitWriter(pool: pool, replica: replica, onCommit: onCommit, afterCommit: checkpointer.committed,
                                   onFault: onFault)
        if refusedAtStart, let startupProblem { writer.refuseByRegister(startupProblem) }
    }

    /// The writer: commits queued writes until graceful shutdown, then the rest. The
    /// checkpointer runs beside it and stops with it.
    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.checkpointer.run() }
            group.addTask { await self.checkFile() }
            if let replica { group.addTask { await self.follow(replica) } }
            defer { group.cancelAll() }
            try await writer.run()
        }
    }

    /// Rings the writer whenever another office may have appended to the shared register
    /// (and every few seconds: a notification can be lost with a connection).
    private func follow(_ replica: Replica) async {
        // A store that could not be reached at start is tried again at once.
        writer.followRegisterSoon()
        let writer = self.writer
        await replica.log.follow(every: 2) { writer.followRegisterSoon() }
    }

    /// Closes the database files. Call after ``run()`` returned.
    public func close() throws {
        replica?.close()
        pointReader.close()
        // A clean stop leaves every committed change in the database file itself: the file
        // alone is then the whole register (an operator's copy of it, a look with sqlite3).
        // Without this the WAL kept it all. Best effort: the WAL is durable either way.
        _ = try? pool.writeWithoutTransaction { try $0.checkpoint(.truncate) }
        try pool.close()
        lock.release()
    }

    // MARK: Writes

    public func add(_ new: NewCase, details: EventDetails, actor: Actor, clock: WriteClock) async throws -> CaseChange {
        try await writer.submit(notices: Self.notices) { db in
            try Self.checkReferences(new.references, for: nil, db)
            let id = CaseID(number: try Self.bump("case_id", db))
            var change = try CaseRules.open(new, id: id, details: details, actor: actor, clock: clock)
            try Self.insert(change.record, db)
            try Self.append(&change.event, change.record, db)
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
            let row = try Self.replace(change.record, was: current, db)
            try Self.append(&change.event, change.record, db, rowValues: row)
            change.contacts = try Self.contactIDs(id, db)
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
            let row = try Self.replace(change.record, was: current, db)
            try Self.append(&change.event, change.record, db, rowValues: row)
            // Who the person is changed (a name, a birth date, a number): as for a new case,
            // another may now be the same person. Only the pairs this change makes are told
            // (not those the case had before), and pairs decided "not a duplicate" stay so.
            if Self.matchKeysDiffer(change.record, current) {
                let decided = try Self.notDuplicatePairs(db)
                func pairs(_ record: CaseRecord) throws -> [DuplicateCandidate] {
                    try Self.candidates(for: Identity(record), minimumScore: DuplicateScoring.defaultThreshold, excluding: decided,
                                        blockLimit: Self.importBlockLimit, db).candidates
                }
                let before = Set(try pairs(current).map(\.pair))
                try Self.flagDuplicates(&change, found: try pairs(change.record).filter { !before.contains($0.pair) }, db)
            }
            return change
        }
    }

    // MARK: Helpers

    /// A pragma's value as the writer connection sees it (for tests of the durability settings).
    func writerPragma(_ name: String) async throws -> String? {
        try await writer.submit { db in try String.fetchOne(db, sql: "PRAGMA \(name)") ?? "" }
    }

    /// Refuses a file that is not empty and not a casetrack database, through a read-only
    /// connection that changes nothing.
    static func checkOwnership(_ path: String) throws {
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

    /// A read in one snapshot; with `snapshot: false`, outside a transaction (for a pragma
    /// that cannot change inside one), each statement seeing the newest commit.
    func read<T: Sendable>(snapshot: Bool = true, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return snapshot ? try await pool.read(body) : try await pool.unsafeRead(body)
        } catch let error as CasetrackError {
            throw error
        } catch {
            let failure = Self.readFailure(error)
            // A damaged page found by a read: no write may go into the file either.
            if failure.code == .storageDamaged { writer.refuseWrites(Self.damagedError(error, doing: "the change was not made")) }
            throw failure
        }
    }

    /// Stepped by hand and decoded by position, as ``PointReader`` reads: through GRDB's
    /// `Row` every column was boxed and looked up again: reading the case was 7% of the
    /// writer's CPU for a status change, half of it decoding.
    static func fetch(_ id: CaseID, _ db: Database) throws -> CaseRecord? {
        let sql = "SELECT \(RowCoding.caseColumns) FROM cases WHERE id = ?"
        switch try RowCoding.step(db.cachedStatement(sql: sql).sqliteStatement, id) {
        case .success(let record): return record
        case .failure(let failure): throw DatabaseError(resultCode: ResultCode(rawValue: failure.code), message: db.lastErrorMessage, sql: sql)
        }
    }

    static func load(_ id: CaseID, _ db: Database) throws -> CaseRecord {
        guard let record = try fetch(id, db) else {
            throw try mergedError(id, db) ?? CasetrackError(.notFound, "no case \(id)")
        }
        return record
    }

    /// A counter's value (0 when missing).
    static func counter(_ name: String, _ db: Database) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM counters WHERE name = ?"), arguments: [name]) ?? 0
    }

    /// The sequence number of the newest event recorded (0: none).
    static func eventSeq(_ db: Database) throws -> Int64 { try counter("event_seq", db) }

    /// Set once, before the process's first connection (a static let runs once, on first
    /// use). Inserting a case is a statement that may abort after writing (its triggers keep
    /// the counts), so SQLite journals the pages it touches. Past 64 KiB, SQLite's default,
    /// the journal spills to a temporary file, which then stays for the rest of the
    /// transaction: every later statement's journal went to that file, about a third of what
    /// a 1,000-row import batch wrote. 1 MiB keeps any single write's journal in memory; a
    /// larger job in a savepoint still spills (see temp_store below), so memory stays bounded.
    ///
    /// Memory statistics off: SQLite counts every allocation under one mutex for the whole
    /// process, and two threads reading at once (a loop and ``ReadHelper``) waited on it.
    /// Nothing here asks SQLite how much memory it uses.
    static let statementJournalInMemory: Int32 = {
        _ = ct_sqlite_memory_statistics(0)
        return ct_sqlite_statement_journal_spill(1 << 20)
    }()

    static func bump(_ counter: String, _ db: Database) throws -> Int64 {
        guard let value = try Int64.fetchOne(db.cachedStatement(sql: "UPDATE counters SET value = value + 1 WHERE name = ? RETURNING value"),
                                             arguments: [counter]) else {
            throw RowCoding.corrupt("counter \(counter) is missing")
        }
        return value
    }

    /// What an event says of its case's row, as stored in its `image`.
    enum RowImage {
        /// The row is as before (a time alert, a case-less event).
        case unchanged
        /// The row as the event left it, as ``RowCoding/caseValues(_:)`` gives it.
        case row([DatabaseValue])
        /// The event left no row: the case was merged into another.
        case removed

        var databaseValue: DatabaseValue {
            switch self {
            case .unchanged: .null
            case .row(let values): Data(CanonicalValues.encode(values)).databaseValue
            case .removed: Data().databaseValue
            }
        }
    }

    /// Stores an event with the next sequence number (in the caller's transaction, so that the
    /// numbers stay gap-free in commit order) and the office that records it, and sets both on
    /// `event`. An event that changes its case carries `record` as its after-image unless
    /// `image` says otherwise; `rowValues` are `record`'s values when the caller has them
    /// already (``replace(_:was:_:)`` returns them).
    static func append(_ event: inout HistoryEvent, _ record: CaseRecord?, _ db: Database, image: RowImage? = nil,
                       rowValues: [DatabaseValue]? = nil) throws {
        event.seq = try bump("event_seq", db)
        event.office = try office(db)
        let image = image ?? (event.kind.changesRecord ? record.map { .row(rowValues ?? RowCoding.caseValues($0)) } ?? .unchanged : .unchanged)
        let values = RowCoding.eventValues(event, record)
            + [image.databaseValue, event.details?.text.databaseValue ?? .null, event.office.databaseValue]
        let hash = EventChain.link(try EventChain.head(db), values, imagesFrom: .min)
        try run("""
            INSERT INTO events (\(EventChain.columns), hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, StatementArguments(values + [hash.databaseValue]), db)
    }

    /// The office this copy of a shared register writes as (nil on a single host).
    static func office(_ db: Database) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT value FROM office_local WHERE name = 'office'"))
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
}
