import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Synchronization
import Testing
import TestThreads

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

@Suite("Crashes: kill -9 under load", .serialized, .blocking)
struct CrashTests {
    static let writers = 8
    static let cycles = 100

    /// One writer until its connection dies: open a case, then move its unit along, each
    /// recorded as acknowledged only when the answer came.
    static func write(socket: String, writer: Int, cycle: Int, ledger: CrashLedger, added: DispatchSemaphore) {
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
                added.signal()
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

    /// Runs `cycles` rounds of: 8 writers at work, the daemon killed at a random moment, then
    /// `cut` (what else the crash takes), a restart, and the checks: every acknowledged change
    /// reads back, anything else on record was in flight, the chain verifies.
    static func cycles(_ cycles: Int, _ daemon: DaemonProcess, config: String, seed: UInt64,
                       cut: () throws -> Void = {}) throws -> Int {
        let ledger = CrashLedger()
        var random = SeededRandom(seed: seed)
        var acknowledgedTotal = 0
        for cycle in 0..<cycles {
            let socket = daemon.socket
            let added = DispatchSemaphore(value: 0)
            let writers = DispatchGroup()
            for writer in 0..<Self.writers {
                writers.enter()
                Thread {
                    Self.write(socket: socket, writer: writer, cycle: cycle, ledger: ledger, added: added)
                    writers.leave()
                }.start()
            }
            // Kill at a moment the writers are at it: once this cycle has had two cases
            // acknowledged, then after a random few milliseconds more (the random moment is the
            // point of the test, not a wait).
            for _ in 0..<2 { _ = added.wait(timeout: .now() + 30) }
            usleep(UInt32(random.next() % 60_000))
            daemon.crash()
            writers.wait()
            try cut()

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
            #expect(verify.string("ok") == "yes", "cycle \(cycle): the chain: \(verify)")
        }
        return acknowledgedTotal
    }

    @Test("100 kill -9 cycles under 8 writers: every acknowledged change is read back, none invented, the chain verifies")
    func killCycles() throws {
        let daemon = try Daemon(start: false)
        // No time alerts: every event is one a writer sent.
        let config = "held_alerts = off\n"
        try daemon.start(config: config)
        let cases = try Self.cycles(Self.cycles, daemon, config: config, seed: 100)
        // The load was real: every cycle added cases.
        #expect(cases >= Self.cycles * 2, "\(cases) cases after \(Self.cycles) cycles")
        let integrity = try Daemon.run(URL(fileURLWithPath: "/usr/bin/sqlite3"), [daemon.database, "PRAGMA integrity_check;"])
        #expect(integrity.stdout == "ok\n")
    }

    @Test("20 power cuts under 8 writers: what was not synced is gone, every acknowledged change is still there")
    func powerCuts() throws {
        let daemon = try Daemon(start: false)
        let disk = try LazyDisk(in: daemon.folder)
        defer { disk.stop() }
        let inside = try Daemon.onDatabase(disk.mountpoint.appendingPathComponent("cases.sqlite").path, in: daemon.folder)
        let config = "held_alerts = off\n"
        try inside.start(config: config)
        let cases = try Self.cycles(20, inside, config: config, seed: 20) {
            // The power goes: the daemon and, with the file system's process, every write
            // that was not synced.
            try disk.cut()
        }
        #expect(cases >= 40, "\(cases) cases after 20 cuts")
        #expect(disk.cuts == 20)
        inside.crash()
        let integrity = try Daemon.run(URL(fileURLWithPath: "/usr/bin/sqlite3"),
                                       [disk.backing.appendingPathComponent("cases.sqlite").path, "PRAGMA integrity_check;"])
        #expect(integrity.stdout == "ok\n")
    }
}

/// A FUSE file system that holds written data in memory until it is synced
/// (Tests/Faults/lazyfs.py): killing its process is a power cut.
final class LazyDisk {
    let backing: URL
    let mountpoint: URL
    private var process: Process?
    private(set) var cuts = 0

    init(in folder: URL) throws {
        backing = folder.appendingPathComponent("backing")
        mountpoint = folder.appendingPathComponent("mnt")
        for url in [backing, mountpoint] { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
        try mount()
    }

    private func mount() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Faults/lazyfs.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [script, backing.path, mountpoint.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        // Mounted when it says so (it needs root, /dev/fuse and python3-pyfuse3: make deps).
        let said = String(decoding: output.fileHandleForReading.readData(ofLength: 8), as: UTF8.self)
        guard said == "mounted\n" else {
            process.terminate()
            throw CasetrackError(.internalError, "lazyfs did not mount \(mountpoint.path): \(said)")
        }
        self.process = process
    }

    /// Kills the file system's process (unsynced data dies with it), detaches the dead
    /// mount and mounts afresh: an empty page cache, as after a reboot.
    func cut() throws {
        guard let process else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        _ = try DaemonProcess.run(URL(fileURLWithPath: "/usr/bin/umount"), ["-l", mountpoint.path])
        self.process = nil
        cuts += 1
        try mount()
    }

    /// Ends the file system the way a cut does (its data is not needed after the test).
    func stop() {
        guard let process else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        _ = try? DaemonProcess.run(URL(fileURLWithPath: "/usr/bin/umount"), ["-l", mountpoint.path])
        self.process = nil
    }
}
