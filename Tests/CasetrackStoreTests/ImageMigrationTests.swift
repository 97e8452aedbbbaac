import CasetrackCore
@testable import CasetrackStore
import Foundation
import GRDB
import Testing
import TestThreads

/// Schema v9 gives events after-images. A database a v8 casetrackd wrote (no images, its chain
/// hashed without them) must verify after the upgrade and rebuild from its log.
@Suite("After-images: the upgrade from a log without them", .blocking)
struct ImageMigrationTests {
    @Test("a v8 database upgrades: its rows become images, the old chain still holds, and it rebuilds")
    func upgradeFromV8() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("casetrack-v8-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("cases.sqlite").path

        // A register with creations, changes and a merge, written by this version...
        var ids: [CaseID] = []
        try await Self.withRunning(path) { store in
            for number in 1...8 {
                let new = NewCase(names: ["Мельничук Тарас \(number)"], category: number % 2 == 0 ? .civilian : .military,
                                  tags: ["t\(number)"], status: .captive, since: PartialDate("2023-0\(number)"), references: ["MG-\(number)"])
                ids.append(try await store.add(new, details: EventDetails(), actor: testActor, clock: clock(Int64(number))).record.id)
            }
            _ = try await store.setStatus(ids[1], to: .returned, details: EventDetails(), actor: testActor,
                                          expectVersion: nil, correction: false, clock: clock(20))
            _ = try await store.merge(ids[3], into: ids[2], prefer: Dictionary(uniqueKeysWithValues: MergeField.allCases.map { ($0, .target) }),
                                      details: EventDetails(), actor: testActor, expectVersion: nil, targetVersion: nil, clock: clock(30))
        }
        // ...then made into what v8 wrote: no images, every hash over the 21 columns before them.
        let queue = try DatabaseQueue(path: path)
        let events = try await queue.write { db -> Int64 in
            var previous = EventChain.genesis
            let rows = try Row.fetchAll(db, sql: "SELECT \(EventChain.columnsBeforeImagesList) FROM events ORDER BY seq")
            for row in rows {
                let values = (0..<EventChain.columnsBeforeImages).map { row[$0] as DatabaseValue }
                previous = EventChain.link(previous, values)
                try db.execute(sql: "UPDATE events SET hash = ? WHERE seq = ?", arguments: [previous, values[0]])
            }
            try db.execute(sql: """
                ALTER TABLE events DROP COLUMN image;
                DELETE FROM counters WHERE name = 'images_from';
                DELETE FROM grdb_migrations WHERE identifier LIKE 'v9:%';
                """)
            return Int64(rows.count)
        }
        try queue.close()

        try await Self.withRunning(path) { store in
            let report = try await store.verify()
            #expect(report.ok, "\(report.problems)")
            #expect(report.events == Int(events) && report.lastSeq == events)
            // A change after the upgrade is chained with its image, and still verifies.
            _ = try await store.setStatus(ids[0], to: .deceased, details: EventDetails(), actor: testActor,
                                          expectVersion: nil, correction: false, clock: clock(40))
            let after = try await store.verify()
            #expect(after.ok && after.events == Int(events) + 1, "\(after.problems)")
        }
        let upgraded = try DatabaseQueue(path: path)
        let (imagesFrom, imaged) = try await upgraded.read { db in
            (try Int64.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'images_from'"),
             try Int.fetchOne(db, sql: "SELECT count(DISTINCT case_id) FROM events WHERE image IS NOT NULL"))
        }
        try upgraded.close()
        #expect(imagesFrom == events + 1)
        #expect(imaged == 8, "every case, the merged-away one too, has an image")

        let outcome = try LogRebuild.run(path: path, acceptLoss: false) { _ in }
        #expect(outcome.cut == nil && outcome.lostTables.isEmpty && outcome.oldFile != nil)
        #expect(outcome.events == Int(events) + 1 && outcome.cases == 7)
        try await Self.withRunning(path) { store in
            let report = try await store.verify()
            let first = try await store.get(ids[0])
            let merged = await #expect(throws: CasetrackError.self) { try await store.get(ids[3]) }
            #expect(report.ok, "\(report.problems)")
            #expect(first?.status == .deceased)
            #expect(merged?.code == .merged, "the merged-away case reads as merged, not as missing")
        }
    }

    static func withRunning(_ path: String, _ body: (SQLiteCaseStore) async throws -> Void) async throws {
        let store = try SQLiteCaseStore(path: path)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            try await body(store)
            group.cancelAll()
            try await group.waitForAll()
        }
        try store.close()
    }
}
