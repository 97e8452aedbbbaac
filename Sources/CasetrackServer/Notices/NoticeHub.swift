import CasetrackCore
import NIOCore
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
        let passes = state.withLock { state -> [LoopFanOut] in
            state.lastPublished = last.seq
            var overflowed: [Int] = []
            for (id, queue) in state.queues where !queue.offer(notices) { overflowed.append(id) }
            for id in overflowed { state.queues[id] = nil }
            // Under the same lock as goLive: a notice is either in the queue it drains or
            // in a pass after it.
            return state.fanOuts.values.filter { $0.add(notices) }
        }
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

    /// How many live subscribers the loops' passes write (for tests: the same as the live
    /// subscribers, unless one that ended was left in a pass).
    var sinksInPasses: Int { state.withLock { $0.fanOuts.values.reduce(0) { $0 + $1.count } } }

    /// How many subscribers are connected.
    public var subscriberCount: Int { state.withLock { $0.queues.count + $0.live.count } }

    /// The newest sequence number published.
    public var lastSequence: Int64 { state.withLock { $0.lastPublished } }
}

/// The notices waiting for one subscriber while it replays the stored events. Bounded: when
/// more than `capacity` wait, the queue drops them all and ends with ``End/overflow`` (the
/// subscriber registers again and replays further). Once the replay caught up, the
/// subscriber goes live and takes what waited (``handOver()``).
final class NoticeQueue: Sendable {
    enum End: Sendable, Equatable {
        /// More than `capacity` notices waited.
        case overflow
        /// Unsubscribed, handed over, or the connection or daemon is ending.
        case closed
    }

    private struct State {
        var items: [Notice] = []
        var end: End?
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

    /// Queues the matching notices; false when the queue overflowed (it is then ended and
    /// takes nothing more).
    func offer(_ notices: [Notice]) -> Bool {
        state.withLock { state in
            guard state.end == nil else { return false }
            for notice in notices where filter.matches(notice) { state.items.append(notice) }
            if state.items.count > capacity {
                state.items = []
                state.end = .overflow
            }
            return state.end == nil
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
        state.withLock { state in
            if state.end == nil { state.end = .closed }
        }
    }

    /// Whether the queue has ended by overflowing.
    var overflowed: Bool { state.withLock { $0.end == .overflow } }

    /// Whether the queue was closed (unsubscribed, handed over, or the connection is ending).
    var closed: Bool { state.withLock { $0.end == .closed } }
}
