#if canImport(Glibc)
import Glibc
#endif
import CasetrackClient
import CasetrackCore
import CasetrackPOSIX
import CasetrackTestSupport
import Foundation

/// The daemon under measurement: limits raised so that the load, not a guard, is measured.
final class Daemon {
    private let daemon: DaemonProcess
    var socket: String { daemon.socket }
    var database: String { daemon.database }

    static let configuration = """
        request_rate = off
        max_connections = 8192
        max_connections_per_uid = 8192
        max_subscribers = 4096
        subscriber_buffer = 100000
        held_alerts = off
        stale_after = off
        log_level = warning
        """

    /// Configuration lines after the bench's own (an office's store settings).
    private let extraConfiguration: String

    init(bin: String, folder: URL, database: String, configuration: String = "") throws {
        daemon = try DaemonProcess(bin: URL(fileURLWithPath: bin), folder: folder, database: database,
                                   logFile: folder.appendingPathComponent("casetrackd.log"))
        extraConfiguration = configuration
        _ = FilePermissions.raiseOpenFileLimit(to: 16_384)
    }

    /// Starts the daemon and returns the microseconds from spawn to its READY=1, read from a
    /// NOTIFY_SOCKET of our own as systemd would.
    func start() throws -> UInt64 {
        try daemon.startTimingReady(config: Daemon.configuration + "\n" + extraConfiguration, extraArguments: ["--log-target", "stderr"])
    }

    func residentMegabytes() -> Int { daemon.residentMegabytes() }

    var pid: pid_t { daemon.pid ?? 0 }

    /// SIGTERM, then as long a wait as it takes: a daemon writing out a large data set is
    /// never killed in the middle.
    func stop() { daemon.stop(timeout: nil) }

    // Before the harness's own deinit, which would kill it.
    deinit { stop() }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The generated data set: built once per size with IMPORT through a daemon, then copied.
enum Dataset {
    /// Loads `rows` new synthetic cases through IMPORT, in requests of up to 1,000 rows that
    /// fit a `maxLine`-byte line, sent one ahead (each batch is sent as soon as it is made, the
    /// next one generated while the daemon commits it); returns the seconds it took.
    static func load(socket: String, rows count: Int, seed: UInt64, referencePrefix: String, maxLine: Int = 65_536) throws -> Double {
        let today = Day(unixMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
        var random = SeededRandom(seed: seed)
        let client = try CasetrackClient(socketPath: socket)
        let started = now()
        var rows: [(key: String, value: String)] = []
        var size = 0
        var inFlight = 0
        func send() throws {
            guard !rows.isEmpty else { return }
            try client.send(Request(verb: "IMPORT", options: rows))
            rows = []
            size = 0
            inFlight += 1
            if inFlight > 1 {
                _ = try client.receive().get()
                inFlight -= 1
            }
        }
        for index in 0..<count {
            var new = Synthetic.newCase(&random, today: today)
            new.references = ["\(referencePrefix)-\(index)"]
            let text = ImportRow(new: new, details: EventDetails()).text
            // As it goes on the line: quoted, its quotes escaped.
            let cost = LineCodec.quote(text).utf8.count + 5
            // The same room casectl import leaves for the verb and the rest of the line.
            if size + cost > maxLine - 64 || rows.count == ImportRow.maximumRowsPerRequest { try send() }
            rows.append(("row", text))
            size += cost
        }
        try send()
        while inFlight > 0 {
            _ = try client.receive().get()
            inFlight -= 1
        }
        return Double(now() - started) / 1_000_000
    }

    static func prepare(cases: Int, bin: String, folder: URL, report: inout Report) throws -> String {
        let path = folder.appendingPathComponent("data-\(cases).sqlite").path
        if FileManager.default.fileExists(atPath: path) {
            // Opened once by this daemon first, so that a newer schema is migrated here and
            // not inside the timed start.
            let upgrade = folder.appendingPathComponent("upgrade-\(getpid())")
            try FileManager.default.createDirectory(at: upgrade, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: upgrade) }
            let daemon = try Daemon(bin: bin, folder: upgrade, database: path)
            _ = try daemon.start()
            daemon.stop()
            try settle(path)
            report.note("data set", "\(path) (reused)")
            return path
        }
        let build = folder.appendingPathComponent("build-\(getpid())")
        try FileManager.default.createDirectory(at: build, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: build) }
        let daemon = try Daemon(bin: bin, folder: build, database: build.appendingPathComponent("cases.sqlite").path)
        _ = try daemon.start()
        let seconds = try load(socket: daemon.socket, rows: cases, seed: 1_000_000, referencePrefix: "B")
        report.note("data set", "\(cases.formatted()) synthetic cases loaded with IMPORT in \(String(format: "%.0f", seconds)) s (\(String(format: "%.0f", Double(cases) / seconds)) cases/s)")
        daemon.stop()
        try settle(daemon.database)
        try FileManager.default.moveItem(atPath: daemon.database, toPath: path)
        return path
    }

    /// Checkpoints the WAL into the main file, so that the file alone is the data set.
    static func settle(_ database: String) throws {
        let checkpoint = Process()
        checkpoint.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        checkpoint.arguments = [database, "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;"]
        checkpoint.standardOutput = FileHandle.nullDevice
        try checkpoint.run()
        checkpoint.waitUntilExit()
        guard checkpoint.terminationStatus == 0 else { throw BenchError("sqlite3 could not checkpoint the data set") }
    }
}
