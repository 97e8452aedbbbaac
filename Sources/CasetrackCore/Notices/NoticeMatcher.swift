/// A ``NoticeFilter`` kept as bit sets, for the live fan-out.
///
/// The fan-out asks every live subscriber's filter about every notice. `NoticeFilter` keeps
/// its kinds, statuses and categories in `Set`s, each with storage of its own on the heap:
/// with 1,000 subscribers, asking them all touched a thousand scattered allocations per
/// notice, and a profile of the pass put a twentieth of the loop's time on that one load.
/// Here the same conditions are a few words beside the subscriber's other state, and a
/// notice's side is worked out once per pass (``Bits``). Tags, unit and case ids, rarely
/// given, are left to ``NoticeFilter/matches(_:)`` itself, so there is one rule: a test holds
/// the two equal over every kind of condition.
public struct NoticeMatcher: Sendable {
    private let kinds: UInt64
    private let statuses: UInt64
    private let oldStatuses: UInt64
    private let newStatuses: UInt64
    private let categories: UInt64
    /// The filter, when it has conditions the bits do not hold (tags, unit, case ids).
    private let rest: NoticeFilter?

    public init(_ filter: NoticeFilter) {
        kinds = Self.mask(filter.kinds)
        statuses = Self.mask(filter.statuses)
        oldStatuses = Self.mask(filter.oldStatuses)
        newStatuses = Self.mask(filter.newStatuses)
        categories = Self.mask(filter.categories)
        rest = filter.tags.isEmpty && filter.unit == nil && filter.caseIDs.isEmpty ? nil : filter
    }

    /// What a filter asks of one notice, worked out once for all subscribers.
    public struct Bits: Sendable {
        let kind: UInt64
        let oldStatus: UInt64
        let newStatus: UInt64
        let category: UInt64
        let isTest: Bool

        public init(_ notice: Notice) {
            kind = NoticeMatcher.bit(notice.kind)
            oldStatus = NoticeMatcher.bit(notice.oldStatus)
            newStatus = NoticeMatcher.bit(notice.newStatus)
            category = NoticeMatcher.bit(notice.category)
            isTest = notice.kind == .test
        }
    }

    /// Whether `notice` (whose ``Bits`` are `bits`) passes: what ``NoticeFilter/matches(_:)``
    /// says.
    public func matches(_ bits: Bits, _ notice: Notice) -> Bool {
        if kinds != 0, kinds & bits.kind == 0 { return false }
        if bits.isTest { return true }
        if statuses != 0, statuses & (bits.oldStatus | bits.newStatus) == 0 { return false }
        if oldStatuses != 0, oldStatuses & bits.oldStatus == 0 { return false }
        if newStatuses != 0, newStatuses & bits.newStatus == 0 { return false }
        if categories != 0, categories & bits.category == 0 { return false }
        return rest?.matches(notice) ?? true
    }

    // Every case of these enums has a bit of its own: there are fewer than 64 of each.
    static func bit<Value: CaseIterable & Equatable>(_ value: Value?) -> UInt64 {
        guard let value, let index = Value.allCases.firstIndex(of: value) else { return 0 }
        return 1 << UInt64(Value.allCases.distance(from: Value.allCases.startIndex, to: index))
    }

    static func mask<Value: CaseIterable & Equatable>(_ values: Set<Value>) -> UInt64 {
        values.reduce(0) { $0 | bit($1) }
    }
}
