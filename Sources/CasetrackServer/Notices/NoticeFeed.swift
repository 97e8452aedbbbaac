import CasetrackCore
import Synchronization

/// One connection's subscription: its filter, where it starts, and the hub queue it reads
/// now. The queue can be replaced (after an overflow during a replay), so whoever ends the
/// subscription goes through ``stop()``, which ends whichever queue is current.
public final class Subscription: Sendable {
    let since: Int64?
    let filter: NoticeFilter
    /// The answer format of the connection when it subscribed: its notices and its last line.
    let format: WireFormat
    /// Whether the role at subscription allowed personal data (names, places, notes) in the
    /// notices; a reload can only take it away (``NoticeFeed/currentRole``).
    let includePersonalData: Bool
    /// Every notice after this one reaches the first queue; the ones before it are in the store.
    let firstRegisteredAfter: Int64
    private let hub: NoticeHub
    private let state: Mutex<(queue: NoticeQueue, stopped: Bool)>

    init(hub: NoticeHub, queue: NoticeQueue, registeredAfter: Int64, since: Int64?, filter: NoticeFilter,
         format: WireFormat, includePersonalData: Bool) {
        self.hub = hub
        self.since = since
        self.filter = filter
        self.format = format
        self.includePersonalData = includePersonalData
        self.firstRegisteredAfter = registeredAfter
        self.state = Mutex((queue, false))
    }

    var queue: NoticeQueue { state.withLock { $0.queue } }

    var isStopped: Bool { state.withLock { $0.stopped } }

    /// Ends the subscription: unregisters the current queue and refuses new ones.
    func stop() {
        let queue = state.withLock { state -> NoticeQueue in
            state.stopped = true
            return state.queue
        }
        hub.unsubscribe(queue)
    }

    /// Registers a fresh queue in place of the current one; `nil` once stopped.
    func reregister(capacity: Int) -> (queue: NoticeQueue, after: Int64)? {
        let (fresh, after) = hub.subscribe(filter: filter, capacity: capacity)
        let replaced = state.withLock { state -> NoticeQueue? in
            guard !state.stopped else { return nil }
            defer { state.queue = fresh }
            return state.queue
        }
        guard let replaced else {
            hub.unsubscribe(fresh)
            return nil
        }
        hub.unsubscribe(replaced)
        return (fresh, after)
    }
}

/// Sends one connection's notices: the stored ones after `since=`, then the live ones from its
/// queue, with neither a gap nor a duplicate at the seam.
///
/// The queue was registered before the replay began, at sequence number `R`: the replay sends
/// stored events up to `R`, the queue everything after `R`. A queue that overflowed while the
/// replay ran (a long replay, a slow reader) is replaced by a new registration at `R'`, and
/// the replay goes on to `R'`: a subscriber is never cut off for the store's pace. Once
/// live, an overflow ends the subscription with a marker saying where to resume.
struct NoticeFeed: Sendable {
    let store: any CaseStore
    /// Live notice lines already rendered for other subscribers.
    let lines: NoticeLines
    /// The connection's role under the policy in force, asked again after a reload: a reload
    /// that lowers it to observer strips personal data from what follows; one that leaves
    /// too little for the subscription's filter, or no role, ends the subscription.
    var currentRole: @Sendable () -> Role? = { .admin }
    /// The settings the role comes from (their ``LiveSettings/generation`` says when to ask
    /// again); nil: ask `currentRole` for every batch.
    var settings: LiveSettings?

    /// How a feed ended; `last` is the sequence number through which the subscriber has been
    /// served (resuming with `since=last` loses nothing).
    enum Outcome: Sendable {
        /// Stopped (UNSUBSCRIBE, end of input, shutdown) or the connection broke.
        case closed(last: Int64)
        case overflow(last: Int64)
        case gap(oldest: Int64, last: Int64)
        /// The store failed while replaying.
        case failed(CasetrackError, last: Int64)
        /// A reload took away the role the subscription needs.
        case revoked(last: Int64)
    }

    /// Whether notices may still go out, and with personal data; nil: the role is gone.
    private func personalData(for subscription: Subscription) -> Bool? {
        guard let role = currentRole(), role >= subscription.filter.requiredRole else { return nil }
        return subscription.includePersonalData && role >= .reader
    }

    static let replayPage = 512

    /// Runs the feed: the replay written with `send`, which waits until the bytes reached the
    /// socket; then live, written by the hub's pass on `output`'s event loop (``LiveSink``)
    /// until the subscription ends.
    func run(_ subscription: Subscription, capacity: Int, hub: NoticeHub, output: ConnectionOutput,
             send: (String) async throws -> Void) async -> Outcome {
        var queue = subscription.queue
        var registered = subscription.firstRegisteredAfter
        var last = subscription.since ?? registered
        defer { subscription.stop() }
        let sink: LiveSink
        do {
            while true {
                while last < registered {
                    if subscription.isStopped { return .closed(last: last) }
                    guard let personal = personalData(for: subscription) else { return .revoked(last: last) }
                    let page: [Notice]
                    do {
                        page = try await store.notices(after: last, limit: NoticeFeed.replayPage)
                        // Retention trimmed the log while we were replaying it.
                        guard let first = page.first, first.seq == last + 1 else {
                            return .gap(oldest: try await store.trimmedThrough() + 1, last: last)
                        }
                    } catch let error as CasetrackError {
                        // Whatever the store says (a damaged page, a failed read), the
                        // subscriber is told, with where to resume: never left waiting.
                        return .failed(error, last: last)
                    }
                    var text = ""
                    for notice in page where notice.seq <= registered {
                        // Rendered here, not shared: a replayed notice carries the names the
                        // case has now, a live one those it had at the commit.
                        if subscription.filter.matches(notice) {
                            text += NoticeLines.render(notice, format: subscription.format, personal: personal)
                        }
                        last = notice.seq
                    }
                    if !text.isEmpty { try await send(text) }
                }
                last = max(last, registered)
                if !queue.overflowed, let live = try await goLive(subscription, queue: queue, last: last, capacity: capacity,
                                                                  hub: hub, output: output) {
                    sink = live
                    break
                }
                guard queue.overflowed, let fresh = subscription.reregister(capacity: capacity) else { return .closed(last: last) }
                (queue, registered) = fresh
            }
        } catch let error as CasetrackError where error.code == .storageFailure || error.code == .internalError {
            return .failed(error, last: last)
        } catch {
            return .closed(last: last)  // the connection broke: nobody to tell
        }
        return await withTaskCancellationHandler {
            // Only ever succeeded.
            (try? await sink.outcome.get()) ?? .closed(last: last)
        } onCancel: {
            sink.end(.closed)
        }
    }

    /// Hands the subscription from its queue to the hub's pass on the connection's event
    /// loop, and sends there what the queue held; nil when the queue ended meanwhile.
    private func goLive(_ subscription: Subscription, queue: NoticeQueue, last: Int64, capacity: Int, hub: NoticeHub,
                        output: ConnectionOutput) async throws -> LiveSink? {
        return try await output.channel.eventLoop.submit { [self] () -> LiveSink? in
            let outlet = try output.channel.pipeline.syncOperations.handler(type: NoticeOutlet.self)
            let sink = LiveSink(id: queue.id, outlet: outlet, channel: output.channel, watch: output.watch,
                                filter: subscription.filter, format: subscription.format, capacity: capacity, last: last,
                                lines: lines, settings: settings,
                                personalData: { personalData(for: subscription) },
                                onEnd: { hub.removeLive($0) })
            guard let left = hub.goLive(queue, as: sink) else {
                sink.end(.closed)  // never registered: only its promise to keep
                return nil
            }
            sink.start(with: left)
            return sink
        }.get()
    }
}

extension NoticeFeed.Outcome {
    /// The last line a subscriber is sent when its feed cannot go on: why, and where to resume.
    /// nil when the feed was stopped and the connection goes on (or is gone).
    var farewell: CasetrackError? {
        var details = Fields()
        switch self {
        case .closed:
            return nil
        case .overflow(let last):
            details.append("after", last)
            return CasetrackError(.overflow,
                "too many notices waited for this subscriber (it did not read them in time); resubscribe with since=\(last) to get the rest",
                details: details)
        case .gap(let oldest, _):
            details.append("oldest", oldest)
            return CasetrackError(.gap, "retention trimmed the log during the replay; the oldest kept is \(oldest)", details: details)
        case .revoked(let last):
            details.append("after", last)
            return CasetrackError(.notPermitted,
                "this connection's role no longer allows this subscription (the configuration was reloaded)", details: details)
        case .failed(let error, let last):
            details.append("after", last)
            return CasetrackError(error.code, "the notices stopped: \(error.message)", details: details)
        }
    }
}
