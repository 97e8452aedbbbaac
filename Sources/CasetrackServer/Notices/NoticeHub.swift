import CasetrackCore
import NIOCore
import NIOPosix
import Synchronization

/// Hands every committed notice to every subscriber whose filter matches, without ever
/// waiting for one: a subscriber replaying stored events has its own bounded ``NoticeQueue``;
/// one gone live is written from its event loop's pass (``LoopFanOut``).
///
/// The store's writer calls ``publish(_:)`` after each commit, in sequence order; a subscriber
/// registered with ``subscribe(filter:capacity:)`` receives every notice after the sequence
/// number the registration returns, and none before it.
public final class NoticeHub: Sendable {
    private struct State {
        /// Subscribers replaying the stored events: live notices wait in their queues.
        var queues: [Int: NoticeQueue] = [:]
        /// Subscribers gone live: written from their event loop's pass.
        var live: [Int: LiveSink] = [:]
        var fanOuts: [ObjectIdentifier: LoopFanOut] = [:]
        var nextID = 0
        var lastPublished: Int64 = 0
    }

    private let state = Mutex(State())
    /// The notice lines rendered for the subscribers, shared by all of them.
    public let lines = NoticeLines()

    public init() {}

    /// Sets the newest committed sequence number, before anything is published or subscribed.
    public func begin(after seq: Int64) {
        state.withLock { $0.lastPublished = seq }
    }

    /// Called with the notices of each commit, in order. Never blocks on a subscriber.
    public func publish(_ notices: [Notice]) {
        guard let last = notices.last else { return }
        let (waiting, passes) = state.withLock { state -> ([NoticeWaiter], [LoopFanOut]) in
            state.lastPublished = last.seq
            var waiting: [NoticeWaiter] = []
            var overflowed: [Int] = []
            for (id, queue) in state.queues {
                let (open, waiter) = queue.offer(notices)
                if let waiter { waiting.append(waiter) }
                if !open { overflowed.append(id) }
            }
            for id in overflowed { state.queues[id] = nil }
            // Under the same lock as goLive: a notice is either in the queue it drains or
            // in a pass after it.
            return (waiting, state.fanOuts.values.filter { $0.add(notices) })
        }
        NoticeWaiter.wake(waiting)
        for fanOut in passes { fanOut.schedule() }
    }

    /// Moves a subscriber from its queue to its event loop's passes; returns what the queue
    /// held (to be sent first, on the loop), or nil when the queue had ended meanwhile
    /// (unsubscribed, or overflowed: see ``NoticeQueue/overflowed``).
    func goLive(_ queue: NoticeQueue, as sink: LiveSink) -> [Notice]? {
        state.withLock { state in
            guard state.queues.removeValue(forKey: queue.id) != nil else { return nil }
            guard let left = queue.handOver() else { return nil }
            state.live[queue.id] = sink
            let key = ObjectIdentifier(sink.loop)
            let fanOut = state.fanOuts[key] ?? LoopFanOut(loop: sink.loop)
            state.fanOuts[key] = fanOut
            fanOut.insert(sink)
            return left
        }
    }

    /// Takes an ended live subscriber out of its loop's passes.
    func removeLive(_ sink: LiveSink) {
        state.withLock { state in
            guard state.live[sink.id] === sink else { return }
            state.live[sink.id] = nil
            state.fanOuts[ObjectIdentifier(sink.loop)]?.remove(sink)
        }
    }

    /// A new subscriber's queue and the sequence number it starts after: every later notice
    /// that matches `filter` goes to the queue; every earlier one is in the store.
    func subscribe(filter: NoticeFilter, capacity: Int) -> (queue: NoticeQueue, after: Int64) {
        guard let registered = subscribe(filter: filter, capacity: capacity, limit: .max) else {
            preconditionFailure("a registration without a limit found no room")
        }
        return registered
    }

    /// Registers a subscriber unless `limit` subscribers are registered already (counted and
    /// registered under one lock, so that subscribers arriving together cannot pass it).
    func subscribe(filter: NoticeFilter, capacity: Int, limit: Int) -> (queue: NoticeQueue, after: Int64)? {
        state.withLock { state in
            guard state.queues.count + state.live.count < limit else { return nil }
            let queue = NoticeQueue(id: state.nextID, filter: filter, capacity: capacity)
            state.nextID += 1
            state.queues[queue.id] = queue
            return (queue, state.lastPublished)
        }
    }

    /// Removes a subscriber and ends its queue.
    func unsubscribe(_ queue: NoticeQueue) {
        let sink = state.withLock { state -> LiveSink? in
            state.queues[queue.id] = nil
            return state.live[queue.id]
        }
        queue.close()
        sink?.end(.closed)
    }

    /// How many subscribers are connected.
    public var subscriberCount: Int { state.withLock { $0.queues.count + $0.live.count } }

    /// The newest sequence number published.
    public var lastSequence: Int64 { state.withLock { $0.lastPublished } }
}

/// The notices waiting for one subscriber. Bounded: when more than `capacity` wait, the queue
/// drops them all and ends with ``End/overflow`` (the subscriber resumes from the store).
final class NoticeQueue: Sendable {
    enum End: Sendable, Equatable {
        /// The subscriber did not keep up.
        case overflow
        /// Unsubscribed, or the connection or daemon is ending.
        case closed
    }

    private struct State {
        var items: [Notice] = []
        var end: End?
        var waiter: NoticeWaiter?
    }

    let id: Int
    let filter: NoticeFilter
    let capacity: Int
    private let state = Mutex(State())

    init(id: Int, filter: NoticeFilter, capacity: Int) {
        self.id = id
        self.filter = filter
        self.capacity = capacity
    }

    /// Queues the matching notices; `open` is false when the queue overflowed (it is then
    /// ended and takes nothing more). The subscriber's feed, if it waits, is to be woken with
    /// ``NoticeWaiter/wake(_:)``.
    func offer(_ notices: [Notice]) -> (open: Bool, waiter: NoticeWaiter?) {
        state.withLock { state in
            guard state.end == nil else { return (false, nil) }
            for notice in notices where filter.matches(notice) { state.items.append(notice) }
            if state.items.count > capacity {
                state.items = []
                state.end = .overflow
            }
            guard !state.items.isEmpty || state.end != nil else { return (true, nil) }
            defer { state.waiter = nil }
            return (state.end == nil, state.waiter)
        }
    }

    /// Ends the queue because its subscriber went live, and returns what it held; nil when it
    /// had ended already.
    func handOver() -> [Notice]? {
        state.withLock { state in
            guard state.end == nil else { return nil }
            state.end = .closed
            defer { state.items = [] }
            return state.items
        }
    }

    func close() {
        let waiter = state.withLock { state -> NoticeWaiter? in
            if state.end == nil { state.end = .closed }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.continuation.resume()
    }

    /// Whether the queue has ended by overflowing.
    var overflowed: Bool { state.withLock { $0.end == .overflow } }

    /// Whether the queue was closed (unsubscribed, or the connection is ending).
    var closed: Bool { state.withLock { $0.end == .closed } }

    /// Waits for notices and takes up to `maximum` of them, oldest first; returns the end
    /// instead once the queue ended and nothing is left.
    func take(maximum: Int) async -> Result<[Notice], NoticeQueueEnded> {
        // A cancelled reader ends the queue, so that the wait below never outlives it.
        await withTaskCancellationHandler {
            await nextBatch(maximum: maximum)
        } onCancel: {
            close()
        }
    }

    private func nextBatch(maximum: Int) async -> Result<[Notice], NoticeQueueEnded> {
        while true {
            let taken = state.withLock { state -> Result<[Notice], NoticeQueueEnded>? in
                if !state.items.isEmpty {
                    let count = min(maximum, state.items.count)
                    let batch = Array(state.items.prefix(count))
                    state.items.removeFirst(count)
                    return .success(batch)
                }
                if let end = state.end { return .failure(NoticeQueueEnded(end: end)) }
                return nil
            }
            if let taken { return taken }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // The feed runs on its connection's event loop (EventLoopTaskExecutor).
                let waiter = NoticeWaiter(continuation: continuation, loop: MultiThreadedEventLoopGroup.currentEventLoop)
                let ready = state.withLock { state -> Bool in
                    if !state.items.isEmpty || state.end != nil { return true }
                    state.waiter = waiter
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }
}

/// A subscriber's feed waiting for notices, and the event loop it runs on (nil: none).
struct NoticeWaiter: Sendable {
    let continuation: CheckedContinuation<Void, Never>
    let loop: (any EventLoop)?

    /// Wakes the feeds, one hop to each event loop for all of its feeds.
    ///
    /// The store's writer thread publishes. Resumed there, each feed's task was handed to its
    /// loop on its own: a lock and, mostly, an eventfd write per subscriber and notice, on the
    /// thread that commits the next writes. Resumed on its loop, a feed's task is queued there
    /// without a wake-up.
    static func wake(_ waiting: [NoticeWaiter]) {
        var byLoop: [ObjectIdentifier: (loop: any EventLoop, feeds: [CheckedContinuation<Void, Never>])] = [:]
        for waiter in waiting {
            guard let loop = waiter.loop, !loop.inEventLoop else {
                waiter.continuation.resume()
                continue
            }
            byLoop[ObjectIdentifier(loop), default: (loop, [])].feeds.append(waiter.continuation)
        }
        for (_, group) in byLoop {
            let feeds = group.feeds
            group.loop.execute { for feed in feeds { feed.resume() } }
        }
    }
}

/// How a ``NoticeQueue`` ended.
struct NoticeQueueEnded: Error, Equatable {
    let end: NoticeQueue.End
}
