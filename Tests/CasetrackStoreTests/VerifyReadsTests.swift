import CasetrackCore
@testable import CasetrackStore
import Foundation
import GRDB
import Synchronization
import Testing
import TestThreads

/// VERIFY reads the register in ranges, each in a read transaction of its own, so that the
/// WAL can be checkpointed while it runs. Ranges of a few cases or events find exactly what
/// one transaction over everything finds, wherever the damage sits against their edges.
@Suite("VERIFY in ranges", .blocking)
struct VerifyReadsTests {
    static func register(_ path: String) async throws {
        try await ImageMigrationTests.withRunning(path) { store in
            var ids: [CaseID] = []
            for number in 1...40 {
                let new = NewCase(names: ["Коваль Андрій \(number)"], category: number % 3 == 0 ? .civilian : .military,
                                  tags: ["t\(number % 4)"], status: .captive, since: PartialDate("2022-0\(number % 9 + 1)"),
                                  references: ["KV-\(number)"])
                ids.append(try await store.add(new, details: EventDetails(), actor: testActor, clock: clock(Int64(number))).record.id)
            }
            for (index, id) in ids.enumerated() where index % 3 == 1 {
                _ = try await store.setStatus(id, to: .returned, details: EventDetails(), actor: testActor,
                                              expectVersion: nil, correction: false, clock: clock(Int64(100 + index)))
            }
            _ = try await store.merge(ids[21], into: ids[23], prefer: Dictionary(uniqueKeysWithValues: MergeField.allCases.map { ($0, .target) }),
                                      details: EventDetails(), actor: testActor, expectVersion: nil, targetVersion: nil, clock: clock(500))
        }
    }

    static func summary(_ report: ChainReport) -> String {
        "events=\(report.events) first=\(report.firstSeq) last=\(report.lastSeq) head=\(report.head) "
            + report.problems.map { "\($0.subject): \($0.message)" }.joined(separator: " | ")
    }

    @Test("small ranges report what one whole read reports, for every kind of damage")
    func rangesAgree() async throws { try await withFolder { folder in
        let original = folder.appendingPathComponent("original.sqlite").path
        try await Self.register(original)
        let tampers = [
            "SELECT 1",
            "UPDATE events SET source = 'forged' WHERE seq = 7",
            "DELETE FROM events WHERE seq IN (13, 14)",
            "UPDATE events SET seq = -1 WHERE seq = 20; UPDATE events SET seq = 20 WHERE seq = 21; UPDATE events SET seq = 21 WHERE seq = -1",
            "DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)",
            "UPDATE cases SET notes = 'переписано' WHERE id IN (6, 7, 8, 30)",
            "DELETE FROM case_refs WHERE case_id = 9",
            "DELETE FROM cases WHERE id IN (10, 40)",
            "CREATE TEMP TABLE t AS SELECT * FROM cases WHERE id = 8; UPDATE t SET id = 999; INSERT INTO cases SELECT * FROM t",
            "CREATE TEMP TABLE t AS SELECT * FROM cases WHERE id = 24; UPDATE t SET id = 22; INSERT INTO cases SELECT * FROM t",
            "UPDATE counters SET value = value + 1 WHERE name = 'cases'",
        ]
        for (index, tamper) in tampers.enumerated() {
            let path = folder.appendingPathComponent("t\(index).sqlite").path
            try FileManager.default.copyItem(atPath: original, toPath: path)
            let queue = try DatabaseQueue(path: path)
            try await queue.write { try $0.execute(sql: tamper) }
            try queue.close()
            let store = try SQLiteCaseStore(path: path)
            let whole = try await store.pool.read { try SQLiteCaseStore.verifyWhole($0) }
            #expect(whole.ok == (index == 0), "\(tamper): \(Self.summary(whole))")
            for (cases, events) in [(Int64(1), 1), (3, 7), (7, 13), (1_000, 100_000)] {
                let ranged = try await store.verify(casesPerRead: cases, eventsPerRead: events)
                #expect(Self.summary(ranged) == Self.summary(whole), "\(tamper), \(cases) cases and \(events) events a read")
            }
            try store.close()
        }
    } }

    @Test("changes written between VERIFY's reads are not counted against it; the next one checks them")
    func writesDuringVerify() async throws { try await withFolder { folder in
        let path = folder.appendingPathComponent("cases.sqlite").path
        try await Self.register(path)
        try await ImageMigrationTests.withRunning(path) { store in
            let before = try await store.verify()
            // One change between every two reads, to cases both checked and not yet checked.
            let written = Mutex(0)
            let during = try await store.verify(casesPerRead: 1, eventsPerRead: 1) {
                let number = written.withLock { count -> Int in
                    count += 1
                    return count
                }
                let id = 41 - number  // from the last case down: checked ones and ones still to check
                guard number <= 30, id != 22 else { return }  // 22 was merged away
                _ = try await store.setStatus(CaseID(number: Int64(id)), to: .missing, details: EventDetails(), actor: testActor,
                                              expectVersion: nil, correction: true, clock: clock(Int64(1_000 + number)))
            }
            #expect(during.ok, "\(Self.summary(during))")
            #expect(during.lastSeq == before.lastSeq, "the log as it stood when the check began")
            let after = try await store.verify()
            #expect(after.ok && after.lastSeq == before.lastSeq + 29, "\(Self.summary(after))")
        }
    } }
}
