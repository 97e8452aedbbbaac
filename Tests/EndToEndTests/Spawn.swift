import Foundation

/// Child processes started with posix_spawn and reaped with waitpid, for tests that run two at
/// once: Foundation's `Process` was seen never to reap a child that exited while another of its
/// children (systemd-socket-activate) ran, hanging the test.
struct Spawned {
    let pid: pid_t

    /// Starts `/bin/sh -c script` with standard input from `/dev/null` (or the script's own
    /// redirections) and its output where the script sends it.
    static func shell(_ script: String) throws -> Spawned {
        var pid: pid_t = 0
        let words: [String] = ["/bin/sh", "-c", script]
        var argv: [UnsafeMutablePointer<CChar>?] = words.map { word in word.withCString { strdup($0) } }
        argv.append(nil)
        defer { argv.forEach { free($0) } }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The test process blocks some signals; the child must not inherit that.
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let result = posix_spawn(&pid, "/bin/sh", nil, &attributes, argv, environ)
        guard result == 0 else { throw NSError(domain: "spawn", code: Int(result)) }
        return Spawned(pid: pid)
    }

    /// Runs the script to its end; its exit status.
    @discardableResult
    static func run(_ script: String) throws -> Int32 { try shell(script).wait() }

    /// Waits for the end; the exit status (128 + signal when killed).
    @discardableResult
    func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Whether it still runs (reaps it if it ended).
    var isRunning: Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0
    }

    func signal(_ number: Int32) { kill(pid, number) }
}
