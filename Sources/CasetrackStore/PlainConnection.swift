import CasetrackCore
import GRDBSQLite

/// Plain SQLite connections opened beside GRDB's, for the paths where GRDB's per-statement
/// work costs more than the statement (PointReader, RoundApplier).
enum PlainConnection {
    /// Opens `path` with `flags` (NOMUTEX: each connection is used by one thread at a time);
    /// on failure, closes what SQLite opened and throws "cannot open PATH PURPOSE: why".
    static func open(_ path: String, flags: Int32, purpose: String) throws -> OpaquePointer {
        var database: OpaquePointer?
        guard sqlite3_open_v2(path, &database, flags | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK, let database else {
            let message = database.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(database)
            throw CasetrackError(.storageFailure, "cannot open \(path) \(purpose): \(message)")
        }
        return database
    }
}
