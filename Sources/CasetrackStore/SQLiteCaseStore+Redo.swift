import CasetrackCore
import GRDB

/// What start-up did with the redo log, for the daemon to say.
public struct RedoRecovery: Sendable {
    /// Writer rounds the log held that the database had lost, applied again.
    public var applied = 0
    /// The database's last round after recovery.
    public var group: Int64 = 0
    /// Records that could not be applied, and why: acknowledged changes are missing.
    public var cut: String?
    /// The log belongs to another state of the database (a restored backup it does not
    /// continue): left unapplied, and overwritten from now on.
    public var ignored: String?
}

extension SQLiteCaseStore {
    /// Brings the database up to the log: applies, in order, the rounds after its own last
    /// one, then syncs SQLite's files so that the log may be overwritten from the start.
    static func recover(_ log: RedoLog, _ pool: DatabasePool) throws -> RedoRecovery {
        let found = try log.recover()
        var recovery = RedoRecovery()
        try pool.writeWithoutTransaction { db in
            let applied = try Int64.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'log_group'") ?? 0
            recovery.group = applied
            let after = found.records.filter { $0.group > applied }
            guard let first = after.first else { return }
            guard first.group == applied + 1 else {
                // The database was durable through its last round before the log moved past
                // it, so a log that does not continue it belongs to another copy of it.
                recovery.ignored = "the event log begins at round \(first.group), after the database's \(applied + 1): it does not continue this database (restored from a backup?) and is not applied"
                return
            }
            for record in after {
                guard record.group == recovery.group + 1 else {
                    recovery.cut = "rounds \(recovery.group + 1) to \(after.last?.group ?? record.group) of the event log are missing or damaged: the changes acknowledged in them are lost; check the disk, and compare with the last backup"
                    break
                }
                try db.inTransaction(.immediate) {
                    try RedoSession.apply(record.changeset, db)
                    return .commit
                }
                recovery.group = record.group
                recovery.applied += 1
            }
        }
        try log.syncDatabase()
        log.start(after: found, group: recovery.group)
        return recovery
    }
}
