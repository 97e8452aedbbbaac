import CasetrackCore
import GRDB

// Captivity events: what happened to a person, and the facts it makes of the record.

extension SQLiteCaseStore {
    public func recordEvent(_ id: CaseID, _ type: CaptivityEventType, _ captivity: CaptivityDetails, details: EventDetails,
                            actor: Actor, expectVersion: Int?, clock: WriteClock) async throws -> CaseChange {
        try await writer.submit(notices: Self.notices) { db in
            let current = try Self.load(id, db)
            var change = try CaptivityRules.record(current, type, captivity, details: details,
                                                   earlier: try Self.captivityEvents(id, db),
                                                   endedByStatus: try Self.endedByStatus(id, db), actor: actor,
                                                   expectVersion: expectVersion, clock: clock)
            try Self.replace(change.record, was: current, db)
            try Self.append(&change.event, change.record, db)
            return change
        }
    }

    /// The day the last change to `deceased` (or the case's opening as deceased) gave.
    static func endedByStatus(_ id: CaseID, _ db: Database) throws -> PartialDate? {
        let occurred = try String.fetchOne(db.cachedStatement(sql: """
            SELECT occurred FROM events WHERE case_id = ? AND new_status = 'deceased'
                AND kind IN ('created', 'status', 'correction') ORDER BY seq DESC LIMIT 1
            """), arguments: [id.number])
        return occurred.flatMap { RowCoding.date($0) }
    }

    /// The case's captivity events, oldest first (the only events with details), with those
    /// of the cases merged into it: one person, one history of captivity, so that a sighting
    /// recorded on a duplicate still counts after the merge.
    static func captivityEvents(_ id: CaseID, _ db: Database) throws -> [HistoryEvent] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT * FROM events WHERE details IS NOT NULL
                AND \(ofCaseOrMergedIn)
            ORDER BY seq
            """), arguments: [id.number])
            .map(RowCoding.event)
    }
}
