import CasetrackCore
@testable import CasetrackStore
import Foundation
import Synchronization
import Testing
import TestThreads

/// Notices the store reported through its commit observer.
final class Observed: Sendable {
    private let state = Mutex<[Notice]>([])
    func add(_ notices: [Notice]) { state.withLock { $0 += notices } }
    var all: [Notice] { state.withLock { $0 } }
}

/// Opens the store at `path` (a daemon start), runs `body`, closes it (a daemon stop).
func session<T>(_ path: String, observed: Observed = Observed(), _ body: (SQLiteCaseStore) async throws -> T) async throws -> T {
    let store = try SQLiteCaseStore(path: path, onCommit: observed.add)
    let result = try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await store.run() }
        defer { group.cancelAll() }
        return try await body(store)
    }
    try store.close()
    return result
}

func temporaryDatabase() throws -> String {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("casetrack-alerts-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder.appendingPathComponent("cases.sqlite").path
}

/// The clock `days` days after `testToday`, at 10:00 UTC.
func day(_ days: Int) -> WriteClock {
    WriteClock(now: Timestamp(unixMilliseconds: Int64(testToday.daysSinceEpoch + days) * 86_400_000 + 36_000_000))
}

@Suite("Time alerts and retention, with the clock moved by the test", .blocking)
struct AlertTests {
    /// The defaults: held 1y, 5y, 8y; no stale alerts.
    let held = AlertPolicy()
    let staleToo = AlertPolicy(heldThresholds: AlertPolicy.defaultHeldThresholds, staleAfterDays: 30)
    let daemon = Actor(uid: 0, pid: 1)

    @Test("crossing 8 years records one alert; looking again or after a restart does not repeat it")
    func heldOnce() async throws {
        let path = try temporaryDatabase()
        // Detained 8 years ago minus 10 days: it reached 1y and 5y, not 8y.
        let since = PartialDate(HeldDuration(years: 8).latestStart(reaching: testToday).adding(days: 10))
        let observed = Observed()
        try await session(path, observed: observed) { store in
            _ = try await store.add(NewCase(names: ["Кравченко Олег"], category: .military, status: .captive, since: since),
                                    details: EventDetails(), actor: testActor, clock: day(0))
            let first = try await store.recordDueAlerts(held, actor: daemon, clock: day(0))
            #expect(first.map(\.kind) == [.held] && first.map(\.threshold) == ["5y"], "one alert, for the longest reached")
            #expect(try await store.recordDueAlerts(held, actor: daemon, clock: day(9)).isEmpty, "8y not reached yet")
            let crossed = try await store.recordDueAlerts(held, actor: daemon, clock: day(10))
            #expect(crossed.map(\.threshold) == ["8y"] && crossed.first?.caseID == CaseID(number: 1))
            #expect(crossed.first?.names == ["Кравченко Олег"] && crossed.first?.newStatus == .captive)
            #expect(try await store.recordDueAlerts(held, actor: daemon, clock: day(11)).isEmpty)
        }
        try await session(path, observed: observed) { store in
            #expect(try await store.recordDueAlerts(held, actor: daemon, clock: day(400)).isEmpty, "not after a restart either")
            let history = try #require(try await store.history(CaseID(number: 1)))
            #expect(history.map(\.kind) == [.created, .held, .held])
            #expect(history.last?.actor == daemon && history.last?.version == 1, "an alert changes nothing in the case")
            #expect(try await store.get(CaseID(number: 1))?.version == 1)
        }
        // Subscribers heard each alert once, after its commit.
        #expect(observed.all.map(\.seq) == [1, 2, 3])
        #expect(observed.all.compactMap(\.threshold) == ["5y", "8y"])
    }

    @Test("a start corrected to a later day: the alerts ahead of it are told when they come, those behind are not told again")
    func startCorrectedLater() async throws {
        let path = try temporaryDatabase()
        try await session(path) { store in
            // A typo: 2015 for a detention that began 3 years and 20 days ago.
            let wrong = PartialDate(HeldDuration(years: 9).latestStart(reaching: testToday))
            _ = try await store.add(NewCase(names: ["Кравченко Олег"], category: .military, status: .captive, since: wrong),
                                    details: EventDetails(), actor: testActor, clock: day(0))
            #expect(try await store.recordDueAlerts(held, actor: daemon, clock: day(0)).map(\.threshold) == ["8y"])
            let start = HeldDuration(years: 3).latestStart(reaching: testToday).adding(days: -20)
            var update = CaseUpdate()
            update.since = .some(PartialDate(start))
            _ = try await store.update(CaseID(number: 1), update, details: EventDetails(), actor: testActor, expectVersion: nil, clock: day(1))
            // 1y is behind the corrected start too (it was told wrongly, as 8y): nothing now.
            #expect(try await store.recordDueAlerts(held, actor: daemon, clock: day(1)).isEmpty)
            // 5y comes in about two years: told then, once.
            var fiveYears = 0
            while !HeldDuration(years: 5).isReached(from: start, to: testToday.adding(days: fiveYears)) { fiveYears += 1 }
            #expect(try await store.recordDueAlerts(held, actor: daemon, clock: day(fiveYears - 1)).isEmpty)
            #expect(try await store.recordDueAlerts(held, actor: daemon, clock: day(fiveYears + 1)).map(\.threshold) == ["5y"])
            #expect(try await store.recordDueAlerts(held, actor: daemon, clock: day(fiveYears + 2)).isEmpty)
        }
    }

    @Test("an alert is never stamped earlier than the event before it: the log's times follow its order")
    func alertTimesFollowTheLog() async throws {
        try await session(try temporaryDatabase()) { store in
            let since = PartialDate(HeldDuration(years: 1).latestStart(reaching: testToday).adding(days: -3))
            let id = try await store.add(NewCase(names: ["Кравченко Олег"], category: .military, status: .captive, since: since),
                                         details: EventDetails(), actor: testActor, clock: day(0)).record.id
            // A write recorded after the pass read its clock (the pass's batches run in turns
            // with other writes).
            var update = CaseUpdate()
            update.notes = .some("лист від матері")
            let later = try await store.update(id, update, details: EventDetails(), actor: testActor, expectVersion: nil, clock: day(2))
            let told = try await store.recordDueAlerts(held, actor: daemon, clock: day(1))
            #expect(told.map(\.threshold) == ["1y"])
            #expect(told.first.map { $0.recordedAt >= later.event.recordedAt } == true,
                    "\(String(describing: told.first?.recordedAt)) before \(later.event.recordedAt)")
        }
    }

    @Test("a threshold crossed while the daemon was down is recorded at the first look after start")
    func crossedWhileDown() async throws {
        let path = try temporaryDatabase()
        let since = PartialDate(HeldDuration(years: 1).latestStart(reaching: testToday).adding(days: 3))
        try await session(path) { store in
            _ = try await store.add(NewCase(names: ["Бойко Ірина"], category: .civilian, status: .missing, since: since),
                                    details: EventDetails(), actor: testActor, clock: day(0))
            #expect(try await store.recordDueAlerts(held, actor: daemon, clock: day(0)).isEmpty)
        }
        // Down for a month; back up:
        try await session(path) { store in
            let due = try await store.recordDueAlerts(held, actor: daemon, clock: day(30))
            #expect(due.map(\.threshold) == ["1y"] && due.map(\.kind) == [.held])
        }
    }

    @Test("closed cases and cases without a start date get no held alert")
    func onlyOpenCases() async throws {
        try await session(try temporaryDatabase()) { store in
            let old = PartialDate(Day(year: 2010, month: 1, day: 1)!)
            _ = try await store.add(NewCase(names: ["Олійник Марко"], category: .military, status: .returned, since: old),
                                    details: EventDetails(occurredOn: PartialDate("2012")), actor: testActor, clock: day(0))
            _ = try await store.add(NewCase(names: ["Олійник Марта"], category: .civilian, status: .missing),
                                    details: EventDetails(), actor: testActor, clock: day(0))
            #expect(try await store.recordDueAlerts(AlertPolicy(), actor: daemon, clock: day(0)).isEmpty)
        }
    }

    @Test("stale: once after N days without update, again only after the next update")
    func stale() async throws {
        try await session(try temporaryDatabase()) { store in
            let id = try await store.add(NewCase(names: ["Савчук Андрій"], category: .military, status: .captive),
                                         details: EventDetails(), actor: testActor, clock: day(0)).record.id
            #expect(try await store.recordDueAlerts(staleToo, actor: daemon, clock: day(29)).isEmpty)
            let stale = try await store.recordDueAlerts(staleToo, actor: daemon, clock: day(30))
            #expect(stale.map(\.kind) == [.stale] && stale.map(\.threshold) == ["30d"])
            #expect(try await store.recordDueAlerts(staleToo, actor: daemon, clock: day(90)).isEmpty)
            var update = CaseUpdate()
            update.addTags = ["hospital"]
            _ = try await store.update(id, update, details: EventDetails(), actor: testActor, expectVersion: nil, clock: day(91))
            #expect(try await store.recordDueAlerts(staleToo, actor: daemon, clock: day(120)).isEmpty)
            #expect(try await store.recordDueAlerts(staleToo, actor: daemon, clock: day(121)).map(\.kind) == [.stale])
            #expect(try await store.recordDueAlerts(AlertPolicy(heldThresholds: []), actor: daemon, clock: day(900)).isEmpty,
                    "off when not configured")
        }
    }

    @Test("proof-stale: from the last proof (or the start), the longest age once, across a restart; a newer proof starts again")
    func proofStale() async throws {
        var policy = AlertPolicy(heldThresholds: [])
        policy.proofThresholds = [HeldDuration(years: 1), HeldDuration(years: 3)]
        let path = try temporaryDatabase()
        let observed = Observed()
        try await session(path, observed: observed) { store in
            func open(_ name: String, _ status: Status = .captive, since: PartialDate?) async throws -> CaseID {
                try await store.add(NewCase(names: [name], category: .civilian, status: status, since: since),
                                    details: EventDetails(occurredOn: status.isOpen ? nil : PartialDate("2024")), actor: testActor,
                                    clock: day(0)).record.id
            }
            let never = try await open("Петренко Богдан", since: PartialDate("2020-03"))
            let letter = try await open("Петренко Віра", since: PartialDate("2022"))
            _ = try await open("Петренко Ганна", .returned, since: PartialDate("2019"))
            _ = try await open("Петренко Дмитро", since: nil)
            // A letter of the month before the one a year ago: certainly a year old. One of that
            // month itself may be younger (its date may mean the month's last day): no alert.
            let yearAgo = HeldDuration(years: 1).latestStart(reaching: testToday)
            func month(_ day: Day) -> PartialDate? { let (year, month, _) = day.components; return PartialDate(year: year, month: month) }
            _ = try await store.recordEvent(letter, .communication, CaptivityDetails(proof: .letter),
                                            details: EventDetails(occurredOn: month(yearAgo.adding(months: -1))), actor: testActor,
                                            expectVersion: nil, clock: day(0))
            let recent = try await open("Петренко Євген", since: PartialDate("2023"))
            _ = try await store.recordEvent(recent, .communication, CaptivityDetails(proof: .call),
                                            details: EventDetails(occurredOn: month(yearAgo)), actor: testActor,
                                            expectVersion: nil, clock: day(0))
            let first = try await store.recordDueAlerts(policy, actor: daemon, clock: day(0))
            #expect(first.map(\.caseID) == [never, letter] && first.map(\.kind) == [.proofStale, .proofStale])
            #expect(first.map(\.threshold) == ["3y", "1y"], "the longest age reached, once")
            #expect(try await store.recordDueAlerts(policy, actor: daemon, clock: day(5)).isEmpty)
        }
        try await session(path, observed: observed) { store in
            let letter = CaseID(number: 2)
            #expect(try await store.recordDueAlerts(policy, actor: daemon, clock: day(6)).isEmpty, "not again after a restart")
            // Heard of again: the count starts from the new proof.
            _ = try await store.recordEvent(letter, .sighting, CaptivityDetails(proof: .video),
                                            details: EventDetails(occurredOn: PartialDate(day(10).today)), actor: testActor,
                                            expectVersion: nil, clock: day(10))
            // By then the call of the month a year before the first look is a year old too.
            let meanwhile = try await store.recordDueAlerts(policy, actor: daemon, clock: day(300))
            #expect(meanwhile.map(\.caseID) == [CaseID(number: 5)] && meanwhile.map(\.threshold) == ["1y"])
            let again = try await store.recordDueAlerts(policy, actor: daemon, clock: day(400))
            #expect(again.map(\.caseID) == [letter] && again.map(\.threshold) == ["1y"], "\(again)")
            let history = try #require(try await store.history(letter))
            #expect(history.map(\.kind) == [.created, .communication, .proofStale, .sighting, .proofStale])
            #expect(history.last?.version == 3, "an alert changes nothing in the case")
        }
        #expect(observed.all.filter { $0.kind == .proofStale }.count == 4)
    }

    @Test("a merge that keeps the source's proof of life keeps what was told of it: no proof alert twice")
    func proofMarksFollowTheProof() async throws {
        var policy = AlertPolicy(heldThresholds: [])
        policy.proofThresholds = [HeldDuration(years: 1)]
        try await session(try temporaryDatabase()) { store in
            let yearAgo = HeldDuration(years: 1).latestStart(reaching: testToday)
            let (year, month, _) = yearAgo.adding(months: -2).components
            let source = try await store.add(NewCase(names: ["Ярошенко Марія"], category: .civilian, status: .captive,
                                                     since: PartialDate("2022")),
                                             details: EventDetails(), actor: testActor, clock: day(0)).record.id
            _ = try await store.recordEvent(source, .communication, CaptivityDetails(proof: .letter),
                                            details: EventDetails(occurredOn: PartialDate(year: year, month: month)), actor: testActor,
                                            expectVersion: nil, clock: day(0))
            let target = try await store.add(NewCase(names: ["Yaroshenko Mariia"], category: .civilian, status: .captive,
                                                     since: PartialDate("2022")),
                                             details: EventDetails(), actor: testActor, clock: day(0)).record.id
            // Both told: the source for its letter, the target counted from its start.
            #expect(try await store.recordDueAlerts(policy, actor: daemon, clock: day(0)).count == 2)
            let prefer = Dictionary(uniqueKeysWithValues: MergeField.allCases.map { ($0, MergeSide.target) })
            let merged = try await store.merge(source, into: target, prefer: prefer, details: EventDetails(), actor: testActor,
                                               expectVersion: nil, targetVersion: nil, clock: day(1))
            #expect(merged.target.record.proofOfLife?.kind == .letter, "the target keeps the source's letter")
            let after = try await store.recordDueAlerts(policy, actor: daemon, clock: day(2))
            #expect(after.isEmpty, "the letter's 1y was told already: \(after.map(\.threshold))")
        }
    }

    @Test("retention trims a prefix of the log and says through where")
    func retention() async throws {
        try await session(try temporaryDatabase()) { store in
            for index in 0..<12 {
                _ = try await store.add(NewCase(names: ["Шевченко Ганна \(index)"], category: .civilian, status: .missing),
                                        details: EventDetails(), actor: testActor, clock: day(index))
            }
            #expect(try await store.trim(.all, clock: day(100)) == 0)
            #expect(try await store.trim(.events(8), clock: day(100)) == 4)
            #expect(try await store.trimmedThrough() == 4)
            #expect(try await store.notices(after: 0, limit: 100).map(\.seq) == Array(5...12))
            // Days: events recorded more than 5 days before day 12 go (days 0..6 → seq 1..7).
            #expect(try await store.trim(.days(5), clock: day(12)) == 3)
            #expect(try await store.trimmedThrough() == 7)
            #expect(try await store.history(CaseID(number: 3)) == [])
            #expect(try await store.trim(.days(5), clock: day(12)) == 0, "nothing more to do")
            // The chain of the events kept starts from the last hash removed.
            let kept = try await store.verify()
            #expect(kept.ok && kept.events == 5 && kept.firstSeq == 8, "\(kept.problems)")
            // Cases 1 to 7 have no event left: their rows are said to be unchecked, not passed.
            #expect(kept.unchecked == 7, "\(kept.unchecked)")
            // A mark moved down to leave more rows unchecked is found: events under it remain.
            try await store.pool.write { db in try db.execute(sql: "UPDATE counters SET value = 9 WHERE name = 'trimmed_through'") }
            let moved = try await store.verify()
            #expect(!moved.ok && moved.problems.first?.subject == "event 9", "\(moved.problems)")
            try await store.pool.write { db in try db.execute(sql: "UPDATE counters SET value = 7 WHERE name = 'trimmed_through'") }
            #expect(try await store.trim(.events(0), clock: day(100)) == 5)
            let none = try await store.verify()
            #expect(none.ok && none.events == 0 && none.head == kept.head, "an empty log keeps the head")
            _ = try await store.add(NewCase(names: ["Шевченко Ганна"], category: .civilian, status: .missing),
                                    details: EventDetails(), actor: testActor, clock: day(101))
            #expect(try await store.verify().ok, "the chain goes on after everything was trimmed")
        }
    }
}
