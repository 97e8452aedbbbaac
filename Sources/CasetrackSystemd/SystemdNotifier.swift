#if canImport(Glibc)
import Glibc
#endif
import CasetrackPOSIX
import CSystemd

/// Tells the service manager how the daemon is doing (`sd_notify`): ready, reloading,
/// stopping, a status line, and watchdog keep-alives.
///
/// Without `NOTIFY_SOCKET` (not started by systemd) every call does nothing.
public struct SystemdNotifier: Sendable {
    public init() {}

    /// Whether a service manager listens (`NOTIFY_SOCKET` is set).
    public var isConnected: Bool { getenv("NOTIFY_SOCKET") != nil }

    /// Sends `KEY=value` assignments in one datagram. Returns whether it was delivered.
    @discardableResult
    public func send(_ assignments: [String]) -> Bool {
        // The environment stays as it is: the watchdog keeps reading WATCHDOG_USEC.
        sd_notify(0, assignments.joined(separator: "\n")) > 0
    }

    /// The socket serves and the database is open.
    public func ready(status: String) { send(["READY=1", "STATUS=" + SystemdNotifier.oneLine(status)]) }

    public func status(_ text: String) { send(["STATUS=" + SystemdNotifier.oneLine(text)]) }

    /// Starts a reload; `ready(status:)` ends it. `MONOTONIC_USEC` lets systemd match the two.
    public func reloading() {
        send(["RELOADING=1", "MONOTONIC_USEC=\(MonotonicClock.microseconds())", "STATUS=reloading the configuration"])
    }

    public func stopping() { send(["STOPPING=1", "STATUS=stopping"]) }

    public func watchdog() { send(["WATCHDOG=1"]) }

    /// The watchdog interval systemd set for this process (`WATCHDOG_USEC`, `WATCHDOG_PID`), if any.
    public var watchdogInterval: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(clamping: microseconds))
    }

    static func oneLine(_ text: String) -> String {
        String(text.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
    }
}
