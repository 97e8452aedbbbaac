/// One row of `IMPORT update=yes`: what a later list says of a person already on record,
/// found by the row's references.
///
/// A list that arrives again (the ICRC's next list, a unit's corrected roster) adds to what we
/// know; it does not erase it. So names, tags and references are added, never removed; a
/// field the row leaves empty stays as it is; a field it fills replaces ours; a status moves
/// the case along the lifecycle as SET-STATUS does. The row's `at`, `source`, `confidence`
/// and `note` are the provenance of the change.
public struct UpdateRow: Hashable, Sendable {
    /// At least one; those on record must all belong to one case, the others are added to it.
    public var references: [String]
    public var status: Status?
    /// The field changes (names, tags and references only added).
    public var update: CaseUpdate
    public var details: EventDetails
    /// The row's place in its request (1-based), for messages; 0 when not set.
    public var number = 0

    /// Reads one row, the options of an `ADD`, none of them required but `ref`.
    public init(_ text: String, today: Day) throws {
        let request = try Request(row: text)
        let arguments = try Arguments(request, verb: .add, today: today)
        references = try arguments.references("ref")
        guard !references.isEmpty else {
            throw CasetrackError.badArgument("ref: an update row names its case by at least one reference (ref=…) on record")
        }
        var update = CaseUpdate()
        update.addNames = try arguments.names("name")
        update.category = try arguments.single("category").map { try Category.parse($0, field: "category") }
        status = try arguments.single("status").map { try Status.parse($0, field: "status") }
        // An empty value leaves the field alone: a list that does not know a birth date does
        // not unknow ours.
        func given<T>(_ value: T??) -> T?? {
            if case .some(.some(let value)) = value { return .some(value) }
            return nil
        }
        update.since = given(try arguments.date("since"))
        update.birth = given(try arguments.date("birth"))
        update.unit = given(try arguments.text("unit"))
        update.addTags = try arguments.tags("tag")
        update.lastKnownPlace = given(try arguments.text("last_place"))
        update.detentionPlace = given(try arguments.text("detention_place"))
        update.notes = given(try arguments.text("notes", limit: 10_000, multiline: true))
        update.sex = given(try arguments.sex())
        update.serviceNumber = given(try arguments.serviceNumber())
        update.rank = given(try arguments.text("rank", limit: 100))
        update.birthPlace = given(try arguments.text("birth_place", limit: 500))
        self.update = update
        details = try arguments.details()
    }
}

extension CaseRules {
    /// A row of `IMPORT update=yes` applied to the case it names: one event for all it
    /// changes (a `status` event listing the other fields when the status moves, else an
    /// `update` event), or `nil` when the case holds all of it already, so that importing the
    /// same file twice changes nothing the second time.
    public static func revise(_ current: CaseRecord, _ row: UpdateRow, actor: Actor, clock: WriteClock) throws -> CaseChange? {
        var update = row.update
        update.addReferences = row.references.filter { !current.references.contains($0) }
        // A list that knows less (a bare year for a known day) does not take the day away:
        // its date agrees with the one on record, which stays.
        if case .some(.some(let given)) = update.birth, let known = current.birth, PartialDate.finer(known, given) == known {
            update.birth = nil
        }
        if case .some(.some(let given)) = update.since, let known = current.since, PartialDate.finer(known, given) == known {
            update.since = nil
        }
        var record = current
        let changes = try update.apply(to: &record)
        var kind = EventKind.update
        var occurred = row.details.occurredOn
        if let status = row.status, status != current.status {
            try Lifecycle.check(current.id, from: current.status, to: status)
            occurred = moveStatus(&record, to: status, details: row.details, clock: clock)
            kind = .status
        }
        guard kind == .status || !changes.isEmpty else { return nil }
        record.version += 1
        record.updatedAt = clock.now
        try checkDates(record)
        let event = HistoryEvent(
            seq: 0, caseID: current.id, kind: kind, oldStatus: current.status, newStatus: record.status,
            occurredOn: occurred, recordedAt: clock.now, source: row.details.source, confidence: row.details.confidence,
            actor: actor, note: row.details.note, version: record.version, changes: changes)
        return CaseChange(record: record, event: event)
    }
}
