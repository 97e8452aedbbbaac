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
    /// Listed on this exchange (name compared as ``Exchange/key(_:)`` does).
    public var exchange: String?
    /// Listed on this phase of ``exchange``.
    public var phase: Int?
    /// Closed (returned or deceased) on or after this day; a partial closing date counts
    /// from its first day.
    public var endedFrom: Day?
    /// Closed before this day.
    public var endedBefore: Day?
    /// The last proof of life is at least this old: counted from the last day its date may
    /// mean (a proof of `2023-05` is a year old from 2024-05-31 on), to today. Cases without
    /// a proof never match (``noProof`` selects them).
    public var proofOlder: HeldDuration?
    /// No proof of life on record.
    public var noProof = false

    public init() {}

    public var isEmpty: Bool { self == CaseFilter() }

    /// Whether it selects on personal data (names, unit, tags): such a filter needs the
    /// reader role even where the answer is only a count.
    public var revealsPersonalData: Bool { name != nil || unit != nil || !tags.isEmpty }

    /// `listings`: the exchange phases the case is listed on (exchange key, phase), which
    /// the record itself does not hold.
    public func matches(_ record: CaseRecord, today: Day, listings: [ExchangeListing] = []) -> Bool {
        matches(record, today: today, nameKeys: name == nil ? [] : NameKey.keys(for: record.names), listings: listings)
    }

    /// ``matches(_:today:listings:)`` with the record's name keys computed beforehand.
    public func matches(_ record: CaseRecord, today: Day, nameKeys: [String], listings: [ExchangeListing] = []) -> Bool {
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
        if let proofOlder {
            guard let proof = record.proofOfLife?.on.lastDay, proofOlder.isReached(from: proof, to: today) else { return false }
        }
        if noProof, record.proofOfLife != nil { return false }
        if endedFrom != nil || endedBefore != nil {
            guard !record.status.isOpen, let end = record.endedOn?.firstDay else { return false }
            if let endedFrom, end < endedFrom { return false }
            if let endedBefore, end >= endedBefore { return false }
        }
        if let exchange {
            let key = Exchange.key(exchange)
            guard listings.contains(where: { $0.exchangeKey == key && (phase == nil || $0.phase == phase) }) else { return false }
        }
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
        fields.append("exchange", exchange)
        if let phase { fields.append("phase", phase) }
        fields.append("ended_from", endedFrom?.description)
        fields.append("ended_before", endedBefore?.description)
        fields.append("proof_older", proofOlder?.description)
        if noProof { fields.append("no_proof", "yes") }
        return fields
    }
}

/// A case's place on an exchange list.
public struct ExchangeListing: Hashable, Sendable {
    public var exchangeKey: String
    public var phase: Int

    public init(exchange: String, phase: Int) {
        self.exchangeKey = Exchange.key(exchange)
        self.phase = phase
    }
}
