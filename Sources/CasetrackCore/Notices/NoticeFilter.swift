/// Which notices a subscriber receives. Every condition given must hold; within one condition
/// any of the values will do (tags: all of them, as in ``CaseFilter``). Empty: every notice.
///
/// The same function decides for stored events replayed after `since=` and for live ones, so a
/// resumed subscription receives exactly what an uninterrupted one would have.
public struct NoticeFilter: Hashable, Sendable {
    /// The status before or after the event is one of these.
    public var statuses: Set<Status> = []
    /// The status before the event is one of these.
    public var oldStatuses: Set<Status> = []
    /// The status after the event is one of these.
    public var newStatuses: Set<Status> = []
    public var categories: Set<Category> = []
    /// All of these tags (as the case had them right after the event).
    public var tags: Set<String> = []
    /// The unit, compared without regard to case.
    public var unit: String?
    public var caseIDs: Set<CaseID> = []
    public var kinds: Set<EventKind> = []

    public init() {}

    public var isEmpty: Bool { self == NoticeFilter() }

    /// The least role that may hold a subscription with this filter. Observers' notices leave
    /// out unit and tags; a filter on them would let an observer learn them case by case. The
    /// one rule for SUBSCRIBE and for a running feed after a reload.
    public var requiredRole: Role { unit != nil || !tags.isEmpty ? .reader : .observer }

    /// Whether `notice` passes. A test notice passes every condition but `kind=`: it exists to
    /// show that a subscriber's whole path works, whatever the subscriber selects.
    public func matches(_ notice: Notice) -> Bool {
        if !kinds.isEmpty, !kinds.contains(notice.kind) { return false }
        if notice.kind == .test { return true }
        // A phase's own event belongs to no case: it passes the status conditions (it is a
        // change to `returned`) but no condition on a case's category, unit, tags or id.
        if !statuses.isEmpty {
            let hit = notice.oldStatus.map(statuses.contains) == true || notice.newStatus.map(statuses.contains) == true
            if !hit { return false }
        }
        if !oldStatuses.isEmpty, notice.oldStatus.map(oldStatuses.contains) != true { return false }
        if !newStatuses.isEmpty, notice.newStatus.map(newStatuses.contains) != true { return false }
        if !categories.isEmpty, notice.category.map(categories.contains) != true { return false }
        if !tags.isEmpty, !tags.isSubset(of: notice.tags) { return false }
        if let unit, notice.unit.map(CaseFilter.unitKey) != CaseFilter.unitKey(unit) { return false }
        if !caseIDs.isEmpty, notice.caseID.map(caseIDs.contains) != true { return false }
        return true
    }

    /// The filter as request options (the client side of `SUBSCRIBE`).
    public var options: [(key: String, value: String)] {
        var options: [(key: String, value: String)] = []
        options += statuses.map(\.rawValue).sorted().map { ("status", $0) }
        options += oldStatuses.map(\.rawValue).sorted().map { ("old", $0) }
        options += newStatuses.map(\.rawValue).sorted().map { ("new", $0) }
        options += categories.map(\.rawValue).sorted().map { ("category", $0) }
        options += tags.sorted().map { ("tag", $0) }
        if let unit { options.append(("unit", unit)) }
        options += caseIDs.sorted().map { ("id", $0.description) }
        options += kinds.map(\.rawValue).sorted().map { ("kind", $0) }
        return options
    }
}
