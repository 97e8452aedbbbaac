/// The rules of every write, independent of storage: each function takes the current record
/// and returns the new one with its event (sequence number 0: the store assigns it).
public enum CaseRules {
    public static func open(_ new: NewCase, id: CaseID, details: EventDetails, actor: Actor, clock: WriteClock) throws -> CaseChange {
        var record = CaseRecord(
            id: id, names: new.names, birth: new.birth, category: new.category, unit: new.unit, tags: new.tags,
            status: new.status, since: new.since, lastKnownPlace: new.lastKnownPlace, detentionPlace: new.detentionPlace,
            references: new.references, notes: new.notes, version: 1, createdAt: clock.now, updatedAt: clock.now,
            sex: new.sex, serviceNumber: new.serviceNumber, rank: new.rank, birthPlace: new.birthPlace)
        // A case opened as returned or deceased ends on the date given for the event (`at`);
        // without one, its end is unknown.
        if !new.status.isOpen { record.endedOn = details.occurredOn }
        try checkDates(record, label: "the new case")
        let event = HistoryEvent(
            seq: 0, caseID: id, kind: .created, oldStatus: nil, newStatus: new.status,
            occurredOn: details.occurredOn ?? (new.status.isOpen && !details.occurredUnknown ? new.since : nil),
            recordedAt: clock.now, source: details.source, confidence: details.confidence, actor: actor,
            note: details.note, version: 1)
        return CaseChange(record: record, event: event)
    }

    public static func setStatus(_ current: CaseRecord, to status: Status, details: EventDetails, actor: Actor,
                                 expectVersion: Int?, correction: Bool, clock: WriteClock) throws -> CaseChange {
        try checkVersion(current, expectVersion)
        if correction {
            if current.status == status {
                throw CasetrackError(.illegalTransition, "\(current.id) is already \(status.rawValue); nothing to correct")
            }
        } else {
            try Lifecycle.check(current.id, from: current.status, to: status)
        }
        var record = current
        let occurred = moveStatus(&record, to: status, details: details, clock: clock)
        record.version += 1
        record.updatedAt = clock.now
        try checkDates(record)
        let event = HistoryEvent(
            seq: 0, caseID: current.id, kind: correction ? .correction : .status, oldStatus: current.status,
            newStatus: status, occurredOn: occurred, recordedAt: clock.now, source: details.source,
            confidence: details.confidence, actor: actor, note: details.note, version: record.version)
        return CaseChange(record: record, event: event)
    }

    /// Sets a new status and the end it implies; returns the day the event occurred (today
    /// unless the details give a day or say it is unknown).
    static func moveStatus(_ record: inout CaseRecord, to status: Status, details: EventDetails, clock: WriteClock) -> PartialDate? {
        let occurred = details.occurredUnknown ? nil : details.occurredOn ?? PartialDate(clock.today)
        // A death corrected away takes what was said of it: a person found alive has no
        // place of death, cause or remains (their events stay in the history).
        if record.status == .deceased, status != .deceased {
            record.deathPlace = nil
            record.deathCause = nil
            record.remains = nil
        }
        record.status = status
        record.endedOn = status.isOpen ? nil : occurred
        return occurred
    }

    public static func update(_ current: CaseRecord, _ update: CaseUpdate, details: EventDetails, actor: Actor,
                              expectVersion: Int?, clock: WriteClock) throws -> CaseChange {
        try checkVersion(current, expectVersion)
        var record = current
        let changes = try update.apply(to: &record)
        guard !changes.isEmpty else {
            throw CasetrackError.badArgument("the update changes nothing in \(current.id)")
        }
        record.version += 1
        record.updatedAt = clock.now
        try checkDates(record)
        let event = HistoryEvent(
            seq: 0, caseID: current.id, kind: .update, oldStatus: current.status, newStatus: current.status,
            occurredOn: details.occurredOn, recordedAt: clock.now, source: details.source,
            confidence: details.confidence, actor: actor, note: details.note, version: record.version, changes: changes)
        return CaseChange(record: record, event: event)
    }

    public static func checkVersion(_ record: CaseRecord, _ expected: Int?) throws {
        if let expected, expected != record.version {
            throw CasetrackError(.versionConflict,
                "\(record.id) is at version \(record.version), not \(expected): someone changed it meanwhile; read it again (GET \(record.id)) and retry")
        }
    }

    public static func checkDates(_ record: CaseRecord, label: String? = nil) throws {
        let name = label ?? record.id.description
        if let since = record.since, let ended = record.endedOn, ended.lastDay < since.firstDay {
            throw CasetrackError.badArgument("\(name): the case would end on \(ended), before it began (\(since))")
        }
        if let birth = record.birth, let since = record.since, since.lastDay < birth.firstDay {
            throw CasetrackError.badArgument("\(name): since \(since) is before the birth date \(birth)")
        }
        if let birth = record.birth, let ended = record.endedOn, ended.lastDay < birth.firstDay {
            throw CasetrackError.badArgument("\(name): the case would end on \(ended), before the birth date \(birth)")
        }
    }
}
