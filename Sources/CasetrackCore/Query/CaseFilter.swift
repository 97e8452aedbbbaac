/// Which cases a query selects. Every condition given must hold; an empty filter selects all.
///
/// ``matches(_:today:)`` is the reference meaning. Stores translate the filter into their own
/// query language and are tested against it.
public struct CaseFilter: Hashable, Sendable {
    /// Any of these statuses (all when empty).
    public var statuses: Set<Status> = []
    /// Any of these categories (all when empty).
    public var categories: Set<Category> = []
    /// All of these tags.
    public var tags: Set<String> = []
    /// The unit, compared without regard to case.
    public var unit: String?
    /// Held (or missing) for at least this long; cases whose start, or closing date once
    /// closed, is unknown never match.
    public var heldMin: HeldDuration?
    /// Went missing or was detained on or after this day.
    public var sinceFrom: Day?
    /// Went missing or was detained before this day.
    public var sinceBefore: Day?
    /// Changed at or after this instant.
    public var updatedSince: Timestamp?
    /// Words of a name in any spelling (see ``NameKey``).
    public var name: String?

    public init() {}

    public var isEmpty: Bool { self == CaseFilter() }

    /// Whether it selects on personal data (names, unit, tags): such a filter needs the
    /// reader role even where the answer is only a count.
    public var revealsPersonalData: Bool { name != nil || unit != nil || !tags.isEmpty }

    public func matches(_ record: CaseRecord, today: Day) -> Bool {
        matches(record, today: today, nameKeys: name == nil ? [] : NameKey.keys(for: record.names))
    }

    /// ``matches(_:today:)`` with the record's name keys computed beforehand.
    public func matches(_ record: CaseRecord, today: Day, nameKeys: [String]) -> Bool {
        if !statuses.isEmpty, !statuses.contains(record.status) { return false }
        if !categories.isEmpty, !categories.contains(record.category) { return false }
        if !tags.isSubset(of: record.tags) { return false }
        if let unit, record.unit.map(CaseFilter.unitKey) != CaseFilter.unitKey(unit) { return false }
        if heldMin != nil || sinceFrom != nil || sinceBefore != nil {
            guard let start = record.since?.firstDay else { return false }
            if let heldMin {
                guard let end = record.heldEnd(today: today), heldMin.isReached(from: start, to: end) else { return false }
            }
            if let sinceFrom, start < sinceFrom { return false }
            if let sinceBefore, start >= sinceBefore { return false }
        }
        if let updatedSince, record.updatedAt < updatedSince { return false }
        if let name, !NameKey.matches(queryWords: NameKey.words(of: name), keys: nameKeys) { return false }
        return true
    }

    /// The form units are compared in.
    public static func unitKey(_ unit: String) -> String {
        unit.lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    /// The filter as request options, e.g. for `casectl` to send.
    public var fields: Fields {
        var fields = Fields()
        for status in statuses.sorted() { fields.append("status", status.rawValue) }
        for category in categories.sorted() { fields.append("category", category.rawValue) }
        for tag in tags.sorted() { fields.append("tag", tag) }
        fields.append("unit", unit)
        fields.append("held_min", heldMin?.description)
        fields.append("since_from", sinceFrom?.description)
        fields.append("since_before", sinceBefore?.description)
        fields.append("updated_since", updatedSince?.description)
        fields.append("name", name)
        return fields
    }
}
