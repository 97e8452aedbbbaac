import CasetrackCore
#if Postgres
import CasetrackPostgres
import Logging
#endif
@testable import CasetrackStore
import CasetrackTestSupport
import Foundation
import GRDB
import Testing
import TestThreads

@Suite("SQLite store", .blocking)
struct StoreTests {
    @Test("add, get, change, history: versions and gap-free sequence numbers", arguments: StoreKind.all)
    func basics(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let new = NewCase(names: ["Іваненко Петро", "Ivanenko Petro"], category: .military, unit: "12th brigade",
                              tags: ["azov"], status: .captive, since: PartialDate("2022-05-20"), references: ["UA-1"])
            let added = try await store.add(new, details: EventDetails(source: "official statement", confidence: .confirmed),
                                            actor: testActor, clock: clock())
            #expect(added.record.id.description == "C-000001" && added.record.version == 1 && added.event.seq == 1)
            #expect(try await store.get(added.record.id) == added.record)

            let returned = try await store.setStatus(added.record.id, to: .returned,
                                                     details: EventDetails(occurredOn: PartialDate("2025-05-23")),
                                                     actor: testActor, expectVersion: 1, correction: false, clock: clock(1))
            #expect(returned.record.version == 2 && returned.event.seq == 2 && returned.record.endedOn == PartialDate("2025-05-23"))

            let history = try #require(try await store.history(added.record.id))
            #expect(history.map(\.seq) == [1, 2])
            #expect(history.map(\.kind) == [.created, .status])
            #expect(history[1].actor == testActor && history[1].version == 2)
            #expect(try await store.history(CaseID(number: 99)) == nil)
            #expect(try await store.lastSequence() == 2)
        }
    }

    @Test("reads without waiting: a prefix of the ids, one snapshot per call, never an old one after")
    func readsNow() async throws {
        try await withStore { store, path in
            var records: [CaseRecord] = []
            for name in ["Оксана Левчук", "Marko Dovhan", "Ярема Шульга"] {
                records.append(try await store.add(NewCase(names: [name], category: .civilian, status: .captive),
                                                   details: EventDetails(), actor: testActor, clock: clock()).record)
            }
            let ids = records.map(\.id)
            #expect(store.getNow([]) == [])
            #expect(store.getNow(ids) == records)
            #expect(store.getNow([ids[2], ids[0]]) == [records[2], records[0]])
            // It stops at a case it does not serve: the rest are left to get().
            #expect(store.getNow([ids[0], CaseID(number: 99), ids[1]]) == [records[0]])
            #expect(store.getNow([CaseID(number: 99), ids[1]]) == [])
            // Each call sees what was acknowledged before it: no snapshot is kept between calls.
            let changed = try await store.setStatus(ids[1], to: .returned, details: EventDetails(occurredOn: PartialDate("2025-05-23")),
                                                    actor: testActor, expectVersion: 1, correction: false, clock: clock(1))
            #expect(store.getNow([ids[0], ids[1]]) == [records[0], changed.record])
            #expect(store.getNow([ids[1]]) == [changed.record])

            // The snapshot is taken by the time `whenBegun` runs: a change committed in it is
            // not in the rest of that read, and is in a read begun there on another thread
            // (a thread reads through its own connection, as the read helper does).
            let other = try DatabaseQueue(path: path)
            var begun = 0
            var inner: [CaseRecord] = []
            let before = store.getNow([ids[0], ids[2]]) {
                begun += 1
                try? other.write { db in
                    try db.execute(sql: "UPDATE cases SET unit = 'Unit changed meanwhile' WHERE id = ?", arguments: [ids[2].number])
                }
                inner = onAnotherThread { store.getNow([ids[2]]) }
            }
            #expect(begun == 1)
            #expect(before == [records[0], records[2]], "the rest of the read is in the snapshot taken before the change")
            #expect(inner.map(\.unit) == ["Unit changed meanwhile"], "a read begun in whenBegun sees it")
            #expect(store.getNow([CaseID(number: 99), ids[0]]) { begun += 1 } == [])
            #expect(begun == 1, "not called when no case is served")
        }
    }

    @Test("a write alone in its round: a refusal rolls the round back, a success (even an empty result) stays")
    func aloneInRound() async throws {
        try await withStore { store, _ in
            try await store.writer.submit { db in try db.execute(sql: "CREATE TABLE probe (x INTEGER)") }
            // Each submitted and awaited alone: each is the only write of its round.
            let empty: Int64? = try await store.writer.submit(solo: true) { db -> Int64? in
                try db.execute(sql: "INSERT INTO probe VALUES (1)")
                return nil
            }
            #expect(empty == nil)
            await #expect(throws: CasetrackError.self) {
                try await store.writer.submit(solo: true) { db in
                    try db.execute(sql: "INSERT INTO probe VALUES (2)")
                    throw CasetrackError(.badArgument, "refused")
                }
            }
            let kept = try await store.read { db in try Int64.fetchAll(db, sql: "SELECT x FROM probe") }
            #expect(kept == [1], "the answered write stays; the refused one left nothing")
        }
    }

    @Test("a change rewrites only what differs: side tables, indexes and the case count stay exact", arguments: StoreKind.all)
    func partialRewrites(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            var ids: [CaseID] = []
            for number in 1...6 {
                let new = NewCase(names: ["Коваленко Олена \(number)", "Kovalenko Olena"], category: number % 2 == 0 ? .civilian : .military,
                                  unit: "unit \(number)", tags: ["t\(number)"], status: .captive, since: PartialDate("2019-03"),
                                  references: ["R-\(number)"])
                ids.append(try await store.add(new, details: EventDetails(), actor: testActor, clock: clock()).record.id)
            }
            // A status change, then changes to every side-table source, then nothing at all.
            _ = try await store.setStatus(ids[0], to: .missing, details: EventDetails(), actor: testActor,
                                          expectVersion: nil, correction: false, clock: clock(1))
            var update = CaseUpdate()
            update.names = ["Мельник Андрій"]
            update.addTags = ["moved"]
            update.removeReferences = ["R-2"]
            update.addReferences = ["R-2b", "R-2c"]
            update.category = .military
            _ = try await store.update(ids[1], update, details: EventDetails(), actor: testActor, expectVersion: nil, clock: clock(2))
            var notes = CaseUpdate()
            notes.notes = "seen in a list"
            _ = try await store.update(ids[2], notes, details: EventDetails(), actor: testActor, expectVersion: nil, clock: clock(3))

            let (tags, refs, keys, count, integrity) = try await store.pool.read { db in
                (try Row.fetchAll(db, sql: "SELECT case_id, tag FROM case_tags ORDER BY 1, 2").map { "\($0[0] as Int64) \($0[1] as String)" },
                 try Row.fetchAll(db, sql: "SELECT case_id, ref FROM case_refs ORDER BY 1, 2").map { "\($0[0] as Int64) \($0[1] as String)" },
                 try Row.fetchAll(db, sql: "SELECT case_id, key FROM case_name_keys ORDER BY 1, 2").map { "\($0[0] as Int64) \($0[1] as String)" },
                 try Int.fetchOne(db, sql: "SELECT count(*) FROM cases") ?? -1,
                 try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "")
            }
            var expectedTags: [String] = [], expectedRefs: [String] = [], expectedKeys: [String] = []
            for id in ids {
                let record = try #require(try await store.get(id))
                expectedTags += record.tags.map { "\(id.number) \($0)" }
                expectedRefs += record.references.map { "\(id.number) \($0)" }
                expectedKeys += Set(NameKey.keys(for: record.names)).map { "\(id.number) \($0)" }
            }
            #expect(tags == expectedTags.sorted())
            #expect(refs == expectedRefs.sorted())
            #expect(keys == expectedKeys.sorted())
            #expect(refs.contains("2 R-2b") && !refs.contains("2 R-2"))
            #expect(integrity == "ok", "every index agrees with its table")
            #expect(try await store.count(CaseFilter(), today: testToday) == count && count == 6)
            // The span counts followed the status and category changes above.
            var records: [CaseRecord] = []
            for id in ids { records.append(try #require(try await store.get(id))) }
            for categories in [Set<Category>(), [.military], [.civilian]] {
                var held = CaseFilter()
                held.statuses = [.captive, .missing]
                held.categories = categories
                held.heldMin = HeldDuration(years: 7)
                #expect(FilterSQL.heldCount(held, today: testToday) != nil, "counted from the span counts")
                #expect(try await store.count(held, today: testToday) == records.filter { held.matches($0, today: testToday) }.count)
            }
            var byName = CaseFilter()
            byName.name = "Мельник"
            #expect(try await store.list(byName, today: testToday, limit: 10, after: nil).map(\.id) == [ids[1]])
            byName.name = "Коваленко"
            #expect(try await store.list(byName, today: testToday, limit: 10, after: nil).count == 5)
        }
    }

    @Test("committed pages reach the database file beside the writer, long before its own checkpoint threshold", arguments: StoreKind.all)
    func backgroundCheckpoint(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, path in
            func size() -> Int { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
            let before = size()
            var written = 0
            for number in 1...200 {
                let new = NewCase(names: ["Бондар Ірина \(number)"], category: .civilian, status: .missing, references: ["CP-\(number)"])
                written += try await store.add(new, details: EventDetails(), actor: testActor, clock: clock()).record.id.number > 0 ? 1 : 0
            }
            #expect(written == 200)
            // The writer checkpoints only past 16,000 WAL pages; 200 cases are far fewer. Only
            // the checkpointer can have grown the file.
            var grown = false
            for _ in 0..<100 where !grown {
                grown = size() > before
                if !grown { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(grown, "the database file is still \(before) bytes: nothing was checkpointed")
            #expect(try await store.writerPragma("wal_autocheckpoint") == "\(Checkpointer.writerBackstop)")
        }
    }

    @Test("WAL and synchronous=FULL on the connection that commits (an office's copy: NORMAL, the shared store is durable)",
          arguments: StoreKind.all)
    func durabilitySettings(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let journal = try await store.writerPragma("journal_mode")
            let synchronous = try await store.writerPragma("synchronous")
            #expect(journal == "wal")
            #expect(synchronous == (kind == .sqlite ? "2" : "1"), "2 is FULL, 1 NORMAL")
        }
    }

    @Test("refused writes change nothing and leave no gap in the sequence", arguments: StoreKind.all)
    func refusals(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, path in
            let first = try await store.add(NewCase(names: ["Бойко Оксана"], category: .civilian, status: .captive,
                                                    references: ["REF-7"]),
                                            details: EventDetails(), actor: testActor, clock: clock())
            let id = first.record.id
            let before = try Self.dump(path)
            await #expect(throws: CasetrackError.self) {
                try await store.setStatus(id, to: .returned, details: EventDetails(), actor: testActor, expectVersion: 5,
                                          correction: false, clock: clock(1))
            }
            await #expect(throws: CasetrackError.self) {
                try await store.setStatus(id, to: .captive, details: EventDetails(), actor: testActor, expectVersion: nil,
                                          correction: false, clock: clock(1))
            }
            await #expect(throws: CasetrackError.self) {
                try await store.setStatus(CaseID(number: 404), to: .returned, details: EventDetails(), actor: testActor,
                                          expectVersion: nil, correction: false, clock: clock(1))
            }
            await #expect { try await store.add(NewCase(names: ["Жук Тарас"], category: .military, status: .missing,
                                                         references: ["REF-7"]),
                                                 details: EventDetails(), actor: testActor, clock: clock(1))
            } throws: { ($0 as? CasetrackError)?.code == .duplicateReference && "\($0)".contains("C-000001") }
            #expect(try Self.dump(path) == before)

            let next = try await store.add(NewCase(names: ["Жук Тарас"], category: .military, status: .missing),
                                           details: EventDetails(), actor: testActor, clock: clock(2))
            #expect(next.record.id.number == 2 && next.event.seq == 2, "refusals consumed no id and no sequence number")
        }
    }

    @Test("concurrent writers: every write acknowledged once, sequence gap-free, versions exact", arguments: StoreKind.all)
    func concurrentWrites(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let added = try await store.add(NewCase(names: ["Мороз Ірина"], category: .civilian, status: .missing),
                                            details: EventDetails(), actor: testActor, clock: clock())
            let id = added.record.id
            let sequences = try await withThrowingTaskGroup(of: Int64.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        var update = CaseUpdate()
                        update.notes = .some("note \(index)")
                        return try await store.update(id, update, details: EventDetails(), actor: testActor,
                                                      expectVersion: nil, clock: clock(Int64(index))).event.seq
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(sequences.sorted() == Array(2...201))
            let record = try #require(try await store.get(id))
            #expect(record.version == 201)
            let history = try #require(try await store.history(id))
            #expect(history.map(\.version) == Array(1...201), "each write produced exactly one version")
            // Two writers that both expect version 201: exactly one wins.
            let outcomes = await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        (try? await store.setStatus(id, to: .captive, details: EventDetails(), actor: testActor,
                                                    expectVersion: 201, correction: false, clock: clock())) != nil
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1)
        }
    }

    @Test("refusals among concurrent writes: each rolls back alone, the round's other writes commit",
          arguments: StoreKind.all)
    func refusalsInBusyRounds(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, path in
            _ = try await store.add(NewCase(names: ["Ковальчук Марта"], category: .civilian, status: .captive,
                                            references: ["HELD-1"]),
                                    details: EventDetails(), actor: testActor, clock: clock())
            // All sent at once, so that rounds mix refusals with writes that go through. Every
            // third write is refused: one in two of those for a reference another case holds
            // (found before anything is written), the other for dates that cannot be (found
            // after the case number was drawn, which its savepoint must give back).
            let outcomes = await withTaskGroup(of: (Int, Result<CaseChange, any Error>).self) { group in
                for index in 0..<120 {
                    group.addTask {
                        let refused = index % 3 == 0
                        let reference = refused && index % 2 == 0 ? "HELD-1" : "NEW-\(index)"
                        let since = refused && index % 2 == 1 ? PartialDate("1980") : PartialDate("2023-03")
                        do {
                            let change = try await store.add(
                                NewCase(names: ["Гнатюк Орест \(index)"], birth: PartialDate("1990"), category: .military,
                                        status: .missing, since: since, references: [reference]),
                                details: EventDetails(), actor: testActor, clock: clock(Int64(index)))
                            return (index, .success(change))
                        } catch {
                            return (index, .failure(error))
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            let made = outcomes.compactMap { try? $0.1.get() }
            let refused = outcomes.compactMap { outcome -> CasetrackError? in
                guard case .failure(let error) = outcome.1 else { return nil }
                return error as? CasetrackError
            }
            #expect(made.count == 80 && refused.count == 40)
            #expect(refused.filter { $0.code == .duplicateReference }.count == 20)
            #expect(refused.filter { $0.code == .badArgument && "\($0)".contains("before the birth date") }.count == 20)
            #expect(outcomes.allSatisfy { index, result in (try? result.get()) == nil ? index % 3 == 0 : index % 3 != 0 })
            #expect(made.map(\.record.id.number).sorted() == Array(2...81), "refusals consumed no case number")
            // A case made may also be marked a possible duplicate of another, an event more:
            // the numbers are checked over the whole log, with the cases it holds.
            let stored = try Self.sqlite(path, "SELECT (count(*) = max(seq)) || ' ' || (SELECT count(*) FROM cases) FROM events")
            #expect(stored.trimmingCharacters(in: .whitespacesAndNewlines) == "1 81", "nor a sequence number, nor left a row")
            for change in made {
                let record = try await store.get(change.record.id)
                #expect(record?.references == change.record.references)
            }
        }
    }

    @Test("data survives closing and reopening; another application's database is refused untouched")
    func reopen() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("casetrack-reopen-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("db.sqlite").path
        do {
            let store = try SQLiteCaseStore(path: path)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await store.run() }
                _ = try await store.add(NewCase(names: ["Яценко Юрій"], category: .military, status: .captive),
                                        details: EventDetails(), actor: testActor, clock: clock())
                group.cancelAll()
            }
            try store.close()
        }
        let reopened = try SQLiteCaseStore(path: path)
        #expect(try await reopened.get(CaseID(number: 1))?.names == ["Яценко Юрій"])
        #expect { try SQLiteCaseStore(path: path) } throws: { "\($0)".contains("another casetrackd already uses") }
        try reopened.close()

        let foreign = folder.appendingPathComponent("foreign.sqlite").path
        try Self.sqlite(foreign, "CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        let foreignBytes = try Data(contentsOf: URL(fileURLWithPath: foreign))
        #expect { try SQLiteCaseStore(path: foreign) } throws: { "\($0)".contains("another application") }
        #expect(try Data(contentsOf: URL(fileURLWithPath: foreign)) == foreignBytes, "not a byte changed")
        #expect(!FileManager.default.fileExists(atPath: foreign + "-wal"), "not switched to WAL")

        let garbage = folder.appendingPathComponent("garbage.sqlite").path
        try Data(repeating: 0x41, count: 8_192).write(to: URL(fileURLWithPath: garbage))
        #expect { try SQLiteCaseStore(path: garbage) } throws: { "\($0)".contains("cannot open the database") }
        #expect(try Data(contentsOf: URL(fileURLWithPath: garbage)) == Data(repeating: 0x41, count: 8_192))
    }

    @Test("a database a newer casetrackd migrated is refused untouched, with what to do")
    func newerSchema() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("casetrack-newer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("db.sqlite").path
        try SQLiteCaseStore(path: path).close()
        // What a later version's migration leaves: an identifier this version does not know.
        try Self.sqlite(path, "INSERT INTO grdb_migrations (identifier) VALUES ('v99: from the future')")
        let before = try Self.dump(path)
        #expect { try SQLiteCaseStore(path: path) } throws: { error in
            "\(error)".contains("was written by a newer casetrackd") && "\(error)".contains("nothing was changed")
        }
        #expect(try Self.dump(path) == before)
    }

    @Test("identity fields are stored, changed one at a time and cleared", arguments: StoreKind.all)
    func identityFields(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let new = NewCase(names: ["Гнатюк Остап Петрович"], category: .military, status: .captive,
                              sex: .male, serviceNumber: "ЖС-401522", rank: "старший солдат", birthPlace: "Ніжин")
            let added = try await store.add(new, details: EventDetails(), actor: testActor, clock: clock())
            #expect(try await store.get(added.record.id) == added.record)
            #expect(added.record.sex == .male && added.record.birthPlace == "Ніжин")
            var update = CaseUpdate()
            update.rank = .some("сержант")
            update.serviceNumber = .some(nil)
            let changed = try await store.update(added.record.id, update, details: EventDetails(), actor: testActor,
                                                 expectVersion: 1, clock: clock(1))
            let stored = try #require(try await store.get(added.record.id))
            #expect(stored == changed.record && stored.rank == "сержант" && stored.serviceNumber == nil && stored.sex == .male)
            #expect(changed.event.changes == ["service_number: ЖС-401522 -> (none)", "rank: \"старший солдат\" -> сержант"])
        }
    }

    /// Every table's rows, in order: what "unchanged" means for the database.
    static func dump(_ path: String) throws -> String {
        try sqlite(path, """
            SELECT * FROM cases ORDER BY id; SELECT * FROM events ORDER BY seq; SELECT * FROM case_tags ORDER BY 1, 2;
            SELECT * FROM case_refs ORDER BY 1; SELECT * FROM case_name_keys ORDER BY 1, 2; SELECT * FROM counters ORDER BY 1;
            """)
    }

    @discardableResult
    static func sqlite(_ path: String, _ sql: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [path, sql]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output, as: UTF8.self)
    }
}
