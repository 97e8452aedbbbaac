import CasetrackCore
import Logging
import ServiceLifecycle
import Synchronization

/// The daemon's own periodic work: recording due time alerts and trimming the event log as
/// retention says. Runs once at start (so thresholds crossed while the daemon was down are
/// recorded at once), then every `interval`.
///
/// Time comes from `now`, injected: tests move it without waiting; the daemon passes the
/// system clock and offers no way to change it.
public struct Housekeeping: Service {
    public let store: any CaseStore
    /// Alert thresholds, retention and the interval, as the last reload left them.
    public let settings: LiveSettings
    /// Recorded as the author of time alerts: the daemon's own uid and pid.
    public let actor: Actor
    let now: @Sendable () -> Timestamp
    let logger: Logger
    /// The day the chain head was last logged.
    private let headLogged = HeadLogged()

    private final class HeadLogged: Sendable {
        let day = Mutex<Day?>(nil)
    }

    public init(store: any CaseStore, settings: LiveSettings, actor: Actor, logger: Logger,
                now: @escaping @Sendable () -> Timestamp) {
        self.store = store
        self.settings = settings
        self.actor = actor
        self.logger = logger
        self.now = now
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            await pass()
            let interval = Duration.seconds(settings.current.housekeepingInterval)
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }

    /// One look: records due alerts, then trims. Failures are logged; the next look retries.
    @discardableResult
    public func pass() async -> (alerts: Int, trimmed: Int) {
        let clock = WriteClock(now: now())
        let current = settings.current
        let alerts = current.alerts
        let retention = current.retention
        var result = (alerts: 0, trimmed: 0)
        do {
            let notices = try await store.recordDueAlerts(alerts, actor: actor, clock: clock)
            result.alerts = notices.count
            for notice in notices {
                logger.info("time alert", metadata: [
                    "message_id": "\(MessageID.timeAlert)",
                    "case": "\(notice.caseID?.description ?? "-")", "kind": "\(notice.kind.rawValue)",
                    "threshold": "\(notice.threshold ?? "-")", "seq": "\(notice.seq)",
                ])
            }
            // Once a day, the chain head in the journal: a copy of the proof that the history up
            // to it was not rewritten, kept where the database's owner cannot edit it.
            if headLogged.day.withLock({ $0 }) != clock.today {
                let head = try await store.chainHead()
                logger.notice("event chain head", metadata: [
                    "message_id": "\(MessageID.chainHead)", "head": "\(head.hash)", "seq": "\(head.seq)",
                ])
                headLogged.day.withLock { $0 = clock.today }
            }
            result.trimmed = try await store.trim(retention, clock: clock)
            if result.trimmed > 0 {
                logger.notice("event log trimmed", metadata: ["events": "\(result.trimmed)", "retention": "\(retention)"])
            }
        } catch {
            logger.error("housekeeping failed", metadata: ["error": "\(error)"])
        }
        return result
    }
}
