import CasetrackCore
import GRDB

// The store's reads of cases and their history: a point read on the calling thread when it can
// be served there, the rest through the reader pool, each in one snapshot.

extension SQLiteCaseStore {
    public func get(_ id: CaseID) async throws -> CaseRecord? {
        if let served = try pointReader.fetch(id), let record = served { return record }
        // Not there (or not served): a case merged into another says where it went.
        return try await read { db in
            if let record = try Self.fetch(id, db) { return record }
            if let merged = try Self.mergedError(id, db) { throw merged }
            return nil
        }
    }

    public func getNow(_ ids: [CaseID], whenBegun: () -> Void) -> [CaseRecord] {
        // Any failure, a busy file or a missing case is left to `get`, which reports it.
        pointReader.fetchPrefix(ids, whenBegun: whenBegun)
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
        try await read { db in try Self.eventSeq(db) }
    }
}
