import CasetrackCore
@testable import CasetrackStore
import CasetrackTestSupport
import Foundation
import GRDB
import Testing

@Suite("The redo log")
struct RedoLogTests {
    static func folder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("casetrack-redo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    static func append(_ log: RedoLog, _ group: Int64, bytes: Int) throws -> [UInt8] {
        let payload = (0..<bytes).map { UInt8(truncatingIfNeeded: Int(group) &* 31 &+ $0) }
        let appended = try payload.withUnsafeBytes { try log.append(group: group, changeset: $0) }
        #expect(appended == .written)
        log.committed(group: group)
        return payload
    }

    @Test("records read back in order across both segments; a torn or corrupt tail ends the log there")
    func records() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let database = folder.appendingPathComponent("cases.sqlite").path
        // Small segments: 20 records of 1,000 bytes fill several, so the writer wraps.
        var written: [Int64: [UInt8]] = [:]
        do {
            let log = try RedoLog(database: database, segmentSize: 16_384)
            log.start(after: try log.recover(), group: 0)
            for group in Int64(1)...20 { written[group] = try Self.append(log, group, bytes: 1_000) }
        }
        let log = try RedoLog(database: database, segmentSize: 16_384)
        let found = try log.recover()
        // Only what the two segments still hold: the newest records, contiguous, intact.
        let groups = found.records.map(\.group)
        #expect(groups.last == 20 && groups.count >= 12)
        #expect(groups == Array((groups.first ?? 0)...20), "\(groups)")
        for record in found.records { #expect(record.changeset == written[record.group]) }

        // One byte of the last record changed on disk: the log ends before it.
        let segments = log.paths.map { path in (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data() }
        let holder = segments.firstIndex { segment in
            segment.range(of: Data(written[20] ?? [])) != nil
        }
        let index = try #require(holder)
        var damaged = segments[index]
        let at = try #require(damaged.range(of: Data(written[20] ?? []))).lowerBound + 500
        damaged[at] ^= 0xFF
        try damaged.write(to: URL(fileURLWithPath: log.paths[index]))
        let cut = try RedoLog(database: database, segmentSize: 16_384).recover().records.map(\.group)
        #expect(cut.last == 19, "\(cut)")
    }

    @Test("a retracted record is gone, and the next one takes its place")
    func retract() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let database = folder.appendingPathComponent("cases.sqlite").path
        do {
            let log = try RedoLog(database: database, segmentSize: 65_536)
            log.start(after: try log.recover(), group: 0)
            _ = try Self.append(log, 1, bytes: 100)
            let payload = [UInt8](repeating: 7, count: 100)
            _ = try payload.withUnsafeBytes { try log.append(group: 2, changeset: $0) }
            try log.retract()
            #expect(try RedoLog(database: database, segmentSize: 65_536).recover().records.map(\.group) == [1])
            _ = try Self.append(log, 2, bytes: 50)
        }
        let records = try RedoLog(database: database, segmentSize: 65_536).recover().records
        #expect(records.map(\.group) == [1, 2] && records.last?.changeset.count == 50)
    }

    /// A store run: cases added, changed, refused, an exchange; BACKUP in the middle.
    static func run(_ path: String, backup: String) async throws {
        let store = try SQLiteCaseStore(path: path)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            defer { group.cancelAll() }
            var ids: [CaseID] = []
            for number in 1...8 {
                let new = NewCase(names: ["Гнатюк Тарас \(number)", "Hnatiuk Taras"], birth: PartialDate(year: 1980 + number),
                                  category: number % 2 == 0 ? .civilian : .military, unit: "unit \(number % 3)",
                                  tags: ["t\(number % 2)"], status: .captive, since: PartialDate("2022-0\(number % 9 + 1)"),
                                  references: ["REDO-\(number)"])
                ids.append(try await store.add(new, details: EventDetails(), actor: testActor, clock: clock(Int64(number))).record.id)
                if number == 4 { _ = try await store.backup(to: backup) }
            }
            _ = try await store.setStatus(ids[0], to: .returned, details: EventDetails(occurredOn: PartialDate("2024-05")),
                                          actor: testActor, expectVersion: nil, correction: false, clock: clock(20))
            // Refused: a reference another case has. Nothing of it may reach the log.
            var clash = CaseUpdate()
            clash.addReferences = ["REDO-3"]
            await #expect(throws: CasetrackError.self) {
                _ = try await store.update(ids[1], clash, details: EventDetails(), actor: testActor, expectVersion: nil, clock: clock(21))
            }
            var update = CaseUpdate()
            update.addTags = ["moved"]
            update.names = ["Гнатюк Тарас", "Hnatiuk Taras"]
            _ = try await store.update(ids[2], update, details: EventDetails(), actor: testActor, expectVersion: nil, clock: clock(22))
            _ = try await store.createExchange(Exchange(name: "Весна", date: PartialDate(year: 2026, month: 3)!, phases: 2,
                                                         createdAt: clock(23).now), actor: testActor)
        }
        try store.close()
    }

    static func dump(_ path: String) throws -> String {
        let result = try DaemonProcess.run(URL(fileURLWithPath: "/usr/bin/sqlite3"), [path, ".dump"])
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout
    }

    @Test("a backup with the log beside it comes back to the very state the log ends in")
    func rollForward() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("cases.sqlite").path
        let backup = folder.appendingPathComponent("backup.sqlite").path
        try await Self.run(path, backup: backup)

        // The backup, as if it were the database that lost the rounds after it, with the
        // log the original wrote.
        let other = try Self.folder()
        defer { try? FileManager.default.removeItem(at: other) }
        let restored = other.appendingPathComponent("cases.sqlite").path
        try FileManager.default.copyItem(atPath: backup, toPath: restored)
        for suffix in ["-log.0", "-log.1"] { try FileManager.default.copyItem(atPath: path + suffix, toPath: restored + suffix) }
        #expect(try Self.dump(restored) != Self.dump(path), "the backup lacks the later rounds")
        let store = try SQLiteCaseStore(path: restored)
        #expect(store.recovery.applied >= 6 && store.recovery.cut == nil && store.recovery.ignored == nil, "\(store.recovery)")
        try store.close()
        // Every row of every table, and the schema; its statements' order aside (a backup
        // is written by VACUUM INTO, which lists the indexes in another order).
        let (mine, theirs) = (try Self.dump(restored), try Self.dump(path))
        #expect(mine.split(separator: "\n").sorted() == theirs.split(separator: "\n").sorted())
        #expect(mine.contains("INSERT INTO exchanges") && mine.contains("'moved'"), "the later rounds are there")
    }
}
