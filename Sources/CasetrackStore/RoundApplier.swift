import CSQLiteSession
import CasetrackCore
import GRDB
import GRDBSQLite

/// Applies rounds of the shared register to an office's database through a plain SQLite
/// connection of its own, beside GRDB's writer connection.
///
/// Why not GRDB's: SQLite's changeset apply prepares its INSERT, UPDATE and DELETE
/// statements anew for every round, and GRDB's statement authorizer (registered once per
/// connection, so it cannot be set aside for a moment) runs Swift code for every column of
/// every one of them. Profiled on an office following another's writes, that was 37% of its
/// writer thread and 11% of the machine's CPU, which put the cross-office notice tail past
/// its 20 ms goal. On a connection without an authorizer the same prepares cost little.
///
/// Used only inside the writer's `writeWithoutTransaction`, so GRDB's writer connection is
/// idle (and outside a transaction) while this one writes: never two writers at once.
final class RoundApplier: @unchecked Sendable {
    private let database: OpaquePointer
    private let path: String

    init(path: String) throws {
        self.path = path
        let database = try PlainConnection.open(path, flags: SQLITE_OPEN_READWRITE, purpose: "to apply the shared register's rounds")
        self.database = database
        // A checkpoint or a reader's recovery can hold a lock for a moment; wait as GRDB's
        // writer does rather than fail the round.
        sqlite3_busy_timeout(database, 10_000)
        // As on the writer connection (SQLiteCaseStore.init): the register, not this copy, is
        // the durable record; the same checkpoint backstop; a smaller page cache, as this
        // connection only touches what other offices changed. (A failure here releases self,
        // and deinit closes the connection.)
        for pragma in ["PRAGMA synchronous = NORMAL", "PRAGMA temp_store = FILE", "PRAGMA cache_size = -8192",
                       "PRAGMA wal_autocheckpoint = \(Checkpointer.writerBackstop)"] {
            try execute(pragma)
        }
    }

    deinit { sqlite3_close_v2(database) }

    /// Applies `rounds`, which must follow round `held` one by one, in one transaction, and
    /// checks that the copy's own round counter followed them. Returns the last round's digest,
    /// kept with it (hashed once: an import's round can be megabytes).
    @discardableResult
    func apply(_ rounds: [SharedRound], after held: Int64) throws -> String? {
        try execute("BEGIN IMMEDIATE")
        do {
            var expected = held + 1
            for round in rounds {
                guard round.round == expected else {
                    throw CasetrackError(.storageDamaged,
                        "the shared register skips from round \(expected - 1) to \(round.round): it was changed outside casetrack. Writes are refused; see README: Several offices")
                }
                try ChangeSession.apply(round, to: UnsafeMutableRawPointer(database))
                expected += 1
            }
            // Every round carries its own bump of shared_round.
            guard try sharedRound() == expected - 1 else {
                throw CasetrackError(.storageDamaged,
                    "the shared register's rounds \(held + 1) to \(expected - 1) do not number themselves in this office's copy: it was changed outside casetrack. Writes are refused; see README: Several offices")
            }
            let digest = rounds.last?.digest
            if let last = rounds.last, let digest {
                try setRoundDigest(SQLiteCaseStore.roundDigestValue(round: last.round, digest: digest))
            }
            try execute("COMMIT")
            return digest
        } catch {
            // A failed COMMIT (a full disk) leaves the transaction open; a rollback that
            // fails too leaves nothing to do but report the first error.
            if sqlite3_get_autocommit(database) == 0 { _ = try? execute("ROLLBACK") }
            throw SQLiteCaseStore.fullDiskSaid(error, databasePath: path)
        }
    }

    /// The last round of the register this copy holds.
    func sharedRound() throws -> Int64 {
        guard let round = try firstValue("SELECT value FROM counters WHERE name = 'shared_round'", { sqlite3_column_int64($0, 0) })
        else { throw failure() }
        return round
    }

    /// The digest of round `round`, the last this copy holds (``SharedRound/digest``); nil
    /// when it holds none, or that round was taken by a casetrackd that kept none.
    func roundDigest(of round: Int64) throws -> String? {
        SQLiteCaseStore.roundDigest(try storedRoundDigest(), round: round)
    }

    private func storedRoundDigest() throws -> String? {
        try firstValue("SELECT value FROM office_local WHERE name = '\(SQLiteCaseStore.roundDigestName)'") { statement in
            sqlite3_column_text(statement, 0).map { String(cString: $0) }
        } ?? nil
    }

    /// `read` of the first row of `sql`; nil when it has none.
    private func firstValue<T>(_ sql: String, _ read: (OpaquePointer) -> T) throws -> T? {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(database, sql, -1, &statement, nil) == SQLITE_OK, let statement else { throw failure() }
        defer { sqlite3_finalize(statement) }
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return read(statement)
        case SQLITE_DONE: return nil
        default: throw failure()
        }
    }

    private func setRoundDigest(_ value: String) throws {
        // A round number and a hexadecimal digest: nothing in it to quote.
        try execute("""
            INSERT INTO office_local (name, value) VALUES ('\(SQLiteCaseStore.roundDigestName)', '\(value)')
            ON CONFLICT (name) DO UPDATE SET value = excluded.value
            """)
    }

    private func execute(_ sql: String) throws {
        guard sqlite3_exec(database, sql, nil, nil, nil) == SQLITE_OK else { throw failure() }
    }

    /// The connection's last error as GRDB reports it, so that a full disk or a damaged file
    /// is told apart exactly as on the writer connection (SQLiteCaseStore+Faults).
    private func failure() -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: sqlite3_extended_errcode(database)),
                      message: String(cString: sqlite3_errmsg(database)))
    }
}
