/// A named exchange of prisoners on a date, in one or more phases, each with its list of people.
///
/// Completing a phase changes every case listed on it to `returned` in one transaction (see
/// ``CaseStore/completePhase(_:phase:details:actor:clock:)``).
public struct Exchange: Hashable, Sendable {
    /// As the office wrote it; compared without regard to letter case and spacing.
    public var name: String
    public var date: PartialDate
    public var phases: Int
    public var note: String?
    public var createdAt: Timestamp

    public init(name: String, date: PartialDate, phases: Int, note: String? = nil, createdAt: Timestamp) {
        self.name = name
        self.date = date
        self.phases = phases
        self.note = note
        self.createdAt = createdAt
    }

    /// The most phases one exchange may have.
    public static let maximumPhases = 100
    /// The most cases one request may list on a phase (`EXCHANGE-ADD`).
    public static let maximumCasesPerRequest = 10_000

    /// The form names are compared in: "1000 for 1000" and " 1000  FOR 1000" are one exchange.
    public static func key(_ name: String) -> String { CaseFilter.unitKey(name) }
}

/// What `EXCHANGE-LIST` says of one exchange.
public struct ExchangeSummary: Hashable, Sendable {
    public var exchange: Exchange
    public var listed: Int
    /// Listed and `returned` now (as `COUNT exchange=… status=returned` counts).
    public var returned: Int
    public var completedPhases: Int

    public init(exchange: Exchange, listed: Int, returned: Int, completedPhases: Int) {
        self.exchange = exchange
        self.listed = listed
        self.returned = returned
        self.completedPhases = completedPhases
    }

    public func fields(includeNote: Bool) -> Fields {
        var fields = Fields()
        fields.append("name", exchange.name)
        fields.append("date", exchange.date.description)
        fields.append("phases", exchange.phases)
        fields.append("completed_phases", completedPhases)
        fields.append("listed", listed)
        fields.append("returned", returned)
        if includeNote { fields.append("note", exchange.note) }
        return fields
    }
}

/// Listed and returned cases of one group (a category, a unit, a tag) on one phase.
public struct GroupTally: Hashable, Sendable {
    public var listed: Int
    public var returned: Int

    public init(listed: Int = 0, returned: Int = 0) {
        self.listed = listed
        self.returned = returned
    }
}

/// One phase of an exchange as `EXCHANGE-SHOW` reports it. Every figure is counted from the
/// cases as they are now: "returned" means listed on this phase and `returned` now (a
/// correction that takes someone off the bus takes them out of it), so that each figure is
/// what `COUNT exchange=… phase=…` gives with the same conditions.
public struct PhaseReport: Hashable, Sendable {
    public var phase: Int
    /// When the phase was completed (its `at`), and the sequence number of its event.
    public var completedOn: PartialDate?
    public var completedSeq: Int64?
    public var total = GroupTally()
    public var categories: [Category: GroupTally] = [:]
    /// By unit (compared as `unit=` filters compare, named as first seen); cases without a
    /// unit are not in it.
    public var units: [String: GroupTally] = [:]
    private var unitKeys: [String: String] = [:]
    public var tags: [String: GroupTally] = [:]
    /// Listed cases that are not `returned` now, with their status (for a completed phase:
    /// those who did not come home after all).
    public var notReturned: [(CaseID, Status)] = []

    public init(phase: Int) { self.phase = phase }

    public var isCompleted: Bool { completedSeq != nil }

    public static func == (lhs: PhaseReport, rhs: PhaseReport) -> Bool {
        lhs.phase == rhs.phase && lhs.completedOn == rhs.completedOn && lhs.completedSeq == rhs.completedSeq
            && lhs.total == rhs.total && lhs.categories == rhs.categories && lhs.units == rhs.units
            && lhs.tags == rhs.tags && lhs.notReturned.map(\.0) == rhs.notReturned.map(\.0)
            && lhs.notReturned.map(\.1) == rhs.notReturned.map(\.1)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(phase)
        hasher.combine(total)
    }

    /// Adds one listed case (its status now; whether the phase counts it as returned).
    public mutating func add(category: Category, unit: String?, tags: [String], status: Status, id: CaseID) {
        // Counted from the case as it is now, like `COUNT exchange=… phase=… status=returned`.
        let returned = status == .returned
        func count(_ tally: inout GroupTally) {
            tally.listed += 1
            if returned { tally.returned += 1 }
        }
        count(&total)
        count(&categories[category, default: GroupTally()])
        if let unit {
            // One row per unit as `unit=` compares them, named by its smallest spelling (as
            // `STATS by=unit` names it).
            let key = CaseFilter.unitKey(unit)
            let display = min(unitKeys[key] ?? unit, unit)
            var tally = unitKeys[key].flatMap { units.removeValue(forKey: $0) } ?? GroupTally()
            count(&tally)
            units[display] = tally
            unitKeys[key] = display
        }
        for tag in tags { count(&self.tags[tag, default: GroupTally()]) }
        if isCompleted, status != .returned { notReturned.append((id, status)) }
    }

    /// The phase as `D` lines: its totals (`row=phase`), then one line per category, unit
    /// and tag, then one per listed case that did not return.
    public var lines: [Fields] {
        var lines: [Fields] = []
        var head = Fields()
        head.append("row", "phase")
        head.append("phase", phase)
        head.append("completed", completedOn?.description ?? (isCompleted ? "unknown" : "no"))
        if let completedSeq { head.append("seq", completedSeq) }
        head.append("listed", total.listed)
        head.append("returned", total.returned)
        for category in Category.reportOrder {
            head.append(category.rawValue, categories[category]?.returned ?? 0)
        }
        head.append("not_returned", notReturned.count)
        lines.append(head)
        func group(_ row: String, _ key: String, _ tally: GroupTally) {
            var fields = Fields()
            fields.append("row", row)
            fields.append("phase", phase)
            fields.append(row, key)
            fields.append("listed", tally.listed)
            fields.append("returned", tally.returned)
            lines.append(fields)
        }
        for category in Category.reportOrder {
            group("category", category.rawValue, categories[category] ?? GroupTally())
        }
        for (unit, tally) in units.sorted(by: { $0.key < $1.key }) { group("unit", unit, tally) }
        for (tag, tally) in tags.sorted(by: { $0.key < $1.key }) { group("tag", tag, tally) }
        for (id, status) in notReturned {
            var fields = Fields()
            fields.append("row", "not-returned")
            fields.append("phase", phase)
            fields.append("id", id.description)
            fields.append("status", status.rawValue)
            lines.append(fields)
        }
        return lines
    }
}

/// What completing a phase did: one change per listed case, the phase's own event, and the
/// returned counts by category, counted from the cases after the change.
public struct PhaseCompletion: Hashable, Sendable {
    public var exchange: Exchange
    public var phase: Int
    public var changes: [CaseChange]
    public var event: HistoryEvent
    public var returned: [Category: Int]

    public init(exchange: Exchange, phase: Int, changes: [CaseChange], event: HistoryEvent, returned: [Category: Int]) {
        self.exchange = exchange
        self.phase = phase
        self.changes = changes
        self.event = event
        self.returned = returned
    }
}
