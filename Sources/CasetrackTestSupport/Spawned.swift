#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Child processes started with posix_spawn and reaped with waitpid, for tests that run two at
/// once: Foundation's `Process` was seen never to reap a child that exited while another of its
/// children (systemd-socket-activate) ran, hanging the test; and a server started through it
/// (PostgreSQL's pg_ctl) inherited the descriptor by which `Process` learns that a child ended,
/// so that waiting for that child hung until the server stopped.
public struct Spawned: Sendable {
    public let pid: pid_t

    /// Starts `/bin/sh -c script` with standard input from `/dev/null` (or the script's own
    /// redirections) and its output where the script sends it.
    public static func shell(_ script: String) throws -> Spawned {
        try start("/bin/sh", ["-c", script], detached: false)
    }

    /// Starts `path` with `arguments`, its standard input and output on /dev/null and every
    /// other descriptor of the tests closed: for a program that leaves a server running.
    public static func detached(_ path: String, _ arguments: [String]) throws -> Spawned {
        try start(path, arguments, detached: true)
    }

    private static func start(_ path: String, _ arguments: [String], detached: Bool) throws -> Spawned {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if detached {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
            _ = spawnCloseFrom(&actions, 3)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The test process blocks some signals; the child must not inherit that.
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        var argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) }
        argv.append(nil)
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard result == 0 else { throw NSError(domain: "spawn \(path): \(String(cString: strerror(result)))", code: Int(result)) }
        return Spawned(pid: pid)
    }

    /// Runs the script to its end; its exit status.
    @discardableResult
    public static func run(_ script: String) throws -> Int32 { try shell(script).wait() }

    /// Waits for the end; the exit status (128 + signal when killed).
    @discardableResult
    public func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Whether it still runs (reaps it if it ended).
    public var isRunning: Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0
    }

    public func signal(_ number: Int32) { kill(pid, number) }
}

/// glibc's posix_spawn_file_actions_addclosefrom_np (2.34), declared only under _GNU_SOURCE,
/// which Swift's Glibc module does not set.
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func spawnCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32
