import CasetrackCore
import Testing

/// What a merge joins, keeps and refuses, through the rules alone (the store's tests run
/// merges end to end).
@Suite("Merge rules")
struct MergeRulesTests {
    let now = Timestamp(unixMilliseconds: 1_781_481_600_000)

    func record(_ number: Int64, service: String?, unit: String?) -> CaseRecord {
        CaseRecord(id: CaseID(number: number), names: ["Гнатюк Остап"], category: .military, unit: unit, status: .captive,
                   version: 1, createdAt: now, updatedAt: now, serviceNumber: service)
    }

    @Test("one service number or unit written two ways is no conflict: the target's spelling stays")
    func spellingsAgree() throws {
        let target = record(2, service: "ЖС-401522", unit: "54 ОМБр")
        let source = record(1, service: "жс 401522", unit: "54  омбр")
        let (merged, changes) = try MergeRules.merged(source, into: target, prefer: [:])
        #expect(merged.serviceNumber == "ЖС-401522" && merged.unit == "54 ОМБр")
        #expect(changes.isEmpty, "\(changes)")
        // Another number is still a conflict to decide.
        #expect(throws: CasetrackError.self) {
            try MergeRules.merged(record(1, service: "ЖС-401523", unit: nil), into: target, prefer: [:])
        }
    }
}
