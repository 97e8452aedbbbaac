import CasetrackCore
@testable import CasetrackStore
import CasetrackTestSupport
import Foundation
import Synchronization
import Testing
import TestThreads

/// The duplicate check an import's reader makes beside the writer (``ImportCheck``) must flag
/// exactly what the writer flags when it checks each row itself.
@Suite("Import: the duplicate check beside the writer", .blocking)
struct ImportCheckTests {
    /// Rows of invented people whose names repeat (the generator has a few hundred names), with
    /// copies of earlier people under new references: of cases on record and of rows earlier
    /// in the same request. One row in each request names a reference on record already.
    static func requests(base: [NewCase]) -> [[ImportRow]] {
        var random = SeededRandom(seed: 1207)
        var requests: [[ImportRow]] = []
        for request in 0..<3 {
            var rows: [NewCase] = []
            for index in 0..<150 {
                var new: NewCase
                switch index % 10 {
                case 3: new = base[(request * 150 + index) % base.count]
                case 7 where index > 20: new = rows[index - 20]
                default: new = Synthetic.newCase(&random, today: testToday)
                }
                new.references = ["N-\(request)-\(index)"]
                rows.append(new)
            }
            rows[50].references = base[5].references
            requests.append(Self.rows(rows))
        }
        return requests
    }

    static func base() -> [NewCase] {
        var random = SeededRandom(seed: 77)
        return (0..<300).map { index in
            var new = Synthetic.newCase(&random, today: testToday)
            new.references = ["B-\(index)"]
            return new
        }
    }

    static func rows(_ cases: [NewCase]) -> [ImportRow] {
        cases.enumerated().map { position, new in
            var row = ImportRow(new: new, details: EventDetails())
            row.number = position + 1
            return row
        }
    }

    @Test("the same flags and events as the writer's own check, and every added row served by the reader",
          arguments: StoreKind.all)
    func sameAsWriter(_ kind: StoreKind) async throws {
        let base = Self.base()
        let requests = Self.requests(base: base)
        // The writer checking every row itself, as before.
        let (expected, expectedNotices) = try await withStore(kind) { store, _ in
            _ = try await store.importRows(Self.rows(base), dryRun: false, actor: testActor, clock: clock())
            var outcomes: [[ImportOutcome]] = []
            for (number, rows) in requests.enumerated() {
                let ready = await PreparedNewCase.prepare(rows, actor: testActor, clock: clock(Int64(number + 1)))
                outcomes.append(try await store.importRows(rows, ready: ready, check: nil, actor: testActor, clock: clock(Int64(number + 1))))
            }
            return (outcomes, try await store.notices(after: 0, limit: 10_000))
        }
        try await withStore(kind) { store, _ in
            _ = try await store.importRows(Self.rows(base), dryRun: false, actor: testActor, clock: clock())
            var withinRequest = 0
            var onRecord = 0
            for (number, rows) in requests.enumerated() {
                // One reader, then two, each with its share of the rows.
                store.importReaders.store(number % 2 + 1, ordering: .relaxed)
                let (outcomes, checked) = try await store.importRowsCheckedBeside(rows, actor: testActor, clock: clock(Int64(number + 1)))
                let check = try #require(checked)
                #expect(check.workers == number % 2 + 1)
                let same = outcomes == expected[number]
                let differing = outcomes.indices.first { $0 >= expected[number].count || outcomes[$0] != expected[number][$0] }
                #expect(same, "request \(number + 1): row \(differing.map { $0 + 1 } ?? -1) differs")
                let added = outcomes.compactMap(\.change)
                #expect(added.count == 149, "one row names a reference on record")
                #expect(check.rowsServed == added.count, "the reader's findings served every added row")
                let ids = Set(added.map(\.record.id))
                for change in added {
                    for candidate in change.possibleDuplicates {
                        let other = candidate.a == change.record.id ? candidate.b : candidate.a
                        if ids.contains(other) { withinRequest += 1 } else { onRecord += 1 }
                    }
                }
            }
            // Both kinds of duplicate were there to find: the overlay of earlier rows and the snapshot.
            #expect(withinRequest >= 15 && onRecord >= 45, "\(withinRequest) within a request, \(onRecord) on record")
            #expect(try await store.notices(after: 0, limit: 10_000) == expectedNotices)
        }
    }

    @Test("a second reader when the writer waited a third of its time for one, back to one when it hardly waits")
    func readersFollowTheWait() {
        let most = min(2, ProcessInfo.processInfo.activeProcessorCount)
        #expect(SQLiteCaseStore.readers(after: 0.5, with: 1) == most)
        #expect(SQLiteCaseStore.readers(after: 0.2, with: 1) == 1)
        #expect(SQLiteCaseStore.readers(after: 0.2, with: 2) == 2)
        #expect(SQLiteCaseStore.readers(after: 0.05, with: 2) == 1)
    }

    /// A case renamed after the reader's snapshot now duplicates an imported row: only the
    /// writer's own check can see it, so the reader's findings must not be taken.
    @Test("a change committed after the reader's snapshot: the writer checks every row itself")
    func staleSnapshot() async throws {
        try await withStore { store, _ in
            let other = NewCase(names: ["Мороз Тарас Петрович"], birth: PartialDate(year: 1961), category: .military,
                                status: .captive, references: ["K-1"])
            let renamed = try await store.add(other, details: EventDetails(), actor: testActor, clock: clock())
            let person = NewCase(names: ["Бойко Ганна Іванівна", "Boiko Hanna"], birth: PartialDate(year: 1975, month: 3, day: 9),
                                 category: .civilian, status: .missing, references: ["R-1"])
            let rows = Self.rows([person] + Array(Self.base().prefix(20)))
            let ready = await PreparedNewCase.prepare(rows, actor: testActor, clock: clock(1))
            let check = ImportCheck(workers: 1)
            try await store.read { db in try check.run(rows, ready: ready, worker: 0, db) }
            check.end(0)
            #expect(check.findingMade(at: 0) == [], "on the snapshot, nobody resembles the first row")

            var update = CaseUpdate()
            update.names = person.names
            update.birth = .some(person.birth)
            _ = try await store.update(renamed.record.id, update, details: EventDetails(), actor: testActor, expectVersion: nil,
                                       clock: clock(1))

            let outcomes = try await store.importRows(rows, ready: ready, check: check, actor: testActor, clock: clock(2))
            #expect(check.rowsServed == 0)
            let added = outcomes.first?.change?.record.id
            let flagged = outcomes.first?.change?.possibleDuplicates.map { $0.a == added ? $0.b : $0.a }
            #expect(flagged == [renamed.record.id], "the renamed case is flagged")
        }
    }

    /// Waits for `work` at most `seconds`, on a thread of its own: an import that never ends
    /// must fail the test, not hang it. The limit is generous: other suites' blocking waits
    /// can hold every thread of Swift's cooperative pool, which the import needs, for a
    /// minute and more.
    static func finishes(within seconds: Int, _ work: @escaping @Sendable () async -> Void) async -> Bool {
        let done = DispatchSemaphore(value: 0)
        Task {
            await work()
            done.signal()
        }
        return await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: done.wait(timeout: .now() + .seconds(seconds)) == .success) }.start()
        }
    }

    @Test("an import whose task is cancelled, or whose write is refused, ends: its readers never hold it")
    func readersNeverHold() async throws {
        try await withStore { store, _ in
            let rows = Self.rows(Array(Self.base().prefix(100)))
            // Cancelled from the start: the readers' reads fail before they begin.
            let cancelled = await Self.finishes(within: 600) {
                let task = Task { try await store.importRowsCheckedBeside(rows, actor: testActor, clock: clock()) }
                task.cancel()
                _ = await task.result
            }
            #expect(cancelled, "a cancelled import ended")
            // Refused by the writer: the import's round never begins, and its readers stop.
            store.writer.refuseWrites(CasetrackError(.storageDamaged, "refused for the test"))
            let refusal = Mutex<CasetrackError?>(nil)
            let refused = await Self.finishes(within: 600) {
                do {
                    _ = try await store.importRowsCheckedBeside(Self.rows(Array(Self.base().suffix(100))), actor: testActor, clock: clock(1))
                } catch let error as CasetrackError {
                    refusal.withLock { $0 = error }
                } catch {}
            }
            #expect(refused, "a refused import ended")
            #expect(refusal.withLock { $0?.code } == .storageDamaged)
        }
    }
}
