import CasetrackCore
import Testing

@Suite("Matching a list and applying a later one, without a daemon")
struct ListMatchingTests {
    let clock = WriteClock(now: Timestamp(unixMilliseconds: 1_781_481_600_000))  // 2026-06-15
    let actor = Actor(uid: 1000, pid: 42)
    var today: Day { clock.today }

    func candidate(_ number: Int64, _ score: Double, _ reasons: [String]) -> MatchCandidate {
        MatchCandidate(id: CaseID(number: number), score: score, reasons: reasons, status: .captive)
    }

    @Test("a number one case has decides; the same number on two cases decides nothing; likely cases are probable")
    func decide() {
        let one = MatchOutcome.decide(row: 1, scored: [candidate(4, 1, ["same-reference"]), candidate(9, 0.8, ["names"])],
                                      minimumScore: 0.5, limit: 3)
        #expect(one.kind == .exact && one.candidates.map(\.id.number) == [4])
        #expect(one.accepted(threshold: 0.5) == CaseID(number: 4))

        let two = MatchOutcome.decide(row: 1, scored: [candidate(4, 1, ["same-service-number"]), candidate(2, 1, ["same-service-number"])],
                                      minimumScore: 0.5, limit: 3)
        #expect(two.kind == .probable && two.candidates.map(\.id.number) == [2, 4])
        #expect(two.accepted(threshold: 0.5) == nil, "a person decides between two cases with one number")

        let likely = MatchOutcome.decide(row: 1, scored: [candidate(3, 0.6, ["names"]), candidate(8, 0.9, ["names", "birth"]),
                                                          candidate(5, 0.2, ["names"])],
                                         minimumScore: 0.5, limit: 1)
        #expect(likely.kind == .probable && likely.candidates.map(\.id.number) == [8], "best first, at most limit")
        #expect(likely.accepted(threshold: 0.5) == CaseID(number: 8))
        #expect(MatchOutcome.decide(row: 1, scored: [candidate(5, 0.2, ["names"])], minimumScore: 0.5, limit: 3).kind == .none)
    }

    @Test("a match row takes what describes a person and our id; bad values and empty rows are refused")
    func rows() throws {
        let row = try MatchRow(#"name="Ševčenko Taras" birth=1990 service_number=AA-1 ref=X-1 id=C-000007 status=captive"#, today: today)
        #expect(row.caseID == CaseID(number: 7))
        #expect(row.identity.names == ["Ševčenko Taras"] && row.identity.birth?.year == 1990)
        #expect(row.identity.serviceNumber == "AA-1" && row.identity.references == ["X-1"])
        #expect(throws: CasetrackError.self) { try MatchRow("status=captive", today: today) }
        #expect(throws: CasetrackError.self) { try MatchRow("name=X birth=1990-13", today: today) }
        #expect(throws: CasetrackError.self) { try MatchRow("id=C-1 id=C-2", today: today) }
        #expect(throws: CasetrackError.self) { try MatchRow("name=X shoe=44", today: today) }
    }

    @Test("a later list adds names and references, fills fields, moves the status: one event, none when nothing is new")
    func revise() throws {
        let opened = try CaseRules.open(
            NewCase(names: ["Гнатюк Остап"], category: .military, status: .missing, references: ["RG-1"]),
            id: CaseID(number: 1), details: EventDetails(), actor: actor, clock: clock)
        let row = try UpdateRow("ref=RG-1 ref=RG-9 name=\"Hnatiuk Ostap\" status=captive unit= at=2026-05 source=\"ICRC list\"",
                                today: today)
        let change = try #require(try CaseRules.revise(opened.record, row, actor: actor, clock: clock))
        #expect(change.event.kind == .status && change.event.oldStatus == .missing && change.event.newStatus == .captive)
        #expect(change.event.occurredOn?.description == "2026-05" && change.event.source == "ICRC list")
        #expect(change.record.names == ["Гнатюк Остап", "Hnatiuk Ostap"] && change.record.references == ["RG-1", "RG-9"])
        #expect(change.event.changes.count == 2, "names and refs; an empty unit leaves the unit alone: \(change.event.changes)")
        #expect(change.record.version == 2)
        #expect(try CaseRules.revise(change.record, row, actor: actor, clock: clock) == nil, "applying it again changes nothing")

        let fieldsOnly = try UpdateRow("ref=RG-1 detention_place=\"СІЗО-2\"", today: today)
        let update = try #require(try CaseRules.revise(change.record, fieldsOnly, actor: actor, clock: clock))
        #expect(update.event.kind == .update && update.record.detentionPlace == "СІЗО-2")

        let backwards = try UpdateRow("ref=RG-1 status=returned", today: today)
        let returned = try #require(try CaseRules.revise(change.record, backwards, actor: actor, clock: clock)).record
        #expect(throws: CasetrackError.self, "the lifecycle holds for lists too") {
            try CaseRules.revise(returned, try UpdateRow("ref=RG-1 status=missing", today: today), actor: actor, clock: clock)
        }
        #expect(throws: CasetrackError.self) { try UpdateRow("name=X", today: today) }

        // A list that knows only the year of a birth day on record leaves the day; a day in
        // another year replaces it, as a later list may correct.
        var born = update.record
        born.birth = PartialDate("1991-03-12")
        #expect(try CaseRules.revise(born, try UpdateRow("ref=RG-1 birth=1991", today: today), actor: actor, clock: clock) == nil)
        let corrected = try CaseRules.revise(born, try UpdateRow("ref=RG-1 birth=1992", today: today), actor: actor, clock: clock)
        #expect(corrected?.record.birth == PartialDate("1992"))
        let finer = try CaseRules.revise(born, try UpdateRow("ref=RG-1 birth=1991-03-12", today: today), actor: actor, clock: clock)
        #expect(finer == nil, "the same day changes nothing")
    }
}
