import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Opens once: the moment the daemon is ready to serve.
public final class ReadySignal: Sendable {
    private struct State {
        var ready = false
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public var isOpen: Bool { state.withLock { $0.ready } }

    public func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.ready = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        waiters.forEach { $0.resume() }
    }

    /// Returns once the signal opened, or at once when the task is cancelled.
    public func wait() async {
        let id = state.withLock { state -> Int in
            defer { state.nextID += 1 }
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.ready || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}

/// The daemon's side of `Type=notify`: `READY=1` once ``ReadySignal`` opens, a `STATUS=` line
/// kept current, `WATCHDOG=1` at half the interval systemd asks for, `STOPPING=1` as soon as
/// shutdown begins.
///
/// The keep-alive is sent only after `healthCheck` passed: a daemon whose event loop or store
/// hangs stops sending it, and systemd restarts it.
public struct NotifyService: Service {
    let notifier: SystemdNotifier
    let ready: ReadySignal
    let status: @Sendable () async -> String
    let healthCheck: @Sendable () async throws -> Void
    let statusInterval: Duration
    let logger: Logger

    public init(notifier: SystemdNotifier = SystemdNotifier(), ready: ReadySignal, statusInterval: Duration = .seconds(2),
                logger: Logger, status: @escaping @Sendable () async -> String,
                healthCheck: @escaping @Sendable () async throws -> Void) {
        self.notifier = notifier
        self.ready = ready
        self.status = status
        self.healthCheck = healthCheck
        self.statusInterval = statusInterval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await ready.wait() }
        guard ready.isOpen, !Task.isShuttingDownGracefully else {
            notifier.stopping()
            return
        }
        let first = await status()
        notifier.ready(status: first)
        let watchdog = notifier.watchdogInterval
        await withDiscardingTaskGroup { group in
            if let watchdog {
                group.addTask { await keepAlive(every: watchdog / 2) }
            }
            group.addTask {
                var shown = first
                // Ends on graceful shutdown and on cancellation (the group cancels its services
                // when one of them fails, e.g. the store).
                while !Task.isShuttingDownGracefully, !Task.isCancelled {
                    do {
                        try await cancelWhenGracefulShutdown { try await Task.sleep(for: statusInterval) }
                    } catch {
                        break
                    }
                    let now = await status()
                    if now != shown {
                        notifier.status(now)
                        shown = now
                    }
                }
            }
            try? await gracefulShutdown()
            notifier.stopping()
            group.cancelAll()
        }
    }

    private func keepAlive(every period: Duration) async {
        while !Task.isCancelled {
            do {
                try await healthCheck()
                notifier.watchdog()
            } catch {
                logger.error("health check failed; not telling the watchdog all is well", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: period)
        }
    }
}

/// Runs `reload` on each SIGHUP, between `RELOADING=1` and `READY=1`.
public struct ReloadService: Service {
    let notifier: SystemdNotifier
    let ready: ReadySignal
    /// Re-reads the configuration; returns the status line to show afterwards (whether the
    /// new configuration was taken or refused: the daemon goes on either way).
    let reload: @Sendable () async -> String

    public init(notifier: SystemdNotifier = SystemdNotifier(), ready: ReadySignal, reload: @escaping @Sendable () async -> String) {
        self.notifier = notifier
        self.ready = ready
        self.reload = reload
    }

    public func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown { await ready.wait() }
        for await _ in hangups.cancelOnGracefulShutdown() {
            notifier.reloading()
            let status = await reload()
            notifier.ready(status: status)
        }
    }
}
