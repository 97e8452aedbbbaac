import CasetrackCore
import GRDB

/// A ``CaseFilter`` as an SQL condition over `cases`, meaning exactly what
/// ``CaseFilter/matches(_:today:)`` means (the store tests compare the two on generated data).
struct FilterSQL {
    var clauses: [String] = []
    var arguments = StatementArguments()

    /// With `orderedByID`, the condition is for a first page in id order: for one status and
    /// one category, since-day ranges are not offered to the index (`+since_day`), so that
    /// SQLite walks `cases_by_status_id` in id order and stops at the page's limit instead of
    /// sorting every match. That walk is bounded by the cases of that status and category.
    init(_ filter: CaseFilter, today: Day, orderedByID: Bool = false) {
        let day = orderedByID && filter.statuses.count == 1 && filter.categories.count == 1 ? "+since_day" : "since_day"
        if !filter.statuses.isEmpty {
            add("status IN (\(placeholders(filter.statuses.count)))", filter.statuses.sorted().map(\.rawValue))
        }
        if !filter.categories.isEmpty {
            add("category IN (\(placeholders(filter.categories.count)))", filter.categories.sorted().map(\.rawValue))
        }
        for tag in filter.tags.sorted() {
            add("id IN (SELECT case_id FROM case_tags WHERE tag = ?)", [tag])
        }
        if let unit = filter.unit {
            add("unit_key = ?", [CaseFilter.unitKey(unit)])
        }
        if let sinceFrom = filter.sinceFrom {
            add("\(day) >= ?", [sinceFrom.daysSinceEpoch])
        }
        if let sinceBefore = filter.sinceBefore {
            add("\(day) < ?", [sinceBefore.daysSinceEpoch])
        }
        if let held = filter.heldMin {
            // Open cases count to today: one index range. Closed cases count to their end date
            // (none when it is unknown), through the core's own arithmetic. When the statuses
            // asked for are all open (or all closed) only that half applies: without the OR,
            // SQLite answers from the (status, category, since_day) index alone.
            let open = Status.allCases.filter(\.isOpen).map { "'\($0.rawValue)'" }.joined(separator: ",")
            let openPart = "\(day) <= ?"
            let closedPart = "ended_day IS NOT NULL AND casetrack_held_reached(since_day, max(ended_day, since_day), ?, ?, ?)"
            let latestStart = held.latestStart(reaching: today).daysSinceEpoch
            if !filter.statuses.isEmpty, filter.statuses.allSatisfy(\.isOpen) {
                add("\(day) IS NOT NULL AND \(openPart)", [latestStart])
            } else if !filter.statuses.isEmpty, !filter.statuses.contains(where: \.isOpen) {
                add("\(day) IS NOT NULL AND \(closedPart)", [held.years, held.months, held.days])
            } else {
                add("""
                    \(day) IS NOT NULL AND (\
                    (status IN (\(open)) AND \(openPart)) OR \
                    (status NOT IN (\(open)) AND \(closedPart)))
                    """, [latestStart, held.years, held.months, held.days])
            }
        }
        if let proofOlder = filter.proofOlder {
            add("proof_day IS NOT NULL AND proof_day <= ?", [proofOlder.latestStart(reaching: today).daysSinceEpoch])
        }
        if filter.noProof {
            add("proof_day IS NULL", [])
        }
        if let updatedSince = filter.updatedSince {
            add("updated_at >= ?", [updatedSince.unixMilliseconds])
        }
        if filter.endedFrom != nil || filter.endedBefore != nil {
            let open = Status.allCases.filter(\.isOpen).map { "'\($0.rawValue)'" }.joined(separator: ",")
            add("status NOT IN (\(open)) AND ended_day IS NOT NULL", [])
            if let endedFrom = filter.endedFrom { add("ended_day >= ?", [endedFrom.daysSinceEpoch]) }
            if let endedBefore = filter.endedBefore { add("ended_day < ?", [endedBefore.daysSinceEpoch]) }
        }
        if let exchange = filter.exchange {
            if let phase = filter.phase {
                add("id IN (SELECT case_id FROM exchange_cases WHERE exchange_id = (SELECT id FROM exchanges WHERE name_key = ?) AND phase = ?)",
                    [Exchange.key(exchange), phase])
            } else {
                add("id IN (SELECT case_id FROM exchange_cases WHERE exchange_id = (SELECT id FROM exchanges WHERE name_key = ?))",
                    [Exchange.key(exchange)])
            }
        }
        if let name = filter.name {
            // The longest word (the likeliest to be rare: a surname more than a first name)
            // picks the candidates; each other word is checked per candidate through the
            // (case_id, key) index. A list per word made SQLite collect every case of a common
            // first name (220,000 of a million) before it could return fifty.
            let words = Set(NameKey.words(of: name)).sorted { ($0.count, $1) > ($1.count, $0) }
            for (index, word) in words.enumerated() {
                // Prefix match on the word skeletons: keys are ASCII, so `~` (0x7E) bounds them.
                let prefixes = NameKey.prefixes(of: word)
                let ranges = Array(repeating: "(key >= ? AND key < ?)", count: prefixes.count).joined(separator: " OR ")
                let bounds = prefixes.flatMap { [$0, $0 + "~"] }
                if index == 0 {
                    add("id IN (SELECT case_id FROM case_name_keys WHERE \(ranges))", bounds)
                } else {
                    add("EXISTS (SELECT 1 FROM case_name_keys AS other WHERE other.case_id = cases.id AND (\(ranges)))", bounds)
                }
            }
        }
    }

    /// For a filter of open statuses held at least some time (and, optionally, categories),
    /// nothing else: its count from `case_counts`. Every whole 32-day span that ends on or
    /// before the latest start is summed; the cases of the span holding that day are counted
    /// from the (status, category, since_day) index. Nil for any other filter.
    static func heldCount(_ filter: CaseFilter, today: Day) -> (sql: String, arguments: StatementArguments)? {
        // Anything else in the filter (a condition added later too) takes the general path.
        var rest = filter
        rest.heldMin = nil
        rest.statuses = []
        rest.categories = []
        guard let held = filter.heldMin, !filter.statuses.isEmpty, filter.statuses.allSatisfy(\.isOpen), rest.isEmpty
        else { return nil }
        let statuses = filter.statuses.sorted().map(\.rawValue)
        // All categories named, so that both columns of the index are equalities.
        let categories = (filter.categories.isEmpty ? Set(Category.allCases) : filter.categories).sorted().map(\.rawValue)
        let latestStart = held.latestStart(reaching: today).daysSinceEpoch
        let span = latestStart >> 5
        let inStatus = "status IN (\(Array(repeating: "?", count: statuses.count).joined(separator: ",")))"
        let inCategory = "category IN (\(Array(repeating: "?", count: categories.count).joined(separator: ",")))"
        let sql = """
            SELECT (SELECT coalesce(sum(n), 0) FROM case_counts WHERE \(inStatus) AND \(inCategory) AND span < ?)
                 + (SELECT count(*) FROM cases WHERE \(inStatus) AND \(inCategory) AND since_day >= ? AND since_day <= ?)
            """
        var arguments = StatementArguments(statuses) + StatementArguments(categories)
        arguments += [span]
        arguments += StatementArguments(statuses) + StatementArguments(categories)
        arguments += [span << 5, latestStart]
        return (sql, arguments)
    }

    var whereClause: String { clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ") }

    private mutating func add(_ clause: String, _ values: [any DatabaseValueConvertible]) {
        clauses.append(clause)
        arguments += StatementArguments(values)
    }

    private func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ",")
    }

    /// The SQL function behind the closed-case part of `held_min`.
    static let heldReached = DatabaseFunction("casetrack_held_reached", argumentCount: 5, pure: true) { values in
        guard let since = Int.fromDatabaseValue(values[0]), let end = Int.fromDatabaseValue(values[1]),
              let years = Int.fromDatabaseValue(values[2]), let months = Int.fromDatabaseValue(values[3]),
              let days = Int.fromDatabaseValue(values[4])
        else { return false }
        return HeldDuration(years: years, months: months, days: days)
            .isReached(from: Day(daysSinceEpoch: since), to: Day(daysSinceEpoch: end))
    }
}
