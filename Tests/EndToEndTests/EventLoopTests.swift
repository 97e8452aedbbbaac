import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Testing
import TestThreads

@Suite("The event loops that serve connections", .blocking)
struct EventLoopTests {
    /// The daemon's threads that NIO runs its event loops on (named NIO-SGLTN-<group>-#<n>).
    static func loopThreads(_ daemon: Daemon) throws -> [String] {
        let pid = try #require(daemon.pid)
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")
        return tasks.compactMap { task in
            (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }.filter { $0.hasPrefix("NIO-SGLTN-") }
    }

    /// The number the start-up line gives, `event_loops=N`.
    static func announced(_ daemon: Daemon) throws -> Int {
        let output = daemon.readAvailableOutput()
        let line = try #require(output.split(separator: "\n").first { $0.contains(" starting ") }, "\(output)")
        let field = try #require(line.split(separator: " ").first { $0.hasPrefix("event_loops=") }, "\(line)")
        return try #require(Int(field.dropFirst("event_loops=".count)))
    }

    @Test("event_loops = 3 runs three, each serving its share of the connections")
    func chosen() throws {
        let daemon = try Daemon(start: false)
        try daemon.start(config: "event_loops = 3\n", extraArguments: ["--log-level", "notice"])
        #expect(try Self.announced(daemon) == 3)
        // Connections go to the loops in turn: six subscribers are on all three, and each
        // gets the notice of a change made through a seventh connection.
        let subscribers = try (0..<6).map { _ in try daemon.client() }
        for subscriber in subscribers { try subscriber.subscribe(NoticeFilter(), since: nil) }
        #expect(try Self.loopThreads(daemon).count == 3)
        let added = try daemon.client().request(Request(verb: "ADD", options: [
            ("name", "Гнатюк Ярема"), ("category", "civilian"), ("status", "missing"),
        ])).get()
        let id = try #require(added.string("id"))
        for subscriber in subscribers {
            subscriber.setReceiveTimeout(milliseconds: 30_000)
            guard case .notice(let notice, _)? = try subscriber.nextNotice() else {
                Issue.record("no notice for a subscriber")
                continue
            }
            #expect(notice.caseID?.description == id)
        }
    }

    @Test("auto leaves a core to the writer: one fewer loop than the cores, at least one")
    func automatic() throws {
        let daemon = try Daemon(start: false)
        try daemon.start(extraArguments: ["--log-level", "notice"])
        let loops = try Self.announced(daemon)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        #expect(loops == max(1, cores - 1))
        _ = try daemon.client().request(Request(verb: "COUNT")).get()
        #expect(try Self.loopThreads(daemon).count == loops)
    }

    @Test("a bad value stops the daemon with the line named")
    func refused() throws {
        let daemon = try Daemon(start: false)
        let config = daemon.folder.appendingPathComponent("loops.conf")
        try FileManager.default.createDirectory(at: daemon.folder, withIntermediateDirectories: true)
        try "event_loops = 0\n".write(to: config, atomically: true, encoding: .utf8)
        let result = try Daemon.run(daemon.bin.appendingPathComponent("casetrackd"), ["--config", config.path, "--check-config"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("loops.conf:1: event_loops must be auto or a number of threads from 1 to 256"), "\(result.stderr)")
    }
}
