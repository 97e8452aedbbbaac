/// The record of one person.
public struct CaseRecord: Hashable, Sendable {
    public var id: CaseID
    /// Every spelling of the full name, the first being the main one.
    public var names: [String]
    public var birth: PartialDate?
    public var category: Category
    /// Unit or other affiliation.
    public var unit: String?
    /// Lower-case labels, sorted.
    public var tags: [String]
    public var status: Status
    /// When the person went missing or was detained; `nil` when unknown.
    public var since: PartialDate?
    /// When the case closed (returned or deceased), from the event that closed it.
    public var endedOn: PartialDate?
    public var lastKnownPlace: String?
    public var detentionPlace: String?
    /// External reference numbers (lists, registries), unique across all cases, sorted.
    public var references: [String]
    public var notes: String?
    /// Incremented by every change; a write may name the version it expects.
    public var version: Int
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(
        id: CaseID, names: [String], birth: PartialDate? = nil, category: Category, unit: String? = nil,
        tags: [String] = [], status: Status, since: PartialDate? = nil, endedOn: PartialDate? = nil,
        lastKnownPlace: String? = nil, detentionPlace: String? = nil, references: [String] = [],
        notes: String? = nil, version: Int, createdAt: Timestamp, updatedAt: Timestamp
    ) {
        self.id = id
        self.names = names
        self.birth = birth
        self.category = category
        self.unit = unit
        self.tags = tags
        self.status = status
        self.since = since
        self.endedOn = endedOn
        self.lastKnownPlace = lastKnownPlace
        self.detentionPlace = detentionPlace
        self.references = references
        self.notes = notes
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// The day that ends the "held for" count: `today` while the case is open, the closing
    /// date once closed; `nil` for a closed case whose closing date is unknown.
    /// A closing date known only coarsely (`2025`) may start before a precise start
    /// (`2025-05-20`): the count then ends at the start, never before it.
    public func heldEnd(today: Day) -> Day? {
        if status.isOpen { return today }
        guard let end = endedOn?.firstDay else { return nil }
        return since.map { max(end, $0.firstDay) } ?? end
    }

    /// How long the person has been (or was) missing or held; `nil` when the start or the end
    /// is unknown.
    public func heldFor(today: Day) -> HeldDuration? {
        guard let since, let end = heldEnd(today: today) else { return nil }
        return HeldDuration.between(since.firstDay, end)
    }
}

/// Who made a change: the Unix credentials the daemon read from the socket (SO_PEERCRED).
public struct Actor: Hashable, Sendable {
    public var uid: UInt32
    public var pid: Int32

    public init(uid: UInt32, pid: Int32) {
        self.uid = uid
        self.pid = pid
    }
}

/// One entry in a case's append-only history.
public struct HistoryEvent: Hashable, Sendable {
    /// Position in the global event log: strictly increasing, gap-free in commit order.
    public var seq: Int64
    public var caseID: CaseID
    public var kind: EventKind
    public var oldStatus: Status?
    public var newStatus: Status?
    /// When it happened, as precisely as known; may lie in the past.
    public var occurredOn: PartialDate?
    /// When the daemon stored it.
    public var recordedAt: Timestamp
    public var source: String?
    public var confidence: Confidence?
    public var actor: Actor
    public var note: String?
    /// The case version this event produced.
    public var version: Int
    /// What else changed, one readable line per field (`unit: "a" -> "b"`).
    public var changes: [String]
    /// For a time alert, the threshold it crossed (`8y` held, `90d` without update).
    public var threshold: String?

    public init(
        seq: Int64, caseID: CaseID, kind: EventKind, oldStatus: Status?, newStatus: Status?,
        occurredOn: PartialDate?, recordedAt: Timestamp, source: String?, confidence: Confidence?,
        actor: Actor, note: String?, version: Int, changes: [String] = [], threshold: String? = nil
    ) {
        self.seq = seq
        self.caseID = caseID
        self.kind = kind
        self.oldStatus = oldStatus
        self.newStatus = newStatus
        self.occurredOn = occurredOn
        self.recordedAt = recordedAt
        self.source = source
        self.confidence = confidence
        self.actor = actor
        self.note = note
        self.version = version
        self.changes = changes
        self.threshold = threshold
    }
}
