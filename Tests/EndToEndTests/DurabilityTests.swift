import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Synchronization
import Testing
import TestThreads

/// How many sessions the churning threads completed, and whether they should stop.
final class Churn: Sendable {
    private let state = Mutex<(sessions: Int, stopping: Bool)>((0, false))

    func completed() { state.withLock { $0.sessions += 1 } }
    func stop() { state.withLock { $0.stopping = true } }
    var sessions: Int { state.withLock { $0.sessions } }
    var stopping: Bool { state.withLock { $0.stopping } }
}

/// Ids the daemon acknowledged, collected from several writer threads.
final class Acknowledged: Sendable {
    private let state = Mutex<[String]>([])

    func add(_ id: String) { state.withLock { $0.append(id) } }

    var ids: [String] { state.withLock { $0 } }
}

@Suite("Durability and lifecycle of the daemon", .blocking)
struct DurabilityTests {
    @Test("the thread that commits is named ct-writer, as top -H and perf show it")
    func writerThreadName() throws {
        let daemon = try Daemon()
        // A committed write: the writer thread is running (it names itself as it starts).
        try daemon.casectl("add", "--name", "Гордієнко Мирослава", "--category", "civilian", "--status", "missing")
        let pid = try #require(daemon.process?.processIdentifier)
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")
        let names = tasks.compactMap { try? String(contentsOfFile: "/proc/\(pid)/task/\($0)/comm", encoding: .utf8) }
        #expect(names.contains("ct-writer\n"), "\(names)")
    }

    @Test("data survives a restart")
    func restart() throws {
        let daemon = try Daemon()
        try daemon.casectl("add", "--name", "Руденко Богдан", "--category", "military", "--status", "captive", "--since", "2022-04")
        try daemon.casectl("set-status", "C-000001", "returned", "--at", "2024-06-25")
        #expect(daemon.stop() == 0)
        // After a clean stop the database file alone holds everything: a copy of it without
        // the WAL beside it reads both events.
        let copy = daemon.folder.appendingPathComponent("copy.sqlite").path
        try FileManager.default.copyItem(atPath: daemon.database, toPath: copy)
        let events = try Daemon.run(URL(fileURLWithPath: "/usr/bin/sqlite3"), [copy, "SELECT count(*) FROM events"])
        #expect(events.stdout == "2\n", "\(events.stdout) \(events.stderr)")
        try daemon.start()
        let record = try daemon.casectl("get", "C-000001", "--json").json()
        #expect(record["status"] as? String == "returned" && record["version"] as? Int == 2)
        let added = try daemon.casectl("add", "--name", "Лисенко Олена", "--category", "civilian", "--status", "missing")
        #expect(added.stdout.hasPrefix("C-000002 added") && added.stdout.contains("(event 3)"), "numbering goes on")
    }

    @Test("the database is for the daemon's user only; the socket for its user and group")
    func permissions() throws {
        let daemon = try Daemon()
        try daemon.casectl("add", "--name", "Марченко Сергій", "--category", "military", "--status", "missing")
        func mode(_ path: String) throws -> Int {
            try (FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
        }
        #expect(try mode(daemon.database) == 0o600)
        #expect(try mode(daemon.database + "-wal") == 0o600)
        #expect(try mode(daemon.socket) == 0o660)
    }

    @Test("every acknowledged write survives kill -9")
    func crash() throws {
        let daemon = try Daemon()
        let client = try daemon.client()
        // Pipeline writes and stop the daemon dead right after the last acknowledgement.
        for index in 0..<300 {
            try client.send(Request(verb: "ADD", options: [("name", "Савченко Дмитро \(index)"), ("category", "military"),
                                                           ("status", "captive"), ("ref", "R-\(index)")]))
        }
        var acknowledged: [String] = []
        for _ in 0..<300 { acknowledged.append(try client.receive().get().string("id") ?? "") }
        daemon.crash()
        try daemon.start()
        let after = try daemon.client()
        for id in acknowledged {
            #expect(try after.get(#require(CaseID(id))) != nil, "\(id) was acknowledged")
        }
        let integrity = try Daemon.run(URL(fileURLWithPath: "/usr/bin/sqlite3"), [daemon.database, "PRAGMA integrity_check;"])
        #expect(integrity.stdout == "ok\n")
    }

    @Test("SIGTERM: connected clients are told, the daemon exits 0")
    func gracefulStop() throws {
        let daemon = try Daemon()
        let session = try daemon.raw()
        try session.send("PING\n")
        #expect(try session.answer() == ["OK"])
        #expect(daemon.stop() == 0)
        #expect(try session.line()?.hasPrefix("BYE shutting-down") == true)
        #expect(try session.line() == nil)
        #expect(!FileManager.default.fileExists(atPath: daemon.socket), "the socket file is removed")
    }

    @Test("SIGTERM while clients connect and disconnect: a clean exit every time")
    func stopUnderChurn() throws {
        for _ in 0..<3 {
            let daemon = try Daemon()
            let socket = daemon.socket
            let churn = Churn()
            let churners = (0..<4).map { _ in
                Thread {
                    while !churn.stopping {
                        if let session = try? RawSession(socketPath: socket) {
                            try? session.send("PING\n")
                            if (try? session.answer()) == ["OK"] { churn.completed() }
                        }
                    }
                }
            }
            churners.forEach { $0.start() }
            // Stop in the middle of the churn, not before it began.
            let started = ContinuousClock.now
            while churn.sessions < 20, ContinuousClock.now - started < .seconds(20) { usleep(1_000) }
            #expect(churn.sessions >= 20, "the churn ran")
            let status = daemon.stop()
            churn.stop()
            while churners.contains(where: { !$0.isFinished }) { usleep(5_000) }
            #expect(status == 0)
        }
    }

    @Test("a write waits for another process's short lock; a lock held too long stops the daemon without acknowledging")
    func lockedDatabase() throws {
        let config = try Daemon(start: false)
        let daemon = try Daemon(start: false)
        try "busy_timeout = 2\n".write(toFile: config.folder.appendingPathComponent("c.conf").path, atomically: true, encoding: .utf8)
        try daemon.start(extraArguments: ["--config", config.folder.appendingPathComponent("c.conf").path])
        // A short lock: the write waits and then succeeds.
        let holder = try Self.holdLock(daemon.database, seconds: 0.7)
        let waited = try daemon.casectl("add", "--name", "Гребенюк Ганна", "--category", "civilian", "--status", "missing")
        holder.waitUntilExit()
        #expect(waited.status == 0, "\(waited.stderr)")
        // A long lock: the write is refused with storage-failure and the daemon stops.
        let long = try Self.holdLock(daemon.database, seconds: 5)
        let refused = try daemon.casectl("add", "--name", "Гребенюк Ганна", "--category", "civilian", "--status", "missing")
        #expect(refused.status == 1 && refused.stderr.contains("database"), "\(refused.status) \(refused.stderr)")
        #expect(daemon.waitForExit(seconds: 20) == 1, "the daemon stops rather than carry on")
        long.waitUntilExit()
        try daemon.start()
        #expect(try daemon.casectl("count").stdout == "1\n", "only the acknowledged write is there")
    }

    /// Holds a write lock on the database from another process for a while; returns once the
    /// lock is taken.
    static func holdLock(_ database: String, seconds: Double) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", """
            import sqlite3, time
            c = sqlite3.connect(\"\(database)\", isolation_level=None, timeout=10)
            c.execute("BEGIN IMMEDIATE")
            print("locked", flush=True)
            time.sleep(\(seconds))
            c.execute("ROLLBACK")
            """]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        // Wait for the word, not for a guess of how long Python takes to start.
        let said = String(decoding: output.fileHandleForReading.readData(ofLength: 7), as: UTF8.self)
        guard said == "locked\n" else { throw CasetrackError(.internalError, "the lock holder did not start: \(said)") }
        return process
    }

    @Test("a second daemon on the same socket refuses to start; a stale socket is replaced")
    func singleInstance() throws {
        let first = try Daemon()
        let second = try Daemon(start: false)
        let result = try Daemon.run(Daemon.binDirectory.appendingPathComponent("casetrackd"),
                                    ["--socket", first.socket, "--database", second.database])
        #expect(result.status != 0 && result.stderr.contains("already listening"))
        #expect(try first.casectl("ping").status == 0, "the first one is undisturbed")
        first.crash()
        #expect(FileManager.default.fileExists(atPath: first.socket), "kill -9 leaves the socket file behind")
        try first.start()
        #expect(try first.casectl("ping").status == 0)
    }

    @Test("a damaged database is refused with a clear message and left as it was")
    func damaged() throws {
        let daemon = try Daemon(start: false)
        let garbage = Data((0..<16_384).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try garbage.write(to: URL(fileURLWithPath: daemon.database))
        let result = try Daemon.run(Daemon.binDirectory.appendingPathComponent("casetrackd"),
                                    ["--socket", daemon.socket, "--database", daemon.database])
        #expect(result.status == 1 && result.stderr.contains("cannot open the database"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: daemon.database)) == garbage)
    }
}
