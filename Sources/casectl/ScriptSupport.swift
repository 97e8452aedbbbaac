#if canImport(Glibc)
import Glibc
#endif
import CasetrackCore
import CasetrackPOSIX

/// Waits that grow after each failure: `first`, twice that, … up to `maximum` seconds.
struct Backoff {
    let first: Double
    let maximum: Double
    private var next: Double

    init(first: Double, maximum: Double) {
        self.first = first
        self.maximum = maximum
        self.next = first
    }

    var describeNext: String { next < 1 ? "\(Int(next * 1000)) ms" : "\(Int(next)) s" }

    mutating func reset() { next = first }

    mutating func wait(atMostMilliseconds limit: Int? = nil) {
        let milliseconds = min(Int(next * 1000), limit ?? Int.max)
        usleep(useconds_t(max(0, milliseconds) * 1000))
        next = min(maximum, next * 2)
    }
}

/// A monotonic clock for deadlines (a wall-clock jump must not end or stretch a wait).
enum Monotonic {
    static func milliseconds() -> Int64 { MonotonicClock.milliseconds() }
}

/// The position of a watcher: one sequence number in a file, replaced atomically.
enum CursorFile {
    /// The saved sequence number; `nil` when the file does not exist yet.
    static func read(_ path: String) throws -> Int64? {
        guard let file = fopen(path, "r") else {
            if errno == ENOENT { return nil }
            throw CasetrackError.badArgument("cannot read the cursor file \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 64)
        let text = fgets(&buffer, Int32(buffer.count), file).map { _ in
            String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        } ?? ""
        let trimmed = text.filter { !$0.isWhitespace }
        guard let seq = Int64(trimmed), seq >= 0 else {
            throw CasetrackError.badArgument("the cursor file \(path) does not hold a sequence number; fix or remove it (and use --after)")
        }
        return seq
    }

    /// Writes `seq` to a temporary file, syncs it, and renames it over `path`: a crash leaves
    /// the old or the new number, never a torn one.
    static func write(_ path: String, _ seq: Int64) throws {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("cannot write the cursor file \(temporary)") }
        let bytes = Array("\(seq)\n".utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced else { throw failure("cannot write the cursor file \(temporary)") }
        guard rename(temporary, path) == 0 else { throw failure("cannot replace the cursor file \(path)") }
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let directoryFD = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }

    private static func failure(_ message: String) -> CasetrackError {
        CasetrackError(.internalError, "\(message): \(String(cString: strerror(errno)))")
    }
}

/// Runs a shell command with extra environment variables and waits for it.
enum CommandRunner {
    /// The command's wait status (0: exited 0).
    static func run(_ command: String, environment extra: [String: String]) -> Int32 {
        var environment: [String] = []
        var index = 0
        while let entry = environ[index] {
            let text = String(cString: entry)
            let key = text.split(separator: "=", maxSplits: 1).first.map(String.init) ?? text
            if extra[key] == nil { environment.append(text) }
            index += 1
        }
        environment += extra.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let arguments = ["/bin/sh", "-c", command]
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/bin/sh", nil, nil, argv, envp)
        guard spawned == 0 else { return 127 << 8 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return 127 << 8 }
        }
        return status
    }

    /// "exited with 3" or "was killed by signal 9".
    static func describe(_ status: Int32) -> String {
        let signal = status & 0x7f
        if signal == 0 { return "exited with \((status >> 8) & 0xff)" }
        return "was killed by signal \(signal)"
    }
}

/// Signals that end a long-running casectl command.
enum TerminationSignals {
    /// Unblocks SIGINT, SIGTERM and SIGHUP: a process started by another program may inherit
    /// them blocked, and a watcher that cannot be stopped is worse than none.
    static func unblock() {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, signal) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}
