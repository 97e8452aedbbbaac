#if canImport(Glibc)
import Glibc
#endif
import CasetrackCore
import GRDBSQLite
import Synchronization

/// Reads one case by id on the calling thread, through a read-only SQLite connection that
/// thread alone uses, with its statement prepared once.
///
/// A point read is a few microseconds of SQLite. Through GRDB's reader pool it also took a
/// pool checkout, a queue hop, a transaction opened and closed by SQL text, and generic
/// decoding: most of the cost of a `GET`. Each event-loop thread here has a connection of its
/// own, so nothing is shared and nothing waits. The single statement runs in its own
/// implicit read transaction: it sees every commit acknowledged before it began.
final class PointReader: Sendable {
    /// Threads beyond this many read through the pool instead (``fetch(_:)`` returns nil
    /// for "not served here"): connections are per thread and never handed back.
    static let maximumConnections = 16

    private let path: String
    private let connections = Mutex<Connections>(Connections())

    private struct Connections: ~Copyable {
        var byThread: [UInt: Connection] = [:]
        var closed = false
    }

    /// One thread's connection and statement. Used by that thread only.
    private final class Connection: @unchecked Sendable {
        let database: OpaquePointer
        let statement: OpaquePointer
        /// `BEGIN` and `COMMIT`, which make several reads one snapshot with one lock: taking
        /// and dropping the WAL read lock (`fcntl` on the shared-memory file) cost about a
        /// sixth of a GET when each read was a transaction of its own.
        let begin: OpaquePointer
        let commit: OpaquePointer

        init(path: String) throws {
            let database = try PlainConnection.open(path, flags: SQLITE_OPEN_READONLY, purpose: "for reading")
            // Never wait on the event loop: a busy database (recovery, a closing connection's
            // checkpoint) sends the read to the pool, whose readers wait off the loop.
            sqlite3_busy_timeout(database, 0)
            var prepared: [OpaquePointer] = []
            for sql in ["SELECT \(RowCoding.caseColumns) FROM cases WHERE id = ?", "BEGIN", "COMMIT"] {
                var statement: OpaquePointer?
                guard sqlite3_prepare_v3(database, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil) == SQLITE_OK,
                      let statement else {
                    let message = String(cString: sqlite3_errmsg(database))
                    prepared.forEach { sqlite3_finalize($0) }
                    sqlite3_close_v2(database)
                    throw CasetrackError(.storageFailure, "cannot prepare a point read on \(path): \(message)")
                }
                prepared.append(statement)
            }
            self.database = database
            (statement, begin, commit) = (prepared[0], prepared[1], prepared[2])
        }

        /// Runs one statement that returns no rows.
        func run(_ statement: OpaquePointer) -> Bool {
            defer { sqlite3_reset(statement) }
            return sqlite3_step(statement) == SQLITE_DONE
        }

        deinit {
            [statement, begin, commit].forEach { sqlite3_finalize($0) }
            sqlite3_close_v2(database)
        }
    }

    init(path: String) { self.path = path }

    private enum Lookup {
        case use(Connection)
        case make
        case notServed
    }

    /// The case, `.some(nil)` when there is none, or nil when the read is not served here
    /// (too many threads, or the database busy or failing): the caller reads through the pool.
    func fetch(_ id: CaseID) throws -> CaseRecord?? {
        guard let connection = connectionOfThisThread() else { return nil }
        return try read(id, connection)
    }

    /// The cases of a prefix of `ids`, read in one transaction: up to the first that is
    /// missing or not served here (see ``fetch(_:)``). `whenBegun` runs after the first
    /// case was read: SQLite takes a deferred transaction's snapshot at its first read.
    func fetchPrefix(_ ids: [CaseID], whenBegun: () -> Void = {}) -> [CaseRecord] {
        guard !ids.isEmpty, let connection = connectionOfThisThread() else { return [] }
        // One read is its own transaction already.
        let together = ids.count > 1
        if together, !connection.run(connection.begin) { return [] }
        var records: [CaseRecord] = []
        records.reserveCapacity(ids.count)
        for id in ids {
            guard let served = try? read(id, connection), let record = served else { break }
            records.append(record)
            if records.count == 1 { whenBegun() }
        }
        // A read-only transaction always ends; if COMMIT failed, ROLLBACK by hand so the
        // connection never keeps an old snapshot for the next reads.
        if together, !connection.run(connection.commit), sqlite3_get_autocommit(connection.database) == 0 {
            sqlite3_exec(connection.database, "ROLLBACK", nil, nil, nil)
        }
        return records
    }

    private func read(_ id: CaseID, _ connection: Connection) throws -> CaseRecord?? {
        switch try RowCoding.step(connection.statement, id) {
        case .success(let record): return .some(record)
        // Busy, or anything else: the pool reads it instead (and reports a real failure).
        case .failure: return nil
        }
    }

    /// This thread's connection, opened on first use; nil when this thread is not served.
    private func connectionOfThisThread() -> Connection? {
        let thread = UInt(pthread_self())
        let lookup = connections.withLock { connections -> Lookup in
            if connections.closed { return .notServed }
            if let connection = connections.byThread[thread] { return .use(connection) }
            return connections.byThread.count < Self.maximumConnections ? .make : .notServed
        }
        switch lookup {
        case .use(let existing): return existing
        case .notServed: return nil
        case .make:
            // A connection that cannot be opened here leaves the read to the pool, which
            // reports the failure if it is the database's.
            guard let made = try? Connection(path: path) else { return nil }
            // Closed meanwhile: this connection is used for this read only, then released.
            connections.withLock { if !$0.closed { $0.byThread[thread] = made } }
            return made
        }
    }

    /// Closes every connection; later reads go through the pool.
    func close() {
        let closing = connections.withLock { connections -> [Connection] in
            connections.closed = true
            defer { connections.byThread = [:] }
            return Array(connections.byThread.values)
        }
        _ = closing  // released here, after the lock: each closes its connection
    }
}

extension RowCoding {
    /// The SQLite result code a step failed with.
    struct StepFailure: Error {
        let code: Int32
    }

    /// Steps `statement`, a `SELECT` of ``caseColumns`` by id, for `id`: the case, nil when
    /// there is none, or the code SQLite failed with. Leaves the statement reset and unbound.
    static func step(_ statement: OpaquePointer, _ id: CaseID) throws -> Result<CaseRecord?, StepFailure> {
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        sqlite3_bind_int64(statement, 1, id.number)
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return .success(try record(statement))
        case SQLITE_DONE: return .success(nil)
        case let code: return .failure(StepFailure(code: code))
        }
    }

    /// A record from the current row of a statement over ``caseColumns``.
    static func record(_ statement: OpaquePointer) throws -> CaseRecord {
        try record(CaseColumns(
            text: { column in
                guard sqlite3_column_type(statement, column) != SQLITE_NULL,
                      let bytes = sqlite3_column_text(statement, column) else { return nil }
                let count = Int(sqlite3_column_bytes(statement, column))
                return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
            },
            integer: { sqlite3_column_int64(statement, $0) }))
    }
}
