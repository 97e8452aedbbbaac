@testable import CasetrackClient
import CasetrackCore
import Foundation
import Testing

/// The real `casetrackd` binary on a socket in a fresh temporary folder.
final class Daemon: @unchecked Sendable {
    let folder: URL
    let socket: String
    let database: String
    private(set) var process: Process?
    private var output = Pipe()

    static var binDirectory: URL {
        if let path = ProcessInfo.processInfo.environment["CASETRACK_BIN_DIR"] { return URL(fileURLWithPath: path) }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug")
    }

    init(start: Bool = true) throws {
        // Short paths: a Unix socket path has room for 107 bytes.
        folder = URL(fileURLWithPath: "/tmp/ct-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        socket = folder.appendingPathComponent("s.sock").path
        database = folder.appendingPathComponent("cases.sqlite").path
        if start { try self.start() }
    }

    deinit {
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        try? FileManager.default.removeItem(at: folder)
    }

    func start(extraArguments: [String] = []) throws {
        let binary = Daemon.binDirectory.appendingPathComponent("casetrackd")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw CasetrackError(.internalError, "no casetrackd at \(binary.path): run `swift build` first (make test does)")
        }
        let process = Process()
        process.executableURL = binary
        process.arguments = ["--socket", socket, "--database", database, "--log-level", "warning"] + extraArguments
        output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        self.process = process
        try waitUntilServing()
    }

    /// Polls until a client gets the greeting; fails if the daemon exits first.
    func waitUntilServing() throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let process, !process.isRunning {
                throw CasetrackError(.internalError, "casetrackd exited with \(process.terminationStatus): \(drainOutput())")
            }
            if (try? CasetrackClient(socketPath: socket)) != nil { return }
            usleep(20_000)
        }
        throw CasetrackError(.internalError, "casetrackd did not serve within 20 s")
    }

    /// Sends SIGTERM and waits at most 30 s; returns the exit status (-9 when it had to be
    /// killed, so that a hang fails the test instead of the whole suite).
    @discardableResult
    func stop() -> Int32 {
        guard let process else { return -1 }
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning, ContinuousClock.now < deadline { usleep(10_000) }
        self.process = nil
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return -9
        }
        return process.terminationStatus
    }

    /// Waits at most `seconds` for the daemon to exit by itself; its status, or nil if it runs on.
    func waitForExit(seconds: Int) -> Int32? {
        guard let process else { return nil }
        let deadline = ContinuousClock.now + .seconds(seconds)
        while process.isRunning, ContinuousClock.now < deadline { usleep(10_000) }
        guard !process.isRunning else { return nil }
        self.process = nil
        return process.terminationStatus
    }

    /// SIGKILL: no chance to clean up, as in a crash.
    func crash() {
        guard let process else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    /// What the daemon wrote since the last look, without waiting for more.
    func readAvailableOutput() -> String {
        let fd = output.fileHandleForReading.fileDescriptor
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    func drainOutput() -> String {
        String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
    }

    func client() throws -> CasetrackClient { try CasetrackClient(socketPath: socket) }

    func raw() throws -> RawSession { try RawSession(socketPath: socket) }

    /// Runs the real casectl against this daemon.
    @discardableResult
    func casectl(_ arguments: String..., environment: [String: String] = [:]) throws -> CommandResult {
        try casectl(arguments, environment: environment)
    }

    @discardableResult
    func casectl(_ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
        try Daemon.run(Daemon.binDirectory.appendingPathComponent("casectl"), arguments,
                       environment: ["CASETRACK_SOCKET": socket].merging(environment) { $1 })
    }

    static func run(_ binary: URL, _ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CommandResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                             stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// The database's whole content, read with the sqlite3 shell.
    func dump() throws -> String {
        try Daemon.run(URL(fileURLWithPath: "/usr/bin/sqlite3"), [database, """
            SELECT * FROM cases ORDER BY id; SELECT * FROM events ORDER BY seq; SELECT * FROM case_tags ORDER BY 1, 2;
            SELECT * FROM case_refs ORDER BY 1; SELECT * FROM case_name_keys ORDER BY 1, 2; SELECT * FROM counters ORDER BY 1;
            """]).stdout
    }
}

struct CommandResult {
    let status: Int32
    let stdout: String
    let stderr: String

    var lines: [String] { stdout.split(separator: "\n").map(String.init) }

    func json() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(stdout.utf8))
        guard let dictionary = object as? [String: Any] else { throw CasetrackError(.badRequest, "not a JSON object: \(stdout)") }
        return dictionary
    }

    func jsonLines() throws -> [[String: Any]] {
        try lines.map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw CasetrackError(.badRequest, "not a JSON object: \(line)")
            }
            return object
        }
    }
}

/// A hand-typed session: bytes in, lines out, like `socat - UNIX-CONNECT:…`.
final class RawSession {
    let connection: LineConnection
    let greeting: String

    init(socketPath: String) throws {
        connection = try LineConnection(socketPath: socketPath)
        // A stuck daemon fails the test instead of hanging the suite.
        connection.setTimeout(seconds: 60)
        greeting = try connection.readLine() ?? ""
    }

    func send(_ text: String) throws { try connection.send(bytes: Array(text.utf8)) }

    func send(bytes: [UInt8]) throws { try connection.send(bytes: bytes) }

    func line() throws -> String? { try connection.readLine() }

    /// Lines up to and including the next final line (OK or ERR).
    func answer() throws -> [String] {
        var lines: [String] = []
        while let line = try connection.readLine() {
            lines.append(line)
            if line == "OK" || line.hasPrefix("OK ") || line.hasPrefix("ERR ") { return lines }
        }
        return lines
    }

    func halfClose() { connection.shutdownWrite() }
}
