import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Synchronization
import Testing

/// What the writers of one crash cycle sent and what the daemon acknowledged.
final class CrashLedger: Sendable {
    struct Case: Sendable {
        let name: String
        /// The unit of the last acknowledged UPDATE (or what a restart showed).
        var unit: String?
        /// An UPDATE sent whose answer did not come: it may or may not be there.
        var unitInFlight: String?
    }

    private let state = Mutex<(cases: [String: Case], addsInFlight: Set<String>)>(([:], []))

    func added(_ id: String, name: String) { state.withLock { $0.cases[id] = Case(name: name) } }
    func adding(_ name: String) { state.withLock { _ = $0.addsInFlight.insert(name) } }
    func addAnswered(_ name: String) { state.withLock { _ = $0.addsInFlight.remove(name) } }
    func updating(_ id: String, unit: String) { state.withLock { $0.cases[id]?.unitInFlight = unit } }
    func updated(_ id: String, unit: String) {
        state.withLock {
            $0.cases[id]?.unit = unit
            $0.cases[id]?.unitInFlight = nil
        }
    }

    var snapshot: (cases: [String: Case], addsInFlight: Set<String>) { state.withLock { $0 } }

    /// After a restart: what was seen is now the record, and nothing is in flight.
    func settle(_ cases: [String: Case]) { state.withLock { $0 = (cases, []) } }
}

@Suite("Crashes: kill -9 under load", .serialized)
struct CrashTests {
    static let writers = 8
    static let cycles = 100

    /// One writer until its connection dies: open a case, then move its unit along, each
    /// recorded as acknowledged only when the answer came.
    static func write(socket: String, writer: Int, cycle: Int, ledger: CrashLedger) {
        guard let client = try? CasetrackClient(socketPath: socket) else { return }
        var mine: [String] = []
        var step = 0
        while true {
            step += 1
            if mine.isEmpty || step % 3 == 0 {
                let name = "Кравчук Тест \(cycle)-\(writer)-\(step)"
                ledger.adding(name)
                guard let answer = try? client.request(Request(verb: "ADD", options: [
                    ("name", name), ("category", "civilian"), ("status", "missing"),
                ])) else { return }
                guard case .success(let fields) = answer.outcome, let id = fields.string("id") else { return }
                ledger.added(id, name: name)
                ledger.addAnswered(name)
                mine.append(id)
            } else {
                let id = mine[step % mine.count]
                let unit = "unit \(cycle)-\(writer)-\(step)"
                ledger.updating(id, unit: unit)
                guard let answer = try? client.request(Request(verb: "UPDATE", positional: [id], options: [("unit", unit)])),
                      case .success = answer.outcome else { return }
                ledger.updated(id, unit: unit)
            }
        }
    }

    /// Every case on record, by id: its first name and unit.
    static func allCases(_ client: CasetrackClient) throws -> [String: (name: String, unit: String?)] {
        var found: [String: (name: String, unit: String?)] = [:]
        var after: String?
        repeat {
            var options: [(key: String, value: String)] = [("limit", "10000")]
            if let after { options.append(("after", after)) }
            let answer = try client.request(Request(verb: "LIST", options: options))
            let final = try answer.get()
            for fields in answer.data {
                guard let id = fields.string("id") else { continue }
                found[id] = (fields.strings("names").first ?? "", fields.string("unit"))
            }
            after = final.string("next")
        } while after != nil
        return found
    }

    @Test("100 kill -9 cycles under 8 writers: every acknowledged change is read back, none invented, the chain verifies")
    func killCycles() throws {
        let daemon = try Daemon(start: false)
        // No time alerts: every event is one a writer sent.
        let config = "held_alerts = off\n"
        try daemon.start(config: config)
        let ledger = CrashLedger()
        var random = SeededRandom(seed: 100)
        var acknowledgedTotal = 0
        for cycle in 0..<Self.cycles {
            let socket = daemon.socket
            let threads = (0..<Self.writers).map { writer in
                Thread { Self.write(socket: socket, writer: writer, cycle: cycle, ledger: ledger) }
            }
            threads.forEach { $0.start() }
            // Kill at a moment the writers are at it: once this cycle has had some answers,
            // then after a random few milliseconds more.
            let before = ledger.snapshot.cases.count
            let started = ContinuousClock.now
            while ledger.snapshot.cases.count < before + 2, ContinuousClock.now - started < .seconds(30) { usleep(500) }
            usleep(UInt32(random.next() % 60_000))
            daemon.crash()
            while threads.contains(where: { !$0.isFinished }) { usleep(1_000) }

            try daemon.start(config: config)
            let client = try daemon.client()
            let seen = try Self.allCases(client)
            let sent = ledger.snapshot
            var settled: [String: CrashLedger.Case] = [:]
            for (id, expected) in sent.cases {
                guard let found = seen[id] else {
                    Issue.record("cycle \(cycle): \(id) (\(expected.name)) was acknowledged and is gone")
                    continue
                }
                #expect(found.name == expected.name, "cycle \(cycle): \(id)")
                let allowed = [expected.unit, expected.unitInFlight].compactMap { $0 }
                if found.unit != expected.unit {
                    #expect(found.unit.map(allowed.contains) == true,
                            "cycle \(cycle): \(id) has unit \(found.unit ?? "none"); acknowledged \(expected.unit ?? "none")")
                }
                settled[id] = CrashLedger.Case(name: expected.name, unit: found.unit)
            }
            // Anything else on record is an ADD whose answer the crash cut off.
            for (id, found) in seen where sent.cases[id] == nil {
                #expect(sent.addsInFlight.contains(found.name), "cycle \(cycle): \(id) (\(found.name)) was never sent")
                settled[id] = CrashLedger.Case(name: found.name, unit: found.unit)
            }
            ledger.settle(settled)
            acknowledgedTotal = settled.count

            let verify = try client.request(Request(verb: "VERIFY")).get()
            #expect(verify.string("ok") == "yes",
                    "cycle \(cycle): the chain: \(verify)")
        }
        // The load was real: every cycle added cases.
        #expect(acknowledgedTotal >= Self.cycles * 2, "\(acknowledgedTotal) cases after \(Self.cycles) cycles")
        let integrity = try Daemon.run(URL(fileURLWithPath: "/usr/bin/sqlite3"), [daemon.database, "PRAGMA integrity_check;"])
        #expect(integrity.stdout == "ok\n")
    }
}
