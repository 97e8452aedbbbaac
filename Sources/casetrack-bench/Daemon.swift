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
    let bin: String
    let folder: URL
    let database: String
    let socket: String
    private var process: Process?

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

    init(bin: String, folder: URL, database: String) throws {
        self.bin = bin
        self.folder = folder
        self.database = database
        socket = folder.appendingPathComponent("s.sock").path
        try Daemon.configuration.write(to: folder.appendingPathComponent("bench.conf"), atomically: true, encoding: .utf8)
        _ = FilePermissions.raiseOpenFileLimit(to: 16_384)
    }

    /// Starts the daemon and returns the microseconds from spawn to its READY=1, read from a
    /// NOTIFY_SOCKET of our own as systemd would.
    func start() throws -> UInt64 {
        let notifyPath = folder.appendingPathComponent("notify").path
        unlink(notifyPath)
        let fd: Int32
        switch UnixSocket.bind(path: notifyPath, kind: .datagram) {
        case .success(let bound): fd = bound
        case .failure(.pathTooLong): throw BenchError("bind \(notifyPath): the path is too long for a Unix socket")
        case .failure(.system(_, let reason)): throw BenchError("bind \(notifyPath): \(reason)")
        }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        let process = Process()
        process.executableURL = URL(fileURLWithPath: bin).appendingPathComponent("casetrackd")
        process.arguments = ["--socket", socket, "--database", database, "--config", folder.appendingPathComponent("bench.conf").path,
                             "--log-target", "stderr"]
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = notifyPath
        process.environment = environment
        let log = folder.appendingPathComponent("casetrackd.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: log)
        let started = now()
        try process.run()
        self.process = process
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else {
                let said = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                if !process.isRunning { throw BenchError("casetrackd exited before READY=1: \(said.suffix(500))") }
                if now() - started > 300_000_000 { throw BenchError("casetrackd did not send READY=1 within 300 s") }
                continue
            }
            if String(decoding: buffer[0..<count], as: UTF8.self).split(separator: "\n").contains("READY=1") { return now() - started }
        }
    }

    func residentMegabytes() -> Int {
        guard let process, let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return -1 }
        return kilobytes / 1024
    }

    func stop() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }

    deinit { stop() }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The generated data set: built once per size with IMPORT through a daemon, then copied.
enum Dataset {
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
        let today = Day(unixMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
        var random = SeededRandom(seed: 1_000_000)
        let client = try CasetrackClient(socketPath: daemon.socket)
        let started = now()
        var rows: [(key: String, value: String)] = []
        var size = 0
        var inFlight = 0
        // Each batch is sent as soon as it is made, with the next one generated while the
        // daemon commits it.
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
        for index in 0..<cases {
            var new = Synthetic.newCase(&random, today: today)
            new.references = ["B-\(index)"]
            let text = ImportRow(new: new, details: EventDetails()).text
            // As it goes on the line: quoted, its quotes escaped.
            let cost = LineCodec.quote(text).utf8.count + 5
            if size + cost > 60_000 || rows.count == ImportRow.maximumRowsPerRequest { try send() }
            rows.append(("row", text))
            size += cost
        }
        try send()
        while inFlight > 0 {
            _ = try client.receive().get()
            inFlight -= 1
        }
        let seconds = Double(now() - started) / 1_000_000
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
