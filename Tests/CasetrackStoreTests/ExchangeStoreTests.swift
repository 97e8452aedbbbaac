import CasetrackCore
@testable import CasetrackStore
import CasetrackTestSupport
import Foundation
import GRDB
import Testing
import TestThreads

@Suite("Exchanges, import and backup in the store", .blocking)
struct ExchangeStoreTests {
    static func open(_ store: SQLiteCaseStore, _ name: String, _ category: Category, status: Status = .captive,
                     unit: String? = nil, tags: [String] = [], ref: String? = nil) async throws -> CaseID {
        try await store.add(NewCase(names: [name], category: category, unit: unit, tags: tags, status: status,
                                    since: PartialDate("2020-03-01"), references: ref.map { [$0] } ?? []),
                            details: EventDetails(), actor: testActor, clock: clock()).record.id
    }

    @Test("completing a phase: all listed cases return in one transaction, or none, naming every case that cannot", arguments: StoreKind.all)
    func completion(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            var ids: [CaseID] = []
            for index in 0..<7 {
                ids.append(try await Self.open(store, "Мельник Тарас \(index)", index < 4 ? .military : .civilian,
                                               unit: index.isMultiple(of: 2) ? "12th Brigade" : nil, tags: ["list-a"]))
            }
            let deceased = try await Self.open(store, "Жук Олена", .civilian, status: .deceased)
            let returned = try await Self.open(store, "Жук Ірина", .civilian, status: .returned)
            _ = try await store.createExchange(Exchange(name: "Обмін 7", date: PartialDate("2025-05-23")!, phases: 2,
                                                        createdAt: clock().now), actor: testActor)
            await #expect(throws: CasetrackError.self) {
                try await store.createExchange(Exchange(name: " обмін   7 ", date: PartialDate("2025")!, phases: 1,
                                                        createdAt: clock().now), actor: testActor)
            }
            #expect(try await store.listOnExchange("ОБМІН 7", phase: 1, ids: ids + [deceased, returned]) == 9)
            // A case is on one phase; an unknown id lists nobody.
            let elsewhere = await #expect(throws: CasetrackError.self) {
                try await store.listOnExchange("Обмін 7", phase: 2, ids: [ids[0]])
            }
            #expect(elsewhere?.message.contains("\(ids[0]) (phase 1)") == true)
            let unknown = await #expect(throws: CasetrackError.self) {
                try await store.listOnExchange("Обмін 7", phase: 2, ids: [CaseID(number: 999), ids[0]])
            }
            #expect(unknown?.code == .notFound)

            let before = try await store.lastSequence()
            let refused = await #expect(throws: CasetrackError.self) {
                try await store.completePhase("Обмін 7", phase: 1, details: EventDetails(occurredOn: PartialDate("2025-05-23")),
                                              actor: testActor, clock: clock(10))
            }
            #expect(refused?.code == .illegalTransition)
            #expect(refused?.message.contains("\(deceased) is deceased") == true)
            #expect(refused?.message.contains("\(returned) is already returned") == true)
            #expect(try await store.lastSequence() == before, "nothing was written")
            #expect(try await store.get(ids[0])?.status == .captive)

            #expect(try await store.removeFromExchange("Обмін 7", ids: [deceased, returned]) == 2)
            let completion = try await store.completePhase(
                "Обмін 7", phase: 1, details: EventDetails(occurredOn: PartialDate("2025-05-23"), source: "official list"),
                actor: testActor, clock: clock(20))
            #expect(completion.changes.count == 7 && completion.returned == [.military: 4, .civilian: 3])
            #expect(completion.changes.allSatisfy { $0.record.status == .returned && $0.event.exchange?.name == "Обмін 7" })
            #expect(completion.event.kind == .exchange && completion.event.seq == before + 8)
            #expect(completion.event.exchange?.returned == [.military: 4, .civilian: 3])
            await #expect(throws: CasetrackError.self, "a phase is completed once") {
                try await store.completePhase("Обмін 7", phase: 1, details: EventDetails(), actor: testActor, clock: clock(30))
            }
            await #expect(throws: CasetrackError.self, "nobody is listed on a completed phase") {
                try await store.listOnExchange("Обмін 7", phase: 1, ids: [deceased])
            }
            // The stored events read back with their exchange and phase, the phase's counts included.
            let notices = try await store.notices(after: before, limit: 100)
            #expect(notices.count == 8 && notices.last?.kind == .exchange && notices.last?.exchange?.returned?[.military] == 4)
            #expect(notices.dropLast().allSatisfy { $0.exchange?.phase == 1 && $0.newStatus == .returned })

            // Someone who was not on the bus after all: a correction, and the figures follow.
            _ = try await store.setStatus(ids[5], to: .captive, details: EventDetails(note: "not on the bus"), actor: testActor,
                                          expectVersion: nil, correction: true, clock: clock(40))
            let (exchange, phases) = try #require(try await store.exchangeReport("обмін 7"))
            #expect(exchange.phases == 2 && phases.count == 2)
            #expect(phases[0].total == GroupTally(listed: 7, returned: 6))
            #expect(phases[0].categories[.civilian] == GroupTally(listed: 3, returned: 2))
            #expect(phases[0].units["12th Brigade"] == GroupTally(listed: 4, returned: 4))
            #expect(phases[0].tags["list-a"] == GroupTally(listed: 7, returned: 6))
            #expect(phases[0].notReturned.map(\.0) == [ids[5]] && phases[0].completedSeq == completion.event.seq)
            #expect(phases[1].total == GroupTally() && !phases[1].isCompleted)

            var filter = CaseFilter()
            filter.exchange = "Обмін 7"
            filter.phase = 1
            #expect(try await store.count(filter, today: testToday) == 7)
            filter.statuses = [.returned]
            #expect(try await store.count(filter, today: testToday) == 6)
            let table = try await store.statistics(StatisticsQuery(breakdown: .exchange), today: testToday)
            #expect(table.lines.count == 2)
            #expect(table.lines[0].int("listed") == 7 && table.lines[0].int("returned") == 6 && table.lines[0].int("civilian") == 2)
            #expect(table.lines[0].string("completed") == "yes" && table.lines[1].string("completed") == "no")
            let summaries = try await store.exchanges()
            #expect(summaries.map(\.listed) == [7] && summaries.map(\.returned) == [6] && summaries.map(\.completedPhases) == [1])
        }
    }

    @Test("import: one transaction per batch, idempotent by reference, conflicts refuse the batch", arguments: StoreKind.all)
    func importBatches(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let existing = try await Self.open(store, "Бойко Андрій", .military, ref: "UA-1")
            let rows = try ["name=\"Гнатюк Юрій\" category=civilian status=captive since=2015 ref=UA-2 ref=LIST-2",
                            "name=\"Бойко Андрій\" category=military status=captive ref=UA-1",
                            "name=\"Лисенко Ганна\" category=civilian status=returned since=2016 at=2025-05-24 ref=UA-3"]
                .map { try ImportRow($0, today: testToday) }
            let dry = try await store.importRows(rows, dryRun: true, actor: testActor, clock: clock())
            #expect(dry.map(\.decision) == [.add, .existing(existing), .add] && dry.allSatisfy { $0.change == nil })
            #expect(try await store.lastSequence() == 1, "a dry run writes nothing")
            let done = try await store.importRows(rows, dryRun: false, actor: testActor, clock: clock(1))
            #expect(done.compactMap(\.change).map(\.record.id.number) == [2, 3])
            #expect(try await store.get(CaseID(number: 3))?.endedOn == PartialDate("2025-05-24"))
            let again = try await store.importRows(rows, dryRun: false, actor: testActor, clock: clock(2))
            #expect(again.allSatisfy { if case .existing = $0.decision { return true } else { return false } })
            #expect(try await store.lastSequence() == 3, "a second import changes nothing")

            // A row whose references point at two cases refuses the whole batch.
            let mixed = try ["name=\"Новий Олег\" category=military status=missing ref=UA-9",
                             "name=\"Змішаний\" category=military status=missing ref=UA-1 ref=UA-2"]
                .map { try ImportRow($0, today: testToday) }
            let error = await #expect(throws: CasetrackError.self) {
                try await store.importRows(mixed, dryRun: false, actor: testActor, clock: clock(3))
            }
            #expect(error?.code == .duplicateReference && error?.details.int("row") == 2)
            #expect(try await store.lastSequence() == 3)
            #expect(try await store.count(CaseFilter(), today: testToday) == 3)
        }
    }

    @Test("backup: a new 0600 file that opens as a store with every case and event", arguments: StoreKind.all)
    func backup(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, path in
            for index in 0..<20 { _ = try await Self.open(store, "Руденко Марія \(index)", .civilian, ref: "R-\(index)") }
            let target = path + ".backup"
            let summary = try await store.backup(to: target)
            // Twenty cases, and their events (the same names make possible-duplicate events too).
            let last = try await store.lastSequence()
            #expect(summary.cases == 20 && summary.events == Int(last) && summary.lastSequence == last && last >= 20)
            #expect(summary.bytes > 0)
            var info = stat()
            #expect(stat(target, &info) == 0 && info.st_mode & 0o777 == 0o600)
            let again = await #expect(throws: CasetrackError.self) { try await store.backup(to: target) }
            #expect(again?.message.contains("exists already") == true)
            guard kind == .sqlite else {
                // An office's copy backs up as that copy: it opens only as one (and then
                // follows the register), never as a register of its own.
                #expect { try SQLiteCaseStore(path: target) } throws: { "\($0)".contains("copy of the shared register") }
                let cases = try await DatabaseQueue(path: target).read { try Int.fetchOne($0, sql: "SELECT count(*) FROM cases") }
                #expect(cases == 20)
                return
            }
            let copy = try SQLiteCaseStore(path: target)
            #expect(try await copy.count(CaseFilter(), today: testToday) == 20)
            let original = try await store.notices(after: 0, limit: 100)
            #expect(try await copy.notices(after: 0, limit: 100) == original)
            try copy.close()
        }
    }
}
