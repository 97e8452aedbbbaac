import CasetrackCore
import GRDB

extension SQLiteCaseStore {
    public func statistics(_ query: StatisticsQuery, today: Day) async throws -> StatisticsTable {
        if let asOf = query.asOf { return try await statistics(asOf: asOf, query.filter) }
        let sql = FilterSQL(query.filter, today: today)
        let selected = "SELECT * FROM cases\(sql.whereClause)"
        let arguments = sql.arguments
        return try await read { db in
            let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM (\(selected))", arguments: arguments) ?? 0
            var table = StatisticsTable()
            table.final.append("total", total)
            switch query.breakdown {
            case .status:
                var counts: [Status: [Category: Int]] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT status, category, count(*) AS n FROM (\(selected)) GROUP BY status, category",
                                            arguments: arguments) {
                    guard let status = Status(rawValue: row["status"]), let category = Category(rawValue: row["category"]) else { continue }
                    counts[status, default: [:]][category] = row["n"]
                }
                table.lines = CaseStatistics(counts: counts).lines
            case .held:
                table.lines = try Self.heldLines(selected, arguments, today: today, db)
            case .unit:
                var units: [String: (name: String, counts: [Status: Int])] = [:]
                var order: [String] = []
                // Named by the smallest spelling over all of a unit's cases, as EXCHANGE-SHOW names it.
                for row in try Row.fetchAll(db, sql: """
                    SELECT unit_key, min(unit) AS unit FROM (\(selected)) WHERE unit_key IS NOT NULL GROUP BY unit_key ORDER BY unit_key
                    """, arguments: arguments) {
                    let key: String = row["unit_key"]
                    order.append(key)
                    units[key] = (row["unit"], [:])
                }
                for row in try Row.fetchAll(db, sql: """
                    SELECT unit_key, status, count(*) AS n FROM (\(selected)) WHERE unit_key IS NOT NULL GROUP BY unit_key, status
                    """, arguments: arguments) {
                    if let status = Status(rawValue: row["status"]) { units[row["unit_key"] as String]?.counts[status] = row["n"] }
                }
                table.lines = order.compactMap { units[$0] }.map { Self.statusLine("unit", $0.name, $0.counts) }
                let without = try Int.fetchOne(db, sql: "SELECT count(*) FROM (\(selected)) WHERE unit_key IS NULL", arguments: arguments) ?? 0
                table.final.append("without_unit", without)
            case .tag:
                var tags: [String: [Status: Int]] = [:]
                for row in try Row.fetchAll(db, sql: """
                    SELECT case_tags.tag AS tag, selected.status AS status, count(*) AS n
                    FROM (\(selected)) AS selected JOIN case_tags ON case_tags.case_id = selected.id
                    GROUP BY case_tags.tag, selected.status
                    """, arguments: arguments) {
                    if let status = Status(rawValue: row["status"]) { tags[row["tag"], default: [:]][status] = row["n"] }
                }
                table.lines = tags.keys.sorted().map { Self.statusLine("tag", $0, tags[$0] ?? [:]) }
                let without = try Int.fetchOne(db, sql: "SELECT count(*) FROM (\(selected)) WHERE tags = ''", arguments: arguments) ?? 0
                table.final.append("without_tags", without)
            case .exchange:
                table.lines = try Self.exchangeLines(selected, arguments, db)
            case .proof:
                table.lines = try Self.proofLines(selected, arguments, today: today, db)
                let open = Status.allCases.filter(\.isOpen).map { "'\($0.rawValue)'" }.joined(separator: ",")
                let closed = try Int.fetchOne(db, sql: "SELECT count(*) FROM (\(selected)) WHERE status NOT IN (\(open))",
                                              arguments: arguments) ?? 0
                table.final.append("closed", closed)
            case .place:
                var places: [String: [Status: Int]] = [:]
                for row in try Row.fetchAll(db, sql: """
                    SELECT detention_place, status, count(*) AS n FROM (\(selected))
                    WHERE detention_place IS NOT NULL GROUP BY detention_place, status
                    """, arguments: arguments) {
                    if let status = Status(rawValue: row["status"]) { places[row["detention_place"], default: [:]][status] = row["n"] }
                }
                table.lines = places.keys.sorted().map { Self.statusLine("place", $0, places[$0] ?? [:]) }
                let without = try Int.fetchOne(db, sql: "SELECT count(*) FROM (\(selected)) WHERE detention_place IS NULL",
                                               arguments: arguments) ?? 0
                table.final.append("without_place", without)
            case .day:
                guard let days = query.days(today: today) else { throw CasetrackError.badArgument("by=day needs from=DATE") }
                var counts: [Int: [Category: Int]] = [:]
                for row in try Row.fetchAll(db, sql: """
                    SELECT ended_day, category, count(*) AS n FROM (\(selected))
                    WHERE status = 'returned' AND ended_day >= ? AND ended_day <= ? GROUP BY ended_day, category
                    """, arguments: arguments + [days.lowerBound.daysSinceEpoch, days.upperBound.daysSinceEpoch]) {
                    if let category = Category(rawValue: row["category"]) { counts[row["ended_day"], default: [:]][category] = row["n"] }
                }
                var returned = 0
                for number in days.lowerBound.daysSinceEpoch...days.upperBound.daysSinceEpoch {
                    var fields = Fields()
                    fields.append("day", Day(daysSinceEpoch: number).description)
                    var sum = 0
                    for category in Category.reportOrder {
                        let count = counts[number]?[category] ?? 0
                        fields.append(category.rawValue, count)
                        sum += count
                    }
                    fields.append("count", sum)
                    returned += sum
                    table.lines.append(fields)
                }
                table.final.append("from", days.lowerBound.description)
                table.final.append("to", days.upperBound.description)
                table.final.append("returned", returned)
            }
            return table
        }
    }


    /// Status by category as the register stood at the end of `day`: each case as its last
    /// event recorded by then left it (every case event carries the status and category right
    /// after it); cases opened later are not there yet, a case merged away by then is gone.
    /// The events counted are a prefix of the log: up to the first one recorded after the day.
    func statistics(asOf day: Day, _ filter: CaseFilter) async throws -> StatisticsTable {
        let end = Int64(day.daysSinceEpoch + 1) * 86_400_000
        // A case merged away: its last event says so with an empty after-image. (`IS`, not
        // `length(…) = 0`: a merge's event from before after-images has none, NULL, and
        // NOT NULL would drop the case that took the other in.)
        var conditions = ["NOT (e.kind = 'merged' AND e.image IS X'')"]
        var arguments: [DatabaseValue] = []
        if !filter.statuses.isEmpty {
            conditions.append("e.new_status IN (\(Array(repeating: "?", count: filter.statuses.count).joined(separator: ", ")))")
            arguments += filter.statuses.sorted().map(\.rawValue.databaseValue)
        }
        if !filter.categories.isEmpty {
            conditions.append("e.category IN (\(Array(repeating: "?", count: filter.categories.count).joined(separator: ", ")))")
            arguments += filter.categories.sorted().map(\.rawValue.databaseValue)
        }
        let condition = conditions.joined(separator: " AND ")
        let filterArguments = arguments
        // Outside a transaction: the events through `through` never change (retention aside,
        // checked after), and the grouping's temporary b-tree goes to a file, not memory (in
        // memory, each reader connection kept 70 MB of it at a million cases).
        return try await read(snapshot: false) { db in
            try db.execute(sql: "PRAGMA temp_store = FILE")
            defer { try? db.execute(sql: "PRAGMA temp_store = MEMORY") }
            let through = try Self.lastEvent(recordedBefore: end, db)
            var counts: [Status: [Category: Int]] = [:]
            // The last event of each case by the day, found in the (case_id, seq) index alone,
            // then read through the primary key: 1.4 s for 1.9 million events of a million
            // cases, against 1.9 s taking its columns in the grouping itself.
            for row in try Row.fetchAll(db, sql: """
                SELECT e.new_status, e.category, count(*) AS n
                FROM (SELECT max(seq) AS seq FROM events WHERE seq <= ? AND case_id > 0 GROUP BY case_id) AS last
                JOIN events AS e ON e.seq = last.seq
                WHERE \(condition)
                GROUP BY e.new_status, e.category
                """, arguments: StatementArguments([through.databaseValue] + filterArguments)) {
                guard let status = Status(rawValue: row["new_status"]), let category = Category(rawValue: row["category"]) else { continue }
                counts[status, default: [:]][category] = row["n"]
            }
            let trimmed = try Self.trimmedThrough(db)
            guard trimmed == 0 else {
                throw CasetrackError.badArgument("retention removed the events through \(trimmed): the history no longer says how the register stood on a past day")
            }
            let statistics = CaseStatistics(counts: counts)
            var table = StatisticsTable(lines: statistics.lines)
            table.final.append("total", statistics.total)
            table.final.append("as_of", day.description)
            table.final.append("through_seq", through)
            return table
        }
    }

    /// The seq of the last event recorded before `end` (Unix ms), 0 when none. Sequence
    /// numbers follow the time of recording (but for writes a few milliseconds apart that
    /// committed in the other order), so a binary search over seq finds it in a few reads,
    /// and what it counts is always a prefix of the log.
    static func lastEvent(recordedBefore end: Int64, _ db: Database) throws -> Int64 {
        let statement = try db.cachedStatement(sql: "SELECT recorded_at FROM events WHERE seq >= ? ORDER BY seq LIMIT 1")
        var low: Int64 = 0
        var high = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM events") ?? 0
        // Invariant: every event up to `low` was recorded before `end`; none after `high` was.
        while low < high {
            let middle = low + (high - low + 1) / 2
            let recorded = try Int64.fetchOne(statement, arguments: [middle]) ?? .max
            if recorded < end { low = middle } else { high = middle - 1 }
        }
        return low
    }

    static func statusLine(_ key: String, _ value: String, _ counts: [Status: Int]) -> Fields {
        var fields = Fields()
        fields.append(key, value)
        for status in Status.allCases { fields.append(status.rawValue, counts[status] ?? 0) }
        fields.append("count", counts.values.reduce(0, +))
        return fields
    }

    /// Buckets with the core's own arithmetic (``HeldBucket/of(start:end:)``), per category.
    static func heldLines(_ selected: String, _ arguments: StatementArguments, today: Day, _ db: Database) throws -> [Fields] {
        var counts: [Category: [HeldBucket: Int]] = [:]
        let rows = try Row.fetchCursor(db, sql: "SELECT category, status, since_day, ended_day FROM (\(selected))", arguments: arguments)
        while let row = try rows.next() {
            guard let category = Category(rawValue: row["category"]), let status = Status(rawValue: row["status"]) else { continue }
            let start = (row["since_day"] as Int?).map { Day(daysSinceEpoch: $0) }
            let end: Day? = status.isOpen ? today : (row["ended_day"] as Int?).map { Day(daysSinceEpoch: $0) }.map { end in
                start.map { max(end, $0) } ?? end
            }
            counts[category, default: [:]][HeldBucket.of(start: start, end: end), default: 0] += 1
        }
        return bucketLines(counts)
    }

    /// Open cases by the age of their last proof of life (``ProofBucket``), per category.
    static func proofLines(_ selected: String, _ arguments: StatementArguments, today: Day, _ db: Database) throws -> [Fields] {
        var counts: [Category: [ProofBucket: Int]] = [:]
        let open = Status.allCases.filter(\.isOpen).map { "'\($0.rawValue)'" }.joined(separator: ",")
        let rows = try Row.fetchCursor(db, sql: "SELECT category, proof_day FROM (\(selected)) WHERE status IN (\(open))",
                                       arguments: arguments)
        while let row = try rows.next() {
            guard let category = Category(rawValue: row["category"]) else { continue }
            let last = (row["proof_day"] as Int?).map { Day(daysSinceEpoch: $0) }
            counts[category, default: [:]][ProofBucket.of(last: last, today: today), default: 0] += 1
        }
        return bucketLines(counts)
    }

    /// One line per category and bucket, zeros included: `category bucket count`.
    static func bucketLines<Bucket: CaseIterable & RawRepresentable<String> & Hashable>(_ counts: [Category: [Bucket: Int]]) -> [Fields] {
        Category.reportOrder.flatMap { category in
            Bucket.allCases.map { bucket in
                var fields = Fields()
                fields.append("category", category.rawValue)
                fields.append("bucket", bucket.rawValue)
                fields.append("count", counts[category]?[bucket] ?? 0)
                return fields
            }
        }
    }

    /// Every phase of every exchange, zeros included: listed, returned, returned per category.
    static func exchangeLines(_ selected: String, _ arguments: StatementArguments, _ db: Database) throws -> [Fields] {
        struct Tally { var listed = 0; var returned: [Category: Int] = [:] }
        var tallies: [Int64: [Int: Tally]] = [:]
        for row in try Row.fetchAll(db, sql: """
            SELECT exchange_cases.exchange_id AS exchange_id, exchange_cases.phase AS phase, selected.category AS category,
                   selected.status AS status, count(*) AS n
            FROM (\(selected)) AS selected JOIN exchange_cases ON exchange_cases.case_id = selected.id
            GROUP BY exchange_cases.exchange_id, exchange_cases.phase, selected.category, selected.status
            """, arguments: arguments) {
            let exchangeID: Int64 = row["exchange_id"]
            let phase: Int = row["phase"]
            let count: Int = row["n"]
            tallies[exchangeID, default: [:]][phase, default: Tally()].listed += count
            if (row["status"] as String?) == "returned", let category = Category(rawValue: row["category"]) {
                tallies[exchangeID, default: [:]][phase, default: Tally()].returned[category, default: 0] += count
            }
        }
        let completed = Set(try Row.fetchAll(db, sql: "SELECT exchange_id, phase FROM exchange_phases").map { row in
            "\(row["exchange_id"] as Int64)/\(row["phase"] as Int)"
        })
        var lines: [Fields] = []
        for row in try Row.fetchAll(db, sql: "SELECT id, name, date, phases FROM exchanges ORDER BY date, name_key") {
            let exchangeID: Int64 = row["id"]
            let phases: Int = row["phases"]
            for phase in 1...max(1, phases) {
                let tally = tallies[exchangeID]?[phase] ?? Tally()
                var fields = Fields()
                fields.append("exchange", row["name"] as String)
                fields.append("phase", phase)
                fields.append("completed", completed.contains("\(exchangeID)/\(phase)") ? "yes" : "no")
                fields.append("listed", tally.listed)
                fields.append("returned", tally.returned.values.reduce(0, +))
                for category in Category.reportOrder { fields.append(category.rawValue, tally.returned[category] ?? 0) }
                lines.append(fields)
            }
        }
        return lines
    }
}
