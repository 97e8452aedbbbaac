import CasetrackCore
@testable import CasetrackStore
import CasetrackTestSupport
import Testing
import TestThreads

/// `STATS as_of=`: counts as the register stood at the end of a past day, against a tally the
/// test keeps itself while it writes a month of history, one simulated day at a time.
@Suite("Statistics as of a past day", .blocking)
struct AsOfTests {
    typealias Tally = [Status: [Category: Int]]

    /// The register as the test knows it: every case still there, with its status and category.
    struct Register {
        var cases: [CaseID: (status: Status, category: Category)] = [:]

        mutating func take(_ record: CaseRecord) { cases[record.id] = (record.status, record.category) }

        func tally(statuses: Set<Status> = [], categories: Set<Category> = []) -> Tally {
            var tally: Tally = [:]
            for (status, category) in cases.values where (statuses.isEmpty || statuses.contains(status))
                && (categories.isEmpty || categories.contains(category)) {
                tally[status, default: [:]][category, default: 0] += 1
            }
            return tally
        }
    }

    static func table(_ tally: Tally) -> [Fields] { CaseStatistics(counts: tally).lines }

    @Test("three past days, and the day before anything, as the test's own tally of the history says")
    func pastDays() async throws {
        let path = try temporaryDatabase()
        var random = SeededRandom(seed: 11)
        var register = Register()
        var snapshots: [Int: Register] = [:]
        try await session(path) { store in
            for dayNumber in 0..<30 {
                let clock = day(dayNumber)
                for _ in 0..<Int.random(in: 5...15, using: &random) {
                    var new = Synthetic.newCase(&random, today: clock.today)
                    new.status = Bool.random(using: &random) ? .missing : .captive
                    register.take(try await store.add(new, details: EventDetails(), actor: testActor, clock: clock).record)
                }
                let ids = register.cases.keys.sorted()
                for _ in 0..<Int.random(in: 3...10, using: &random) {
                    guard let id = ids.randomElement(using: &random), let current = register.cases[id] else { continue }
                    switch Int.random(in: 0..<10, using: &random) {
                    case 0..<4:
                        guard let next = Lifecycle.allowed(from: current.status).randomElement(using: &random) else { continue }
                        let change = try await store.setStatus(id, to: next, details: EventDetails(), actor: testActor,
                                                               expectVersion: nil, correction: false, clock: clock)
                        register.take(change.record)
                    case 4:
                        // A wrong entry corrected: the status goes back, the history keeps both.
                        let back: Status = current.status == .missing ? .captive : .missing
                        register.take(try await store.setStatus(id, to: back, details: EventDetails(), actor: testActor,
                                                                expectVersion: nil, correction: true, clock: clock).record)
                    case 5, 6:
                        var update = CaseUpdate()
                        update.category = current.category == .military ? .civilian : .military
                        register.take(try await store.update(id, update, details: EventDetails(), actor: testActor,
                                                             expectVersion: nil, clock: clock).record)
                    case 7:
                        // A sign of life: of a person not known to be home or dead.
                        guard current.status.isOpen else { continue }
                        register.take(try await store.recordEvent(id, .sighting, CaptivityDetails(proof: .letter),
                                                                  details: EventDetails(occurredOn: PartialDate(clock.today)),
                                                                  actor: testActor, expectVersion: nil, clock: clock).record)
                    default:
                        // Two open cases found to be one person: the source leaves the register.
                        guard current.status.isOpen,
                              let target = ids.filter({ $0 != id && register.cases[$0]?.status.isOpen == true }).randomElement(using: &random)
                        else { continue }
                        let prefer = Dictionary(uniqueKeysWithValues: MergeField.allCases.map { ($0, MergeSide.target) })
                        let merged = try await store.merge(id, into: target, prefer: prefer, details: EventDetails(), actor: testActor,
                                                           expectVersion: nil, targetVersion: nil, clock: clock)
                        register.cases[id] = nil
                        register.take(merged.target.record)
                    }
                }
                snapshots[dayNumber] = register
            }
            let today = day(40).today
            for dayNumber in [3, 17, 29] {
                let asOf = testToday.adding(days: dayNumber)
                let expected = try #require(snapshots[dayNumber])
                let table = try await store.statistics(StatisticsQuery(asOf: asOf), today: today)
                #expect(table.lines == Self.table(expected.tally()), "as of day \(dayNumber)")
                #expect(table.final.int("total") == Int64(expected.cases.count))
                #expect(table.final.string("as_of") == asOf.description)
                var filter = CaseFilter()
                filter.statuses = [.captive]
                filter.categories = [.civilian]
                let narrowed = try await store.statistics(StatisticsQuery(filter: filter, asOf: asOf), today: today)
                #expect(narrowed.lines == Self.table(expected.tally(statuses: [.captive], categories: [.civilian])))
            }
            let before = try await store.statistics(StatisticsQuery(asOf: testToday.adding(days: -1)), today: today)
            #expect(before.final.int("total") == 0 && before.final.int("through_seq") == 0)
            // The last day counts as now does.
            let now = try await store.statistics(StatisticsQuery(asOf: today), today: today)
            #expect(now.lines == Self.table(register.tally()))
            #expect(snapshots[3]?.cases.count != snapshots[29]?.cases.count, "the days differ")

            // A register upgraded from before after-images: a merge's event of the case that
            // took the other in has none (NULL), and that case is still there on those days.
            let cleared = try await store.pool.write { db in
                try db.execute(sql: "UPDATE events SET image = NULL WHERE kind = 'merged' AND length(image) > 0")
                return db.changesCount
            }
            #expect(cleared > 0, "the history has merges")
            for dayNumber in [3, 17, 29] {
                let expected = try #require(snapshots[dayNumber])
                let table = try await store.statistics(StatisticsQuery(asOf: testToday.adding(days: dayNumber)), today: today)
                #expect(table.lines == Self.table(expected.tally()), "as of day \(dayNumber), images of merges from before v9")
            }
        }
    }
}
