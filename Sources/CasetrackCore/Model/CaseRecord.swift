/// The record of one person.
public struct CaseRecord: Hashable, Sendable {
    public var id: CaseID
    /// Every spelling of the full name, the first being the main one.
    public var names: [String]
    public var birth: PartialDate?
    public var birthPlace: String?
    public var sex: Sex?
    public var category: Category
    /// A soldier's service number, as written (matching compares its letters and digits only).
    public var serviceNumber: String?
    public var rank: String?
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
    /// The last proof that the person was alive (from sightings and communications).
    public var proofOfLife: ProofOfLife?
    /// Of a deceased person, from the death and remains events.
    public var deathPlace: String?
    public var deathCause: String?
    public var remains: RemainsState?
    /// Incremented by every change; a write may name the version it expects.
    public var version: Int
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(
        id: CaseID, names: [String], birth: PartialDate? = nil, category: Category, unit: String? = nil,
        tags: [String] = [], status: Status, since: PartialDate? = nil, endedOn: PartialDate? = nil,
        lastKnownPlace: String? = nil, detentionPlace: String? = nil, references: [String] = [],
        notes: String? = nil, version: Int, createdAt: Timestamp, updatedAt: Timestamp,
        sex: Sex? = nil, serviceNumber: String? = nil, rank: String? = nil, birthPlace: String? = nil,
        proofOfLife: ProofOfLife? = nil, deathPlace: String? = nil, deathCause: String? = nil, remains: RemainsState? = nil
    ) {
        self.proofOfLife = proofOfLife
        self.deathPlace = deathPlace
        self.deathCause = deathCause
        self.remains = remains
        self.id = id
        self.names = names
        self.birth = birth
        self.sex = sex
        self.serviceNumber = serviceNumber
        self.rank = rank
        self.birthPlace = birthPlace
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
    /// The exchange and phase whose completion made this event (the status change of each
    /// listed case, and the phase's own event).
    public var exchange: ExchangeMark?
    /// What a captivity event says besides its provenance (``CaptivityDetails``).
    public var details: CaptivityDetails?
    /// The office that recorded it, when several offices keep one register.
    public var office: String?

    public init(
        seq: Int64, caseID: CaseID, kind: EventKind, oldStatus: Status?, newStatus: Status?,
        occurredOn: PartialDate?, recordedAt: Timestamp, source: String?, confidence: Confidence?,
        actor: Actor, note: String?, version: Int, changes: [String] = [], threshold: String? = nil,
        exchange: ExchangeMark? = nil, details: CaptivityDetails? = nil, office: String? = nil
    ) {
        self.details = details
        self.office = office
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
        self.exchange = exchange
    }
}

/// Which exchange phase an event belongs to; the phase's own event (kind `exchange`) also
/// carries how many came home, by category, counted from the cases.
public struct ExchangeMark: Hashable, Sendable {
    public var name: String
    public var phase: Int
    /// Only on the phase's own event.
    public var returned: [Category: Int]?

    public init(name: String, phase: Int, returned: [Category: Int]? = nil) {
        self.name = name
        self.phase = phase
        self.returned = returned
    }

    /// `exchange=… phase=…`, then for the phase's event `returned=N military=N civilian=N`.
    func append(to fields: inout Fields) {
        fields.append("exchange", name)
        fields.append("phase", phase)
        if let returned {
            fields.append("returned", returned.values.reduce(0, +))
            for category in Category.reportOrder {
                fields.append(category.rawValue, returned[category] ?? 0)
            }
        }
    }

    init?(fields: Fields) {
        guard let name = fields.string("exchange"), let phase = fields.int("phase") else { return nil }
        var returned: [Category: Int]?
        if fields.int("returned") != nil {
            var counts: [Category: Int] = [:]
            for category in Category.allCases { counts[category] = fields.int(category.rawValue).map { Int($0) } ?? 0 }
            returned = counts
        }
        self.init(name: name, phase: Int(phase), returned: returned)
    }

    /// The counts as one column of the `events` table: `military=270 civilian=120`.
    public var tallyText: String? {
        returned.map { counts in
            Category.reportOrder.map { "\($0.rawValue)=\(counts[$0] ?? 0)" }
                .joined(separator: " ")
        }
    }

    public static func tally(from text: String?) -> [Category: Int]? {
        guard let text else { return nil }
        var counts: [Category: Int] = [:]
        for part in text.split(separator: " ") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, let category = Category(rawValue: String(pair[0])), let count = Int(pair[1]) else { continue }
            counts[category] = count
        }
        return counts
    }
}
