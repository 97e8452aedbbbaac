#if Postgres
import CasetrackCore
import CasetrackPostgres
@testable import CasetrackStore
import Foundation
import Synchronization
import Testing
import TestThreads

/// The register as another office's log sees it, whose reads of rounds fail once the
/// allowed number was made (a store that stops answering part-way through a catch-up).
final class FailingReads: SharedLog {
    let base: any SharedLog
    private let left = Atomic<Int>(0)

    init(_ base: any SharedLog) { self.base = base }

    private let baseBreaks = Atomic<Bool>(false)

    /// The next `reads` reads of rounds are answered; the ones after fail.
    func allow(_ reads: Int) { left.store(reads, ordering: .relaxed) }

    /// Fetches of the starting point write part of a file, then fail.
    func breakBase() { baseBreaks.store(true, ordering: .relaxed) }

    var office: String { base.office }
    func open(schema: Int) throws -> SharedRegister { try base.open(schema: schema) }
    func storeBase(path: String, sha256: String) throws { try base.storeBase(path: path, sha256: sha256) }
    func fetchBase(to path: String) throws -> String? {
        guard baseBreaks.load(ordering: .relaxed) else { return try base.fetchBase(to: path) }
        try Data(repeating: 0x5A, count: 12_288).write(to: URL(fileURLWithPath: path))
        throw SharedLogFailure(outcomeUnknown: false, message: "the test's store stopped answering part-way")
    }
    func probe() throws -> SharedRegister? { try base.probe() }
    func append(round: Int64, changeset: [UInt8], firstSeq: Int64, lastSeq: Int64,
                digest: String, previous: String?) throws -> SharedAppend {
        try base.append(round: round, changeset: changeset, firstSeq: firstSeq, lastSeq: lastSeq, digest: digest, previous: previous)
    }
    func rounds(after round: Int64, limit: Int, maxBytes: Int) throws -> SharedRounds {
        guard left.subtract(1, ordering: .relaxed).newValue >= 0 else {
            throw SharedLogFailure(outcomeUnknown: false, message: "the test's store stopped answering")
        }
        return try base.rounds(after: round, limit: limit, maxBytes: maxBytes)
    }
    func follow(every seconds: Double, _ onRound: @escaping @Sendable () -> Void) async {}
    func close() { base.close() }
}

@Suite("An office's copy catching up with the register", .blocking)
struct FollowRegisterTests {
    /// A new database of the test cluster, for a register of its own.
    static func newRegister() throws -> String {
        let database = "follow_\(UUID().uuidString.prefix(8).lowercased())"
        try StoreKind.cluster.get().createDatabase(database)
        return database
    }

    /// Office `office`'s log of the register in `database`.
    static func log(_ office: String, _ database: String) throws -> any SharedLog {
        let cluster = try StoreKind.cluster.get()
        return try PostgresSharedLog(try PostgresConnInfo(cluster.connInfo(database: database)), password: nil, office: office,
                                     defaultUser: cluster.user, logger: .init(label: "follow-tests"))
    }

    /// Office a's store on a new register with `cases` cases added (a round each), and office
    /// b's copy of it, joined with nothing applied (its start-up read of rounds fails), with
    /// the log whose reads of rounds the test allows.
    func offices(cases: Int, _ body: (SQLiteCaseStore, FailingReads, SQLiteCaseStore) async throws -> Void) async throws {
        let database = try Self.newRegister()
        func log(_ office: String) throws -> any SharedLog { try Self.log(office, database) }
        try await withFolder { folder in
            let a = try SQLiteCaseStore(path: folder.appendingPathComponent("a.sqlite").path, shared: try log("a"))
            try await whileRunning(a) {
                for number in 0..<cases {
                    _ = try await a.add(NewCase(names: ["Бойко Остап \(number)"], category: .civilian, status: .missing),
                                        details: EventDetails(), actor: testActor, clock: clock())
                }
                let reads = FailingReads(try log("b"))
                let b = try SQLiteCaseStore(path: folder.appendingPathComponent("b.sqlite").path, shared: reads)
                defer { try? b.close() }
                #expect(b.startupProblem != nil)
                try await body(a, reads, b)
            }
        }
    }

    @Test("rounds fetched in parts by size: the follow goes on to the end of the register")
    func bySize() async throws {
        try await offices(cases: 12) { a, log, b in
            log.allow(1_000)
            var published: [Int64] = []
            // Every changeset is over one byte: one round a read.
            let applied = try SQLiteCaseStore.followRegister(try #require(b.replica), maxBytes: 1, b.pool) {
                published += $0.map(\.seq)
            }
            #expect(applied == 12)
            let last = try await a.lastSequence()
            #expect(published == Array(1...last))
            #expect(try await b.count(CaseFilter(), today: testToday) == 12)
        }
    }

    @Test("a register that lost the round a copy holds, then was written on past it: the copy, opened again either time, takes no more, and writes are refused")
    func rewrittenRound() async throws {
        let database = try Self.newRegister()
        func log(_ office: String) throws -> any SharedLog { try Self.log(office, database) }
        func person(_ name: String) -> NewCase { NewCase(names: [name], category: .civilian, status: .missing) }
        try await withFolder { folder in
            let path = folder.appendingPathComponent("a.sqlite").path
            let a = try SQLiteCaseStore(path: path, shared: try log("a"))
            try await whileRunning(a) {
                for name in ["Кравчук Орися", "Кравчук Данило", "Кравчук Ярема"] {
                    _ = try await a.add(person(name), details: EventDetails(), actor: testActor, clock: clock())
                }
            }
            try a.close()
            // What a failover to a standby that had not yet received round 3 leaves.
            _ = try StoreKind.cluster.get().psql("DELETE FROM casetrack_rounds WHERE round = 3; UPDATE casetrack_register SET round = 2", database: database)
            // Opened while the register holds fewer rounds: writes refused, reads served (the
            // daemon stopped here, taking the copy's reads with it).
            let behind = try SQLiteCaseStore(path: path, shared: try log("a"))
            let fewer = "holds fewer rounds than this office's copy"
            #expect(behind.startupProblem?.code == .storageDamaged)
            #expect(behind.startupProblem?.message.contains(fewer) == true, "\(String(describing: behind.startupProblem))")
            try await whileRunning(behind) {
                let refused = await #expect(throws: CasetrackError.self) {
                    try await behind.add(person("Кравчук Мирон"), details: EventDetails(), actor: testActor, clock: clock())
                }
                #expect(refused?.code == .storageDamaged)
                #expect(refused?.message.contains(fewer) == true, "\(String(describing: refused))")
                let count = try await behind.count(CaseFilter(), today: testToday)
                #expect(count == 3)
            }
            try behind.close()
            // Another office, new, writes on: its round 3 opens another person as case 3.
            let b = try SQLiteCaseStore(path: folder.appendingPathComponent("b.sqlite").path, shared: try log("b"))
            try await whileRunning(b) {
                for name in ["Гаврилюк Стефа", "Гаврилюк Назар"] {
                    _ = try await b.add(person(name), details: EventDetails(), actor: testActor, clock: clock())
                }
                #expect(try await b.get(CaseID(number: 3))?.names == ["Гаврилюк Стефа"])
            }
            // Office a's copy, opened again, holds another round 3 than the register.
            let again = try SQLiteCaseStore(path: path, shared: try log("a"))
            let differs = "round 3 is not the round 3 this office's copy"
            #expect(again.startupProblem?.code == .storageDamaged)
            #expect(again.startupProblem?.message.contains(differs) == true, "\(String(describing: again.startupProblem))")
            try await whileRunning(again) {
                let refused = await #expect(throws: CasetrackError.self) {
                    try await again.add(person("Кравчук Мирон"), details: EventDetails(), actor: testActor, clock: clock())
                }
                #expect(refused?.message.contains(differs) == true, "\(String(describing: refused))")
                // The copy stays as it was: its own case 3, nothing of the other history.
                let count = try await again.count(CaseFilter(), today: testToday)
                let third = try await again.get(CaseID(number: 3))
                #expect(count == 3)
                #expect(third?.names == ["Кравчук Ярема"])
            }
        }
    }

    @Test("a running office whose round the register lost, and another office wrote again under its number: its next append is refused by the register, and so are its writes")
    func appendAfterRewrittenRound() async throws {
        let database = try Self.newRegister()
        func person(_ name: String) -> NewCase { NewCase(names: [name], category: .civilian, status: .missing) }
        func registerRound() throws -> String {
            try StoreKind.cluster.get().psql("SELECT round FROM casetrack_register", database: database)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        try await withFolder { folder in
            // Office a hears of no other office's rounds by itself (this log's follow does
            // nothing): it finds out only when it appends.
            let quiet = FailingReads(try Self.log("a", database))
            quiet.allow(1_000)
            let a = try SQLiteCaseStore(path: folder.appendingPathComponent("a.sqlite").path, shared: quiet)
            try await whileRunning(a) {
                for name in ["Кравчук Орися", "Кравчук Данило", "Кравчук Ярема"] {
                    _ = try await a.add(person(name), details: EventDetails(), actor: testActor, clock: clock())
                }
                _ = try StoreKind.cluster.get().psql("DELETE FROM casetrack_rounds WHERE round = 3; UPDATE casetrack_register SET round = 2", database: database)
                // Office b writes one round: the register's last is round 3 again, another one.
                let b = try SQLiteCaseStore(path: folder.appendingPathComponent("b.sqlite").path, shared: try Self.log("b", database))
                try await whileRunning(b) {
                    _ = try await b.add(person("Гаврилюк Стефа"), details: EventDetails(), actor: testActor, clock: clock())
                    #expect(try registerRound() == "3")

                    // Its round 4 would follow its own round 3, which the register no longer holds.
                    let refused = await #expect(throws: CasetrackError.self) {
                        try await a.add(person("Кравчук Мирон"), details: EventDetails(), actor: testActor, clock: clock())
                    }
                    #expect(refused?.code == .storageDamaged)
                    #expect(refused?.message.contains("round 3 is not the round 3 this office's copy") == true, "\(String(describing: refused))")
                    #expect(try registerRound() == "3", "nothing of office a's was appended")
                    let count = try await a.count(CaseFilter(), today: testToday)
                    #expect(count == 3)
                }
            }
        }
    }

    @Test("a starting point cut off part-way: the file is emptied, nothing said changed is changed, and the next start makes the copy")
    func startCutOff() async throws {
        let database = try Self.newRegister()
        try await withFolder { folder in
            let path = folder.appendingPathComponent("a.sqlite").path
            let broken = FailingReads(try Self.log("a", database))
            broken.allow(1_000)
            broken.breakBase()
            let refused = #expect(throws: CasetrackError.self) { _ = try SQLiteCaseStore(path: path, shared: broken) }
            #expect(refused?.message.contains("nothing was changed") == true, "\(String(describing: refused))")
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
            #expect(size == 0, "the part fetched is not left to be taken for a copy")
            let store = try SQLiteCaseStore(path: path, shared: try Self.log("a", database))
            #expect(store.startupProblem == nil, "\(String(describing: store.startupProblem))")
            try store.close()
        }
    }

    @Test("a copy's digest names its round: one of an older round (a casetrackd that kept none moved the copy on since) is not compared")
    func digestOfItsRound() {
        let stored = SQLiteCaseStore.roundDigestValue(round: 10, digest: "ab12")
        #expect(SQLiteCaseStore.roundDigest(stored, round: 10) == "ab12")
        #expect(SQLiteCaseStore.roundDigest(stored, round: 40) == nil)
        #expect(SQLiteCaseStore.roundDigest(nil, round: 10) == nil)
    }

    @Test("a catch-up cut part-way: what it committed is published, and the next one goes on from there")
    func cutPartWay() async throws {
        try await offices(cases: 12) { a, log, b in
            let replica = try #require(b.replica)
            var published: [Int64] = []
            log.allow(2)
            #expect(throws: SharedLogFailure.self) {
                try SQLiteCaseStore.followRegister(replica, batch: 4, b.pool) { published += $0.map(\.seq) }
            }
            #expect(try await b.count(CaseFilter(), today: testToday) == 8, "two parts of four committed")
            let committed = try await b.lastSequence()
            #expect(committed > 0 && published == Array(1...committed), "their notices were published")
            log.allow(1_000)
            try SQLiteCaseStore.followRegister(replica, batch: 4, b.pool) { published += $0.map(\.seq) }
            let last = try await a.lastSequence()
            #expect(published == Array(1...last), "every notice once, in order")
        }
    }
}
#endif
