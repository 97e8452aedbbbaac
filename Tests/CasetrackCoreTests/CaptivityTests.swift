import CasetrackCore
import Testing

/// Captivity events and the facts they make of the record, through the rules alone (the
/// daemon's tests run the same through the store and the socket).
@Suite("Captivity events: place, proof of life, death, remains, corrections")
struct CaptivityTests {
    let clock = WriteClock(now: Timestamp(unixMilliseconds: 1_781_481_600_000))  // 2026-06-15
    let actor = Actor(uid: 1000, pid: 42)

    /// A case and its captivity events, each recorded as the store records them (the next
    /// seq after the case's own).
    struct Case {
        var record: CaseRecord
        var events: [HistoryEvent] = []
        var nextSeq: Int64 = 10
    }

    func opened(_ status: Status = .captive, place: String? = nil) -> Case {
        Case(record: CaseRecord(id: CaseID(number: 7), names: ["Костенко Андрій"], category: .civilian, status: status,
                                since: PartialDate("2016-04-03"), detentionPlace: place, version: 1,
                                createdAt: clock.now, updatedAt: clock.now))
    }

    @discardableResult
    func record(_ type: CaptivityEventType, _ details: CaptivityDetails, at: String? = nil, into kase: inout Case) throws -> Int64 {
        var change = try CaptivityRules.record(kase.record, type, details, details: EventDetails(occurredOn: at.flatMap { PartialDate($0) }),
                                               earlier: kase.events, actor: actor, expectVersion: nil, clock: clock)
        change.event.seq = kase.nextSeq
        kase.nextSeq += 1
        kase.record = change.record
        kase.events.append(change.event)
        return change.event.seq
    }

    func refusal(_ type: CaptivityEventType, _ details: CaptivityDetails, at: String? = nil, on kase: Case) -> CasetrackError? {
        var copy = kase
        do {
            try record(type, details, at: at, into: &copy)
            return nil
        } catch {
            return error as? CasetrackError
        }
    }

    @Test("the proof of life is the one that happened last, not the one recorded last; the same day: recorded later")
    func proofByDay() throws {
        var kase = opened()
        try record(.sighting, CaptivityDetails(place: "Колонія №3", proof: .testimony), at: "2019-09-12", into: &kase)
        #expect(kase.record.proofOfLife == ProofOfLife(on: PartialDate("2019-09-12")!, kind: .testimony))
        try record(.sighting, CaptivityDetails(proof: .video), at: "2023-02", into: &kase)
        try record(.communication, CaptivityDetails(proof: .letter), at: "2022-11-20", into: &kase)
        #expect(kase.record.proofOfLife == ProofOfLife(on: PartialDate("2023-02")!, kind: .video), "an older letter recorded later")
        #expect(kase.events.last?.changes == [], "the letter changed no fact")
        try record(.communication, CaptivityDetails(proof: .call), at: "2023-02", into: &kase)
        #expect(kase.record.proofOfLife?.kind == .call)
        #expect(kase.record.version == 5)
    }

    @Test("a correction replaces a wrong event and a retraction withdraws one; both stay in the history")
    func corrections() throws {
        var kase = opened()
        try record(.sighting, CaptivityDetails(proof: .letter), at: "2020-01", into: &kase)
        let wrong = try record(.sighting, CaptivityDetails(proof: .video), at: "2024-05", into: &kase)
        #expect(kase.record.proofOfLife?.on == PartialDate("2024-05"))
        let fixed = try record(.sighting, CaptivityDetails(proof: .visit, corrects: wrong), at: "2021-07", into: &kase)
        #expect(kase.record.proofOfLife == ProofOfLife(on: PartialDate("2021-07")!, kind: .visit))
        #expect(refusal(.sighting, CaptivityDetails(proof: .call, corrects: wrong), at: "2021", on: kase)?.message
                    .contains("already corrected by event \(fixed)") == true)
        try record(.retraction, CaptivityDetails(corrects: fixed), into: &kase)
        #expect(kase.record.proofOfLife == ProofOfLife(on: PartialDate("2020-01")!, kind: .letter))
        #expect(kase.events.count == 4, "every event stays")
        #expect(kase.events.last?.changes == ["proof_of_life: 2021-07 visit -> 2020-01 letter"])
        // Another type, a retraction, an event of nobody: refused.
        #expect(refusal(.transfer, CaptivityDetails(to: "A", corrects: kase.events[0].seq), at: "2024", on: kase)?.code == .badArgument)
        #expect(refusal(.retraction, CaptivityDetails(corrects: kase.events[3].seq), on: kase)?.code == .badArgument)
        #expect(refusal(.retraction, CaptivityDetails(corrects: 999), on: kase)?.message.contains("corrects=999") == true)
        // What a retraction withdrew is not "corrected": the answer says how to bring it back.
        let withdrawn = refusal(.sighting, CaptivityDetails(proof: .visit, corrects: fixed), at: "2021-07", on: kase)?.message ?? ""
        #expect(withdrawn.contains("was withdrawn by event") && withdrawn.contains("record it again as a new event"), "\(withdrawn)")
    }

    @Test("the detention place follows the last transfer; withdrawing every transfer gives back the first place")
    func transfers() throws {
        var kase = opened(place: "СІЗО, Донецьк")
        let first = try record(.transfer, CaptivityDetails(to: "Колонія №3"), at: "2018-06", into: &kase)
        #expect(kase.events[0].details?.from == "СІЗО, Донецьк", "from: the place it was")
        let second = try record(.transfer, CaptivityDetails(to: "СІЗО-2"), at: "2024-03", into: &kase)
        #expect(kase.record.detentionPlace == "СІЗО-2")
        try record(.transfer, CaptivityDetails(from: "Колонія №1", to: "Колонія №3"), at: "2020", into: &kase)
        #expect(kase.record.detentionPlace == "СІЗО-2", "an older transfer recorded later leaves the place")
        // A sighting does not undo a place set by hand.
        kase.record.detentionPlace = "лікарня, set by UPDATE"
        try record(.sighting, CaptivityDetails(proof: .call), at: "2025", into: &kase)
        #expect(kase.record.detentionPlace == "лікарня, set by UPDATE")
        try record(.retraction, CaptivityDetails(corrects: second), into: &kase)
        #expect(kase.record.detentionPlace == "Колонія №3")
        try record(.retraction, CaptivityDetails(corrects: first), into: &kase)
        try record(.retraction, CaptivityDetails(corrects: kase.events[2].seq), into: &kase)
        #expect(kase.record.detentionPlace == "СІЗО, Донецьк")
        #expect(refusal(.transfer, CaptivityDetails(to: "СІЗО, Донецьк"), at: "2025", on: kase)?.message.contains("same place") == true)

        // A transfer with a wrong day, corrected: it left where the wrong one says, although
        // the person is now there (its destination).
        var moved = opened(place: "СІЗО, Донецьк")
        let misdated = try record(.transfer, CaptivityDetails(to: "Колонія №3"), at: "2019", into: &moved)
        try record(.transfer, CaptivityDetails(to: "Колонія №3", corrects: misdated), at: "2018-06", into: &moved)
        #expect(moved.events.last?.details?.from == "СІЗО, Донецьк" && moved.record.detentionPlace == "Колонія №3")
    }

    @Test("death and remains only on a deceased case; the day of death closes the case on it")
    func death() throws {
        var kase = opened()
        #expect(refusal(.death, CaptivityDetails(cause: "хвороба"), on: kase)?.code == .illegalTransition)
        #expect(refusal(.remains, CaptivityDetails(remains: .buried), on: kase)?.code == .illegalTransition)
        kase.record.status = .deceased
        kase.record.endedOn = PartialDate("2025")
        #expect(refusal(.death, CaptivityDetails(), on: kase)?.code == .badArgument, "a death event that says nothing")
        try record(.death, CaptivityDetails(place: "Лікарня №1", cause: "хвороба"), at: "2025-03-14", into: &kase)
        #expect(kase.record.endedOn == PartialDate("2025-03-14"))
        #expect(kase.record.deathPlace == "Лікарня №1" && kase.record.deathCause == "хвороба")
        #expect(refusal(.death, CaptivityDetails(cause: "x"), at: "2015", on: kase)?.message.contains("before it began") == true)
        try record(.remains, CaptivityDetails(place: "кладовище", remains: .buried), into: &kase)
        try record(.remains, CaptivityDetails(remains: .repatriated), at: "2026-02", into: &kase)
        #expect(kase.record.remains == .repatriated)
        try record(.retraction, CaptivityDetails(corrects: kase.events.last?.seq), into: &kase)
        #expect(kase.record.remains == .buried)
    }

    @Test("no event before the person's birth, no sign of life after the case ended; a death corrected away takes its facts")
    func impossibleDays() throws {
        var kase = opened()
        kase.record.birth = PartialDate("1990-05-02")
        #expect(refusal(.sighting, CaptivityDetails(proof: .video), at: "1990-04", on: kase)?.message.contains("before C-000007 was born") == true)
        try record(.sighting, CaptivityDetails(proof: .video), at: "1990-05", into: &kase)
        var dead = kase
        dead.record.status = .deceased
        dead.record.endedOn = PartialDate("2024-03")
        for type in [CaptivityEventType.sighting, .communication, .transfer, .hospital] {
            let details = CaptivityDetails(place: "P", to: "T", proof: .letter)
            #expect(refusal(type, details, at: "2024-04-01", on: dead)?.message.contains("after C-000007 became deceased (2024-03)") == true, "\(type)")
        }
        try record(.sighting, CaptivityDetails(proof: .letter), at: "2024-03-30", into: &dead)
        try record(.remains, CaptivityDetails(remains: .buried), at: "2025", into: &dead)
        try record(.death, CaptivityDetails(place: "Лікарня №1", cause: "хвороба"), at: "2024-03-31", into: &dead)
        #expect(dead.record.deathPlace == "Лікарня №1" && dead.record.remains == .buried)

        // A new case that would end before its birth.
        var born = NewCase(names: ["Костенко Ірина"], category: .civilian, status: .deceased)
        born.birth = PartialDate("1995")
        let opened = #expect(throws: CasetrackError.self) {
            try CaseRules.open(born, id: CaseID(number: 9), details: EventDetails(occurredOn: PartialDate("1990")), actor: actor, clock: clock)
        }
        #expect(opened?.message.contains("before the birth date 1995") == true, "\(String(describing: opened))")

        // Found alive after all: no place of death, cause or remains stay on the record.
        let alive = try CaseRules.setStatus(dead.record, to: .captive, details: EventDetails(), actor: actor,
                                            expectVersion: nil, correction: true, clock: clock)
        #expect(alive.record.deathPlace == nil && alive.record.deathCause == nil && alive.record.remains == nil && alive.record.endedOn == nil)
    }

    @Test("what each type needs: a day, its own keys")
    func checks() throws {
        let kase = opened()
        for type in [CaptivityEventType.transfer, .hospital, .sighting, .communication] {
            let details = CaptivityDetails(place: "P", to: "T", proof: .letter)
            #expect(refusal(type, details, on: kase)?.message.contains("needs at=DATE") == true, "\(type)")
        }
        #expect(refusal(.transfer, CaptivityDetails(from: "A"), at: "2024", on: kase)?.message.contains("to=PLACE") == true)
        #expect(refusal(.hospital, CaptivityDetails(), at: "2024", on: kase)?.message.contains("place=") == true)
        #expect(refusal(.hospital, CaptivityDetails(place: "H", until: PartialDate("2024-01")), at: "2024-02", on: kase)?
                    .message.contains("before the stay began") == true)
        #expect(refusal(.sighting, CaptivityDetails(place: "P"), at: "2024", on: kase)?.message.contains("proof=") == true)
        #expect(refusal(.communication, CaptivityDetails(proof: .video), at: "2024", on: kase)?.message.contains("letter or proof=call") == true)
        #expect(refusal(.retraction, CaptivityDetails(), on: kase)?.message.contains("corrects=SEQ") == true)
    }

    @Test("EVENT on the wire: a key of another type, an unknown type or kind, a future day are refused")
    func requests() throws {
        let today = Day(year: 2026, month: 6, day: 15)!
        func command(_ line: String) throws -> Command { try Command(try Request(line: line), today: today) }
        let parsed = try command("EVENT C-7 sighting proof=Letter place=\"Табір №2\" at=2024-05 source=ICRC corrects=12")
        #expect(parsed == .recordEvent(CaseID(number: 7), .sighting, CaptivityDetails(place: "Табір №2", proof: .letter, corrects: 12),
                                       EventDetails(occurredOn: PartialDate("2024-05"), source: "ICRC"), expectVersion: nil))
        #expect(parsed.requiredRole == .writer && parsed.isWrite)
        for (line, says) in [
            ("EVENT C-7 transfer to=A proof=letter at=2024", "a transfer event takes no proof="),
            ("EVENT C-7 escape at=2024", "not an event type"),
            ("EVENT C-7 communication proof=video at=2024", "not a kind of proof here"),
            ("EVENT C-7 remains remains=lost", "not a state of remains"),
            ("EVENT C-7 sighting proof=call at=2027", "in the future"),
            ("EVENT C-7 retraction corrects=-3", "is not an event's seq"),
            ("EVENT C-7", "missing TYPE"),
        ] {
            #expect(throws: CasetrackError.self, "\(line)") { try command(line) }
            do { _ = try command(line) } catch let error as CasetrackError {
                #expect(error.code == .badArgument && error.message.contains(says), "\(line): \(error.message)")
            }
        }
    }

    @Test("details read back as written, and so does the record")
    func roundTrip() throws {
        let details = CaptivityDetails(place: "Табір \"Північ\"", from: "A", to: "B", until: PartialDate("2024-02-29"), proof: .visit,
                                       cause: "рядок\nдругий", remains: .identified, corrects: 41)
        #expect(try CaptivityDetails(text: details.text) == details)
        var kase = opened()
        try record(.sighting, CaptivityDetails(proof: .testimony), at: "2023-05", into: &kase)
        let fields = kase.record.fields(today: clock.today)
        #expect(fields.string("proof_of_life") == "2023-05" && fields.string("proof_kind") == "testimony")
        #expect(try CaseRecord(fields: fields) == kase.record)
        let event = try #require(kase.events.first)
        #expect(try HistoryEvent(fields: event.fields) == event)
    }
}
