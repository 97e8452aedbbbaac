/// How a captivity event is checked and what it makes of the record: the current place of
/// detention, the last proof of life, how the person died and what became of the remains.
///
/// Those facts follow from the case's captivity events, so a correction or a retraction (the
/// wrong event stays in the history) is undone by deriving them again. Only the facts of the
/// type an event is about are derived again: a sighting does not undo a detention place an
/// operator set by hand after the last transfer.
public enum CaptivityRules {
    /// The answer fields each type takes besides the provenance (`at`, `source`,
    /// `confidence`, `note`) and `corrects`.
    public static func keys(of type: CaptivityEventType) -> [String] {
        switch type {
        case .transfer: ["from", "to"]
        case .hospital: ["place", "until"]
        case .sighting: ["proof", "place"]
        case .communication: ["proof"]
        case .death: ["place", "cause"]
        case .remains: ["remains", "place"]
        case .retraction: []
        }
    }

    /// Records a `type` event on `current`. `earlier` are the case's captivity events so far,
    /// oldest first; `endedByStatus` the day the status change that made the case deceased
    /// gave, which is its end again once every dated death event is withdrawn.
    public static func record(_ current: CaseRecord, _ type: CaptivityEventType, _ given: CaptivityDetails,
                              details: EventDetails, earlier: [HistoryEvent], endedByStatus: PartialDate? = nil,
                              actor: Actor, expectVersion: Int?, clock: WriteClock) throws -> CaseChange {
        try CaseRules.checkVersion(current, expectVersion)
        var captivity = given
        let corrected = try check(current, type, &captivity, details: details, earlier: earlier)
        var record = current
        record.version += 1
        record.updatedAt = clock.now
        // The status stays: old and new are the same, as for an update (filters on new=
        // status, and the history as of a day, read every event's new status).
        var event = HistoryEvent(
            seq: 0, caseID: current.id, kind: type.eventKind, oldStatus: current.status, newStatus: current.status,
            occurredOn: details.occurredOn, recordedAt: clock.now, source: details.source,
            confidence: details.confidence, actor: actor, note: details.note, version: record.version,
            details: captivity)
        // What the new event is about: its own type, or that of the event it withdraws.
        let about = type == .retraction ? corrected.flatMap { CaptivityEventType($0.kind) } ?? type : type
        derive(about, from: earlier + [event], into: &record)
        if type == .death, let day = details.occurredOn { record.endedOn = day }
        // A withdrawn death's day no longer ends the case: the last dated death that counts
        // does, or else the day the status change gave.
        if type == .retraction, let withdrawn = corrected, withdrawn.kind == .death, withdrawn.occurredOn != nil {
            let gone = Set((earlier + [event]).compactMap { $0.details?.corrects })
            let dated = earlier.last { $0.kind == .death && $0.occurredOn != nil && !gone.contains($0.seq) }
            record.endedOn = dated?.occurredOn ?? endedByStatus
        }
        try CaseRules.checkDates(record)
        event.changes = changes(from: current, to: record)
        return CaseChange(record: record, event: event)
    }

    /// Refuses what does not make sense for `type` on this case; returns the event that
    /// `corrects=` names. Fills a transfer's `from` with the current place when not given.
    static func check(_ current: CaseRecord, _ type: CaptivityEventType, _ captivity: inout CaptivityDetails,
                      details: EventDetails, earlier: [HistoryEvent]) throws -> HistoryEvent? {
        let name = type.rawValue
        switch type {
        case .transfer, .hospital, .sighting, .communication:
            guard details.occurredOn != nil else {
                throw CasetrackError.badArgument("a \(name) needs at=DATE (when it happened; YYYY-MM-DD, YYYY-MM or YYYY)")
            }
        case .death, .remains, .retraction:
            break
        }
        try checkDay(current, type, details.occurredOn)
        switch type {
        case .transfer:
            guard let to = captivity.to else { throw CasetrackError.badArgument("a transfer needs to=PLACE (where the person was taken)") }
            // A corrected transfer left where the wrong one says it did, not from today's place.
            if captivity.from == nil {
                let wrong = captivity.corrects.flatMap { seq in earlier.first { $0.seq == seq && $0.kind == .transfer } }
                captivity.from = wrong?.details?.from ?? current.detentionPlace
            }
            if captivity.from == to { throw CasetrackError.badArgument("a transfer from \(LineCodec.quote(to)) to the same place changes nothing") }
        case .hospital:
            guard captivity.place != nil else { throw CasetrackError.badArgument("a hospital stay needs place=PLACE (the hospital)") }
            if let until = captivity.until, let start = details.occurredOn, until.lastDay < start.firstDay {
                throw CasetrackError.badArgument("until=\(until) is before the stay began (at=\(start))")
            }
        case .sighting:
            guard captivity.proof != nil else {
                throw CasetrackError.badArgument("a sighting needs proof=KIND (\(ProofKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        case .communication:
            guard let proof = captivity.proof, ProofKind.communication.contains(proof) else {
                throw CasetrackError.badArgument("a communication needs proof=letter or proof=call")
            }
        case .death, .remains:
            guard current.status == .deceased else {
                throw CasetrackError(.illegalTransition,
                    "\(current.id) is \(current.status.rawValue), not deceased: record the death first (SET-STATUS \(current.id) deceased at=DATE)")
            }
            if type == .death, captivity.place == nil, captivity.cause == nil, details.occurredOn == nil {
                throw CasetrackError.badArgument("a death event needs at least one of at=DATE, place= and cause=")
            }
            if type == .remains, captivity.remains == nil {
                throw CasetrackError.badArgument("a remains event needs remains=\(RemainsState.allCases.map(\.rawValue).joined(separator: "|"))")
            }
        case .retraction:
            guard captivity.corrects != nil else {
                throw CasetrackError.badArgument("a retraction needs corrects=SEQ (the wrong event, as HISTORY numbers it)")
            }
        }
        guard let seq = captivity.corrects else { return nil }
        guard let wrong = earlier.first(where: { $0.seq == seq }), let wrongType = CaptivityEventType(wrong.kind),
              wrongType != .retraction else {
            throw CasetrackError.badArgument("corrects=\(seq) is not a transfer, hospital stay, sighting, communication, death or remains event of \(current.id) (HISTORY \(current.id) numbers them)")
        }
        if let later = earlier.first(where: { $0.details?.corrects == seq }) {
            // A retraction is final: what it withdrew is recorded again as a new event.
            if later.kind == .retraction {
                throw CasetrackError.badArgument("event \(seq) was withdrawn by event \(later.seq); if it did happen after all, record it again as a new event")
            }
            throw CasetrackError.badArgument("event \(seq) was already corrected by event \(later.seq); correct that one instead")
        }
        if type != .retraction, wrongType != type {
            throw CasetrackError.badArgument("event \(seq) is a \(wrongType.rawValue); correct it with another \(wrongType.rawValue), or withdraw it with a retraction")
        }
        return wrong
    }

    /// Refuses a day no event of this person can have: before their birth, or (for what only
    /// a living captive does: a transfer, a hospital stay, a sighting, a letter or call) after
    /// the case ended, which would make a proof of life after death. A death's own day is
    /// checked as the case's end; remains are found after it.
    static func checkDay(_ current: CaseRecord, _ type: CaptivityEventType, _ day: PartialDate?) throws {
        guard let day else { return }
        if let birth = current.birth, day.lastDay < birth.firstDay {
            throw CasetrackError.badArgument("at=\(day) is before \(current.id) was born (\(birth))")
        }
        switch type {
        case .transfer, .hospital, .sighting, .communication:
            if !current.status.isOpen, let ended = current.endedOn, day.firstDay > ended.lastDay {
                throw CasetrackError.badArgument(
                    "at=\(day) is after \(current.id) became \(current.status.rawValue) (\(ended)): a \(type.rawValue) cannot follow it. If the end is wrong, correct it first (SET-STATUS \(current.id) STATUS at=DATE correction=yes)")
            }
        case .death, .remains, .retraction:
            break
        }
    }

    /// Sets the facts `type`'s events decide from `events` (the case's captivity events,
    /// oldest first), leaving the others as they are.
    static func derive(_ type: CaptivityEventType, from events: [HistoryEvent], into record: inout CaseRecord) {
        let withdrawn = Set(events.compactMap { $0.details?.corrects })
        func counted(_ types: Set<CaptivityEventType>) -> [HistoryEvent] {
            events.filter { event in
                guard let eventType = CaptivityEventType(event.kind), types.contains(eventType) else { return false }
                return event.seq == 0 || !withdrawn.contains(event.seq)
            }
        }
        /// The event that happened last; of two on the same day, the one recorded later.
        func latest(_ list: [HistoryEvent]) -> HistoryEvent? {
            list.enumerated().max { a, b in
                let (dayA, dayB) = (a.element.occurredOn?.lastDay, b.element.occurredOn?.lastDay)
                if dayA != dayB, let dayA, let dayB { return dayA < dayB }
                return a.offset < b.offset
            }?.element
        }
        switch type {
        case .transfer:
            if let last = latest(counted([.transfer])) {
                record.detentionPlace = last.details?.to
            } else if let first = events.first(where: { $0.kind == .transfer }) {
                // Every transfer withdrawn: the place is what it was before the first.
                record.detentionPlace = first.details?.from
            }
        case .sighting, .communication:
            record.proofOfLife = latest(counted([.sighting, .communication])).flatMap { event in
                guard let on = event.occurredOn, let kind = event.details?.proof else { return nil }
                return ProofOfLife(on: on, kind: kind)
            }
        case .death:
            let last = counted([.death]).last
            record.deathPlace = last?.details?.place
            record.deathCause = last?.details?.cause
        case .remains:
            record.remains = counted([.remains]).last?.details?.remains
        case .hospital, .retraction:
            break
        }
    }

    /// One readable line per fact that changed (`detention_place: "A" -> "B"`).
    static func changes(from old: CaseRecord, to new: CaseRecord) -> [String] {
        var changes: [String] = []
        func note(_ field: String, _ before: String?, _ after: String?) {
            if before != after { changes.append("\(field): \(before ?? "(none)") -> \(after ?? "(none)")") }
        }
        func quoted(_ text: String?) -> String? { text.map { LineCodec.quote($0) } }
        note("detention_place", quoted(old.detentionPlace), quoted(new.detentionPlace))
        note("proof_of_life", old.proofOfLife.map { "\($0.on) \($0.kind.rawValue)" }, new.proofOfLife.map { "\($0.on) \($0.kind.rawValue)" })
        note("ended", old.endedOn?.description, new.endedOn?.description)
        note("death_place", quoted(old.deathPlace), quoted(new.deathPlace))
        note("death_cause", quoted(old.deathCause), quoted(new.deathCause))
        note("remains", old.remains?.rawValue, new.remains?.rawValue)
        return changes
    }
}
