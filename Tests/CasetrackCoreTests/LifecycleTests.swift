import CasetrackCore
import Testing

@Suite("Lifecycle and write rules")
struct LifecycleTests {
    let clock = WriteClock(now: Timestamp(unixMilliseconds: 1_781_481_600_000))  // 2026-06-15
    let actor = Actor(uid: 1000, pid: 42)

    func record(_ status: Status, version: Int = 1) -> CaseRecord {
        CaseRecord(id: CaseID(number: 7), names: ["Бойко Оксана"], category: .civilian, status: status,
                   since: PartialDate("2015-03"), version: version, createdAt: clock.now, updatedAt: clock.now)
    }

    static let pairs = Status.allCases.flatMap { old in Status.allCases.map { (old, $0) } }

    @Test("every ordinary change is allowed exactly when the table lists it", arguments: pairs)
    func transition(_ old: Status, _ new: Status) throws {
        let allowed = Lifecycle.allowed(from: old).contains(new)
        if allowed {
            let change = try CaseRules.setStatus(record(old), to: new, details: EventDetails(), actor: actor,
                                                 expectVersion: nil, correction: false, clock: clock)
            #expect(change.record.status == new)
            #expect(change.record.version == 2)
            #expect(change.event.kind == .status)
            #expect(change.event.oldStatus == old && change.event.newStatus == new)
            #expect(change.event.occurredOn == PartialDate(clock.today), "no date given means today")
            #expect(change.record.endedOn == (new.isOpen ? nil : PartialDate(clock.today)))
        } else {
            #expect {
                try CaseRules.setStatus(record(old), to: new, details: EventDetails(), actor: actor,
                                        expectVersion: nil, correction: false, clock: clock)
            } throws: { error in
                guard let error = error as? CasetrackError, error.code == .illegalTransition else { return false }
                // The message names what is allowed instead.
                let options = Lifecycle.allowed(from: old)
                return old == new ? error.message.contains("already")
                    : options.isEmpty ? error.message.contains("final")
                    : options.allSatisfy { error.message.contains($0.rawValue) }
            }
        }
    }

    @Test("the documented table: returned and deceased are final, open statuses move freely")
    func table() {
        #expect(Lifecycle.allowed(from: .missing) == [.captive, .returned, .deceased])
        #expect(Lifecycle.allowed(from: .captive) == [.missing, .returned, .deceased])
        #expect(Lifecycle.allowed(from: .returned).isEmpty)
        #expect(Lifecycle.allowed(from: .deceased).isEmpty)
    }

    @Test("a correction replaces a wrong entry whatever the table says, and says so in the event")
    func correction() throws {
        let change = try CaseRules.setStatus(record(.returned, version: 4), to: .captive,
                                             details: EventDetails(note: "not on the bus"), actor: actor,
                                             expectVersion: 4, correction: true, clock: clock)
        #expect(change.record.status == .captive && change.record.endedOn == nil && change.record.version == 5)
        #expect(change.event.kind == .correction && change.event.oldStatus == .returned && change.event.note == "not on the bus")
        #expect(throws: CasetrackError.self) {
            try CaseRules.setStatus(record(.captive), to: .captive, details: EventDetails(), actor: actor,
                                    expectVersion: nil, correction: true, clock: clock)
        }
    }

    @Test("opening a case: the event dates from the disappearance; a closed case without a date has no held time")
    func open() throws {
        let id = CaseID(number: 9)
        let captive = try CaseRules.open(NewCase(names: ["Хоменко Юрій"], category: .military, status: .captive,
                                                 since: PartialDate("2023-02")),
                                         id: id, details: EventDetails(), actor: actor, clock: clock)
        #expect(captive.event.occurredOn == PartialDate("2023-02") && captive.record.endedOn == nil)
        #expect(captive.record.heldFor(today: clock.today) == HeldDuration(years: 3, months: 4, days: 14))
        let returned = try CaseRules.open(NewCase(names: ["Хоменко Юрій"], category: .military, status: .returned,
                                                  since: PartialDate("2023-02")),
                                          id: id, details: EventDetails(), actor: actor, clock: clock)
        #expect(returned.record.endedOn == nil && returned.event.occurredOn == nil)
        #expect(returned.record.heldFor(today: clock.today) == nil)
        var filter = CaseFilter()
        filter.heldMin = HeldDuration(days: 1)
        #expect(!filter.matches(returned.record, today: clock.today) && filter.matches(captive.record, today: clock.today))
        let dated = try CaseRules.open(NewCase(names: ["Хоменко Юрій"], category: .military, status: .returned,
                                               since: PartialDate("2023-02")),
                                       id: id, details: EventDetails(occurredOn: PartialDate("2024-08-24")), actor: actor,
                                       clock: clock)
        #expect(dated.record.endedOn == PartialDate("2024-08-24") && dated.record.heldFor(today: clock.today) != nil)
    }

    @Test("a change whose date is unknown is recorded so, not as today")
    func unknownDate() throws {
        let change = try CaseRules.setStatus(record(.captive), to: .returned, details: EventDetails(occurredUnknown: true),
                                             actor: actor, expectVersion: nil, correction: false, clock: clock)
        #expect(change.event.occurredOn == nil && change.record.endedOn == nil)
        #expect(change.record.heldFor(today: clock.today) == nil)
    }

    @Test("a coarse closing date in the start's year never gives a negative time held")
    func coarseEnd() throws {
        var record = record(.captive)
        record.since = PartialDate("2025-05-20")
        let change = try CaseRules.setStatus(record, to: .returned, details: EventDetails(occurredOn: PartialDate("2025")),
                                             actor: actor, expectVersion: nil, correction: false, clock: clock)
        #expect(change.record.heldFor(today: clock.today) == HeldDuration())
        #expect(change.record.fields(today: clock.today).int("held_days") == 0)
        var filter = CaseFilter()
        filter.heldMin = HeldDuration(days: 0)
        #expect(filter.matches(change.record, today: clock.today))
    }

    @Test("a case holds at most 50 names, tags and references")
    func bounded() {
        var update = CaseUpdate()
        update.addTags = (0..<51).map { "t\($0)" }
        #expect(throws: CasetrackError.self) {
            try CaseRules.update(record(.captive), update, details: EventDetails(), actor: actor, expectVersion: nil, clock: clock)
        }
    }

    @Test("a write that expects another version is refused")
    func versionConflict() {
        #expect {
            try CaseRules.setStatus(record(.captive, version: 3), to: .returned, details: EventDetails(), actor: actor,
                                    expectVersion: 2, correction: false, clock: clock)
        } throws: { ($0 as? CasetrackError)?.code == .versionConflict && "\($0)".contains("version 3, not 2") }
        #expect {
            var update = CaseUpdate()
            update.unit = .some("x")
            return try CaseRules.update(record(.captive, version: 3), update, details: EventDetails(), actor: actor,
                                        expectVersion: 1, clock: clock)
        } throws: { ($0 as? CasetrackError)?.code == .versionConflict }
    }

    @Test("a return dated before the detention is refused")
    func dates() {
        #expect {
            try CaseRules.setStatus(record(.captive), to: .returned, details: EventDetails(occurredOn: PartialDate("2014")),
                                    actor: actor, expectVersion: nil, correction: false, clock: clock)
        } throws: { ($0 as? CasetrackError)?.code == .badArgument }
        // Same year as a month-precise start: possible, so allowed.
        #expect(throws: Never.self) {
            try CaseRules.setStatus(record(.captive), to: .returned, details: EventDetails(occurredOn: PartialDate("2015")),
                                    actor: actor, expectVersion: nil, correction: false, clock: clock)
        }
    }

    @Test("updates list every changed field and refuse removing what is not there")
    func update() throws {
        var update = CaseUpdate()
        update.addNames = ["Boiko Oksana"]
        update.unit = .some("Navy 501")
        update.addTags = ["medic"]
        update.since = .some(nil)
        let change = try CaseRules.update(record(.captive), update, details: EventDetails(), actor: actor,
                                          expectVersion: 1, clock: clock)
        #expect(change.record.names == ["Бойко Оксана", "Boiko Oksana"])
        #expect(change.record.since == nil && change.record.unit == "Navy 501" && change.record.tags == ["medic"])
        #expect(change.event.kind == .update && change.event.changes.count == 4)
        #expect(change.event.changes.contains("unit: (none) -> \"Navy 501\""))
        var bad = CaseUpdate()
        bad.removeNames = ["Бойко Оксана"]
        #expect(throws: CasetrackError.self) {
            try CaseRules.update(record(.captive), bad, details: EventDetails(), actor: actor, expectVersion: nil, clock: clock)
        }
        var missingTag = CaseUpdate()
        missingTag.removeTags = ["nope"]
        #expect(throws: CasetrackError.self) {
            try CaseRules.update(record(.captive), missingTag, details: EventDetails(), actor: actor, expectVersion: nil, clock: clock)
        }
    }
}
