#if canImport(Glibc)
import Glibc
#endif
import CasetrackClient
import CasetrackCore
import CasetrackPOSIX
import Foundation

/// The real `casetrackd` binary on a socket in a folder of its own, as the end-to-end tests and
/// the benchmark run it: started (again after a stop or a crash), waited for, stopped with
/// SIGTERM or killed with SIGKILL. Its output goes to a pipe the tests read, or to a log file:
/// a benchmark runs long and nobody reads its pipe, which would fill and stall the daemon.
///
/// `@unchecked Sendable`: `Process` and `Pipe` are not Sendable. The thread that made a daemon
/// (a test, the benchmark) is the only one that starts, stops or reads it; threads it starts
/// only use `socket`, `database` and `folder`, which never change.
public final class DaemonProcess: @unchecked Sendable {
    /// The folder with `casetrackd` and `casectl`.
    public let bin: URL
    public let folder: URL
    public let socket: String
    public let database: String
    /// Where its standard output and error go; nil: a pipe (`readAvailableOutput`, `drainOutput`).
    public let logFile: URL?
    /// The daemon started last; nil before a start and after `stop`, `crash` or `waitForExit`
    /// saw it end.
    public private(set) var process: Process?
    private let standardArguments: [String]
    private let removesFolder: Bool
    private var output = Pipe()
    /// How much of `logFile` `readAvailableOutput` has returned.
    private var logOffset = 0

    /// - Parameters:
    ///   - folder: created if missing; it holds the socket (`s.sock`), `configFile` and, unless
    ///     `database` names another, the database (`cases.sqlite`).
    ///   - standardArguments: passed on every start before that start's own, which therefore
    ///     win (casetrackd takes the last of a repeated option).
    ///   - removesFolder: the folder is a throw-away one and goes with this object.
    public init(bin: URL, folder: URL, database: String? = nil, logFile: URL? = nil,
                standardArguments: [String] = [], removesFolder: Bool = false) throws {
        self.bin = bin
        self.folder = folder
        socket = folder.appendingPathComponent("s.sock").path
        self.database = database ?? folder.appendingPathComponent("cases.sqlite").path
        self.logFile = logFile
        self.standardArguments = standardArguments
        self.removesFolder = removesFolder
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    deinit {
        // Killed, not stopped: whoever wanted a graceful stop has asked for it by now, and a
        // failed test must not wait for one.
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        if removesFolder { try? FileManager.default.removeItem(at: folder) }
    }

    /// Set in the daemon's environment at every start (a test's LD_PRELOAD shim, say).
    public var environment: [String: String] = [:]

    /// The file `start(config:)` writes.
    public var configFile: URL { folder.appendingPathComponent("casetrackd.conf") }

    /// Starts the daemon and returns once a client gets its greeting.
    public func start(extraArguments: [String] = []) throws {
        _ = try launch(extraArguments)
        try waitUntilServing()
    }

    /// Starts the daemon with these configuration lines (written to `configFile`).
    public func start(config: String, extraArguments: [String] = []) throws {
        try start(extraArguments: write(config: config) + extraArguments)
    }

    /// Starts the daemon with `NOTIFY_SOCKET` on a listener of our own, as systemd would, and
    /// returns the microseconds from the spawn to its READY=1 (sent once it serves).
    public func startTimingReady(config: String? = nil, extraArguments: [String] = [],
                                 timeoutSeconds: Double = 300) throws -> UInt64 {
        let listener = try NotifyListener(path: folder.appendingPathComponent("notify").path)
        var arguments = extraArguments
        if let config { arguments = try write(config: config) + arguments }
        let (process, started) = try launch(arguments, environment: ["NOTIFY_SOCKET": listener.path])
        let deadline = started + UInt64(timeoutSeconds * 1_000_000)
        while true {
            // A second at a time, so that a daemon that died is noticed.
            guard let message = listener.next(timeout: 1) else {
                if !process.isRunning {
                    throw CasetrackError(.internalError, "casetrackd exited before READY=1: \(drainOutput().suffix(500))")
                }
                if MonotonicClock.microseconds() > deadline {
                    throw CasetrackError(.internalError, "casetrackd did not send READY=1 within \(Int(timeoutSeconds)) s")
                }
                continue
            }
            if message.split(separator: "\n").contains("READY=1") { return MonotonicClock.microseconds() - started }
        }
    }

    /// Polls until a client gets the greeting; fails if the daemon exits first.
    public func waitUntilServing() throws {
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

    /// Sends SIGTERM and waits at most `timeout` (nil: as long as it takes); returns the exit
    /// status, -9 when it had to be killed (so that a hang fails one test instead of the whole
    /// suite), -1 when none was started.
    @discardableResult
    public func stop(timeout: Duration? = .seconds(30)) -> Int32 {
        guard let process else { return -1 }
        self.process = nil
        // An ended daemon's pid may be another process's by now.
        if process.isRunning { process.terminate() }
        guard let timeout else {
            process.waitUntilExit()
            return process.terminationStatus
        }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return -9
        }
        return process.terminationStatus
    }

    /// Waits at most `seconds` for the daemon to exit by itself; its status, or nil if it runs on.
    public func waitForExit(seconds: Int) -> Int32? {
        guard let process else { return nil }
        let deadline = ContinuousClock.now + .seconds(seconds)
        while process.isRunning, ContinuousClock.now < deadline { usleep(10_000) }
        guard !process.isRunning else { return nil }
        self.process = nil
        return process.terminationStatus
    }

    /// SIGKILL: no chance to clean up, as in a crash.
    public func crash() {
        guard let process else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    /// What the daemon wrote since the last look, without waiting for more.
    public func readAvailableOutput() -> String {
        if let logFile {
            let data = FileManager.default.contents(atPath: logFile.path) ?? Data()
            let new = data.dropFirst(logOffset)
            logOffset = data.count
            return String(decoding: new, as: UTF8.self)
        }
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

    /// Reads the daemon's output (a pipe) as it comes until it holds `text`; returns it.
    /// Throws after `seconds` without.
    @discardableResult
    public func waitForOutput(containing text: String, seconds: Double = 20) throws -> String {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        var seen = readAvailableOutput()
        while !seen.contains(text) {
            let left = deadline - ContinuousClock.now
            guard left > .zero, logFile == nil else {
                throw CasetrackError(.internalError, "casetrackd did not say '\(text)' within \(seconds) s: \(seen.suffix(600))")
            }
            var ready = pollfd(fd: output.fileHandleForReading.fileDescriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&ready, 1, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
            seen += readAvailableOutput()
        }
        return seen
    }

    /// What the daemon wrote, once it has exited (a pipe waits for more while it runs): the
    /// rest of the pipe, or the whole log file.
    public func drainOutput() -> String {
        if let logFile { return (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }
        return String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
    }

    /// Its resident memory (VmRSS) in MiB; -1 when it does not run.
    /// The running daemon's process id.
    public var pid: pid_t? { process.map(\.processIdentifier) }

    public func residentMegabytes() -> Int {
        guard let process, let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return -1 }
        return kilobytes / 1024
    }

    public func client() throws -> CasetrackClient { try CasetrackClient(socketPath: socket) }

    /// Runs the real casectl against this daemon.
    @discardableResult
    public func casectl(_ arguments: String..., environment: [String: String] = [:]) throws -> CommandResult {
        try casectl(arguments, environment: environment)
    }

    @discardableResult
    public func casectl(_ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
        try DaemonProcess.run(bin.appendingPathComponent("casectl"), arguments,
                              environment: ["CASETRACK_SOCKET": socket].merging(environment) { $1 })
    }

    /// Runs a program to its end with its output captured (casectl, sqlite3, journalctl, make…).
    public static func run(_ binary: URL, _ arguments: [String], environment: [String: String] = [:],
                           directory: URL? = nil) throws -> CommandResult {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
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

    /// Writes `config` to `configFile`; the arguments that point casetrackd at it.
    private func write(config: String) throws -> [String] {
        try config.write(to: configFile, atomically: true, encoding: .utf8)
        return ["--config", configFile.path]
    }

    /// Spawns casetrackd with the standard arguments, then `arguments`, and `environment` added
    /// to ours; returns it and the monotonic microsecond just before the spawn.
    private func launch(_ arguments: [String], environment: [String: String] = [:]) throws -> (Process, UInt64) {
        let binary = bin.appendingPathComponent("casetrackd")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw CasetrackError(.internalError, "no casetrackd at \(binary.path): build it first (make test and make bench do)")
        }
        let process = Process()
        process.executableURL = binary
        process.arguments = ["--socket", socket, "--database", database] + standardArguments + arguments
        let environment = self.environment.merging(environment) { $1 }
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if let logFile {
            // Emptied at each start, as each start gets a new pipe.
            _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
            let handle = try FileHandle(forWritingTo: logFile)
            process.standardOutput = handle
            process.standardError = handle
            logOffset = 0
        } else {
            output = Pipe()
            process.standardOutput = output
            process.standardError = output
        }
        let started = MonotonicClock.microseconds()
        try process.run()
        self.process = process
        return (process, started)
    }
}

/// A program that ran to its end: its exit status and what it wrote.
public struct CommandResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String

    public var lines: [String] { stdout.split(separator: "\n").map(String.init) }

    public func json() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(stdout.utf8))
        guard let dictionary = object as? [String: Any] else { throw CasetrackError(.badRequest, "not a JSON object: \(stdout)") }
        return dictionary
    }

    public func jsonLines() throws -> [[String: Any]] {
        try lines.map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw CasetrackError(.badRequest, "not a JSON object: \(line)")
            }
            return object
        }
    }
}
