import CasetrackCore
@testable import CasetrackStore
import Foundation
import Testing
import TestThreads

@Suite("Merges: one person, one record, and back", .blocking)
struct MergeTests {
    let details = EventDetails(source: "ICRC list", confidence: .confirmed, note: "одна людина")

    /// What a person reads of the register: every case's record but its version and time of
    /// change, the counts, the statistics and an exchange's report.
    struct View: Equatable {
        let records: [String: String]
        let count: Int
        let statistics: CaseStatistics
        let exchange: [String]

        static func of(_ store: SQLiteCaseStore, ids: [CaseID]) async throws -> View {
            var records: [String: String] = [:]
            for id in ids {
                guard let record = try await store.get(id) else { continue }
                var kept = Fields()
                for item in record.fields(today: testToday).items where !["version", "updated_at"].contains(item.key) {
                    kept.append(item.key, item.value)
                }
                records[id.description] = kept.text
            }
            let report = try await store.exchangeReport("Обмін 390")
            return View(records: records, count: try await store.count(CaseFilter(), today: testToday),
                        statistics: try await store.statistics(CaseFilter(), today: testToday),
                        exchange: report?.1.flatMap { $0.lines.map(\.text) } ?? [])
        }
    }

    func register(_ store: SQLiteCaseStore) async throws -> (a: CaseID, b: CaseID, c: CaseID) {
        let a = try await store.add(NewCase(names: ["Гнатюк Остап Петрович"], birth: PartialDate("1991"), category: .military,
                                            unit: "54 ОМБр", tags: ["kherson"], status: .captive, since: PartialDate("2022-05"),
                                            references: ["UA-1"], notes: "від матері", sex: .male),
                                    details: EventDetails(), actor: testActor, clock: clock()).record.id
        let b = try await store.add(NewCase(names: ["Hnatiuk Ostap"], birth: PartialDate("1991-03-12"), category: .military,
                                            tags: ["icrc"], status: .captive, since: PartialDate("2022-05-20"),
                                            references: ["ICRC-77"], serviceNumber: "ЖС-401522"),
                                    details: EventDetails(), actor: testActor, clock: clock(1)).record.id
        let c = try await store.add(NewCase(names: ["Гнатюк Остап"], birth: PartialDate("1985"), category: .military,
                                            status: .captive), details: EventDetails(), actor: testActor, clock: clock(2)).record.id
        _ = try await store.createExchange(Exchange(name: "Обмін 390", date: PartialDate("2026-05-23")!, phases: 2, note: nil,
                                                    createdAt: clock().now), actor: testActor)
        _ = try await store.listOnExchange("Обмін 390", phase: 1, ids: [a, b])
        _ = try await store.listOnExchange("Обмін 390", phase: 2, ids: [c])
        return (a, b, c)
    }

    @Test("a merge joins what the two know, the source leaves every count and list, and an unmerge restores both exactly", arguments: StoreKind.all)
    func roundTrip(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let (a, b, c) = try await register(store)
            let before = try await View.of(store, ids: [a, b, c])
            let historyBefore = try await store.history(a)

            let merged = try await store.merge(a, into: b, prefer: [:], details: details, actor: testActor,
                                               expectVersion: 1, targetVersion: 1, clock: clock(10))
            let target = merged.target.record
            #expect(target.names == ["Hnatiuk Ostap", "Гнатюк Остап Петрович"])
            #expect(target.references == ["ICRC-77", "UA-1"] && target.tags == ["icrc", "kherson"])
            #expect(target.birth == PartialDate("1991-03-12"), "the finer of two dates that agree")
            #expect(target.unit == "54 ОМБр" && target.sex == .male && target.serviceNumber == "ЖС-401522" && target.notes == "від матері")
            #expect(target.version == 2 && merged.source.event.kind == .merged && merged.target.event.kind == .merged)
            #expect(merged.target.event.changes.first == "merged: \(a) into \(b)")
            #expect(merged.source.event.seq + 1 == merged.target.event.seq)
            #expect(try await store.get(b) == target)

            // The source is gone from the register, and says where it went.
            await #expect { try await store.get(a) } throws: { error in
                let error = error as? CasetrackError
                return error?.code == .merged && error?.details.string("merged_into") == b.description
            }
            #expect(try await store.count(CaseFilter(), today: testToday) == before.count - 1)
            var byReference = CaseFilter()
            byReference.name = "Гнатюк"
            #expect(try await store.list(byReference, today: testToday, limit: 10, after: nil).map(\.id) == [b, c])
            let phases = try #require(try await store.exchangeReport("Обмін 390")).1
            #expect(phases.map(\.total.listed) == [1, 1], "a phase that listed both lists the person once")
            #expect(try await store.history(a)?.last?.kind == .merged)
            // A write to the source is refused with where it went; nothing changes.
            await #expect { try await store.setStatus(a, to: .returned, details: EventDetails(), actor: testActor,
                                                      expectVersion: nil, correction: false, clock: clock(11)) } throws: {
                ($0 as? CasetrackError)?.code == .merged
            }

            let restored = try await store.unmerge(a, details: EventDetails(note: "двоє різних людей"), actor: testActor,
                                                   clock: clock(20))
            #expect(restored.source.record.version == 3 && restored.target.record.version == 3)
            #expect(try await View.of(store, ids: [a, b, c]) == before)
            let historyAfter = try #require(try await store.history(a))
            #expect(Array(historyAfter.prefix(historyBefore?.count ?? 0)) == historyBefore)
            #expect(historyAfter.suffix(2).map(\.kind) == [.merged, .unmerged])
        }
    }

    @Test("a saved record edited outside casetrack is not written into the log by an unmerge")
    func forgedSavedRecord() async throws {
        let details = self.details
        try await withStore { store, _ in
            let (a, b, _) = try await register(store)
            _ = try await store.merge(a, into: b, prefer: [:], details: details, actor: testActor,
                                      expectVersion: nil, targetVersion: nil, clock: clock(10))
            let seq = try await store.lastSequence()
            try await store.pool.write { db in
                try db.execute(sql: "UPDATE merged_cases SET source_record = replace(source_record, 'status=captive', 'status=returned')")
                #expect(db.changesCount == 1)
            }
            await #expect { try await store.unmerge(a, details: details, actor: testActor, clock: clock(11)) } throws: { error in
                let error = error as? CasetrackError
                return error?.code == .storageDamaged && error?.message.contains("saved at its merge is not what the log says it was (status)") == true
            }
            #expect(try await store.lastSequence() == seq, "nothing was written")
            try await store.pool.write { db in
                try db.execute(sql: "UPDATE merged_cases SET source_record = replace(source_record, 'status=returned', 'status=captive')")
            }
            let back = try await store.unmerge(a, details: details, actor: testActor, clock: clock(11))
            #expect(back.source.record.status == .captive)
        }
    }

    @Test("facts the two disagree on refuse the merge, each named, until a side is chosen for each", arguments: StoreKind.all)
    func conflicts(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let (_, b, c) = try await register(store)
            let seq = try await store.lastSequence()
            await #expect { try await store.merge(c, into: b, prefer: [:], details: details, actor: testActor,
                                                  expectVersion: nil, targetVersion: nil, clock: clock(10)) } throws: { error in
                let error = error as? CasetrackError
                return error?.code == .mergeConflict && error?.message.contains("birth: target has 1991-03-12, source has 1985") == true
                    && error?.message.contains("prefer=FIELD:target") == true
            }
            #expect(try await store.lastSequence() == seq, "nothing was written")
            let merged = try await store.merge(c, into: b, prefer: [.birth: .target], details: details, actor: testActor,
                                               expectVersion: nil, targetVersion: nil, clock: clock(10))
            #expect(merged.target.record.birth == PartialDate("1991-03-12"))
        }
    }

    @Test("bad merges change nothing: into itself, into or from a merged case, an unknown id, a stale version, open into closed", arguments: StoreKind.all)
    func refusals(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let (a, b, c) = try await register(store)
            func refused(_ source: CaseID, _ target: CaseID, expect: Int? = nil, _ code: CasetrackError.Code) async throws {
                let seq = try await store.lastSequence()
                await #expect { try await store.merge(source, into: target, prefer: [.birth: .target], details: details,
                                                      actor: testActor, expectVersion: expect, targetVersion: nil,
                                                      clock: clock(30)) } throws: { ($0 as? CasetrackError)?.code == code }
                #expect(try await store.lastSequence() == seq)
            }
            try await refused(a, a, .badArgument)
            try await refused(a, CaseID(number: 99), .notFound)
            try await refused(a, b, expect: 7, .versionConflict)
            _ = try await store.setStatus(c, to: .returned, details: EventDetails(), actor: testActor, expectVersion: nil,
                                          correction: false, clock: clock(31))
            try await refused(c, b, .mergeConflict)
            _ = try await store.merge(a, into: b, prefer: [:], details: details, actor: testActor, expectVersion: nil,
                                      targetVersion: nil, clock: clock(32))
            try await refused(a, b, .merged)
            try await refused(b, a, .merged)
            // An unmerge after the target changed would undo that change too: refused.
            var update = CaseUpdate()
            update.rank = .some("сержант")
            _ = try await store.update(b, update, details: EventDetails(), actor: testActor, expectVersion: nil, clock: clock(33))
            await #expect { try await store.unmerge(a, details: EventDetails(), actor: testActor, clock: clock(34)) } throws: {
                ($0 as? CasetrackError)?.code == .versionConflict
            }
            await #expect { try await store.unmerge(b, details: EventDetails(), actor: testActor, clock: clock(34)) } throws: {
                ($0 as? CasetrackError)?.code == .badArgument
            }
        }
    }

    @Test("a not-duplicate decision is recorded once and can be forgotten", arguments: StoreKind.all)
    func notDuplicate(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, path in
            let (_, b, c) = try await register(store)
            #expect(try await store.markNotDuplicate(c, b, note: "різні роки", undo: false, actor: testActor, clock: clock(40)))
            #expect(try StoreTests.sqlite(path, "SELECT a, b, note FROM not_duplicates") == "2|3|різні роки\n")
            #expect(try await store.markNotDuplicate(b, c, note: nil, undo: true, actor: testActor, clock: clock(41)))
            #expect(try await !store.markNotDuplicate(b, c, note: nil, undo: true, actor: testActor, clock: clock(42)))
            await #expect { try await store.markNotDuplicate(b, b, note: nil, undo: false, actor: testActor, clock: clock(43)) }
                throws: { ($0 as? CasetrackError)?.code == .badArgument }
        }
    }

    @Test("merged twice (a into b, then b into c): c holds a's captivity events and contacts too, and exports them", arguments: StoreKind.all)
    func mergedTwice(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            var ids: [CaseID] = []
            for (index, name) in ["Гнатюк Остап", "Hnatiuk Ostap", "Гнатюк Остап Петрович"].enumerated() {
                ids.append(try await store.add(NewCase(names: [name], birth: PartialDate("1991"), category: .military, status: .captive),
                                               details: EventDetails(), actor: testActor, clock: clock(Int64(index))).record.id)
            }
            let (a, b, c) = (ids[0], ids[1], ids[2])
            // What only a knows: a letter from June 2025, and a mother to tell.
            _ = try await store.recordEvent(a, .communication, CaptivityDetails(proof: .letter),
                                            details: EventDetails(occurredOn: PartialDate("2025-06")), actor: testActor,
                                            expectVersion: nil, clock: clock(10))
            _ = try await store.addContact(a, ContactChange(name: "Гнатюк Марія", relation: "mother"), actor: testActor, clock: clock(11))
            _ = try await store.merge(a, into: b, prefer: [:], details: details, actor: testActor, expectVersion: nil,
                                      targetVersion: nil, clock: clock(12))
            _ = try await store.merge(b, into: c, prefer: [:], details: details, actor: testActor, expectVersion: nil,
                                      targetVersion: nil, clock: clock(13))
            // An older sighting recorded on c does not hide the newer letter a had.
            _ = try await store.recordEvent(c, .sighting, CaptivityDetails(proof: .testimony),
                                            details: EventDetails(occurredOn: PartialDate("2024-01")), actor: testActor,
                                            expectVersion: nil, clock: clock(14))
            let record = try await store.get(c)
            #expect(record?.proofOfLife?.on == PartialDate("2025-06"), "\(String(describing: record?.proofOfLife))")
            let contacts = try await store.contacts(of: c)
            #expect(contacts?.map(\.name) == ["Гнатюк Марія"], "\(String(describing: contacts))")
            // An export of every contact lists her under c, the case exported with her.
            let exported = try await store.allContacts(after: nil, limit: 100)
            #expect(exported.map(\.caseID) == [c], "\(exported)")
        }
    }

    @Test("two merges into one case undo last first; exchange lists that disagree on a completed phase stop a merge", arguments: StoreKind.all)
    func chainsAndExchanges(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let (a, b, c) = try await register(store)
            let d = try await store.add(NewCase(names: ["Гнатюк Остап Петрович"], birth: PartialDate("1991-03"), category: .military,
                                                status: .captive), details: EventDetails(), actor: testActor, clock: clock(3)).record.id
            let before = try await View.of(store, ids: [a, b, c, d])
            _ = try await store.merge(a, into: b, prefer: [:], details: details, actor: testActor, expectVersion: nil,
                                      targetVersion: nil, clock: clock(10))
            _ = try await store.merge(d, into: b, prefer: [:], details: details, actor: testActor, expectVersion: nil,
                                      targetVersion: nil, clock: clock(11))
            // The earlier merge first: the target has changed since (the later merge), so no.
            await #expect { try await store.unmerge(a, details: EventDetails(), actor: testActor, clock: clock(12)) } throws: {
                ($0 as? CasetrackError)?.code == .versionConflict
            }
            _ = try await store.unmerge(d, details: EventDetails(), actor: testActor, clock: clock(13))
            _ = try await store.unmerge(a, details: EventDetails(), actor: testActor, clock: clock(14))
            #expect(try await View.of(store, ids: [a, b, c, d]) == before)

            // b on phase 1 and c on phase 2 of one exchange: with phase 2 completed, which list
            // was right is for a person to say.
            _ = try await store.completePhase("Обмін 390", phase: 2, details: EventDetails(), actor: testActor, clock: clock(20))
            _ = try await store.setStatus(b, to: .returned, details: EventDetails(occurredOn: PartialDate("2026-05-23")),
                                          actor: testActor, expectVersion: nil, correction: false, clock: clock(20))
            let seq = try await store.lastSequence()
            await #expect { try await store.merge(b, into: c, prefer: [.birth: .target, .since: .target, .ended: .target],
                                                  details: details, actor: testActor, expectVersion: nil, targetVersion: nil,
                                                  clock: clock(21)) } throws: { error in
                let error = error as? CasetrackError
                return error?.code == .mergeConflict && error?.message.contains("phase 2 is completed") == true
            }
            #expect(try await store.lastSequence() == seq)
        }
    }
}

@Suite("Merges carry 'not a duplicate' decisions", .blocking)
struct MergeDecisionTests {
    @Test("a person decided not to be the source is not the target either; an unmerge takes the carried decision back", arguments: StoreKind.all)
    func carried(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            func add(_ name: String, _ birth: String, _ offset: Int64) async throws -> CaseID {
                try await store.add(NewCase(names: [name], birth: PartialDate(birth), category: .civilian, status: .missing),
                                    details: EventDetails(), actor: testActor, clock: clock(offset)).record.id
            }
            let source = try await add("Дмитренко Галина Іванівна", "1977-04-02", 0)
            let target = try await add("Dmytrenko Halyna", "1977", 1)
            let namesake = try await add("Дмитренко Галина", "1977", 2)
            func pairs() async throws -> Set<CasePair> {
                Set(try await store.duplicates(of: target, minimumScore: 0.5, limit: 100).candidates.map(\.pair))
            }
            #expect(try await pairs().contains(CasePair(target, namesake)), "the namesake is suggested for the target")
            _ = try await store.markNotDuplicate(source, namesake, note: "інша людина: інше село", undo: false, actor: testActor,
                                                 clock: clock(3))
            _ = try await store.merge(source, into: target, prefer: [:], details: EventDetails(), actor: testActor,
                                      expectVersion: nil, targetVersion: nil, clock: clock(4))
            #expect(try await !pairs().contains(CasePair(target, namesake)), "the decision moved with the person")
            _ = try await store.unmerge(source, details: EventDetails(), actor: testActor, clock: clock(5))
            #expect(try await pairs().contains(CasePair(target, namesake)), "the unmerge took the carried decision back")
            let sourcePairs = Set(try await store.duplicates(of: source, minimumScore: 0.5, limit: 100).candidates.map(\.pair))
            #expect(!sourcePairs.contains(CasePair(source, namesake)), "the source's own decision stays")

            // Merged again, and the carried pair then decided by a person for the target itself:
            // an unmerge leaves that decision in place.
            _ = try await store.merge(source, into: target, prefer: [:], details: EventDetails(), actor: testActor,
                                      expectVersion: nil, targetVersion: nil, clock: clock(6))
            _ = try await store.markNotDuplicate(target, namesake, note: "брат, не вона", undo: false, actor: testActor,
                                                 clock: clock(7))
            _ = try await store.unmerge(source, details: EventDetails(), actor: testActor, clock: clock(8))
            #expect(try await !pairs().contains(CasePair(target, namesake)), "a person's own decision outlives the unmerge")
        }
    }
}
