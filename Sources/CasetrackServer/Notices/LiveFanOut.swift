import CasetrackCore
import NIOCore
import Synchronization

/// The live subscribers of one event loop, written in one pass per batch of commits.
///
/// With a task per subscriber, each notice meant a task wake-up, two queue locks and a write
/// with its own promise per subscriber. Here the writer's thread only appends the commit's
/// notices to this loop's list and, unless a pass is already due, schedules one. The pass
/// runs on the loop that owns every channel it writes: it takes all notices that came since
/// the last pass, writes each subscriber's matching lines (buffers shared by all subscribers
/// of one form) and flushes each socket once. A loop that falls behind does fewer, larger
/// passes instead of a growing backlog of small ones.
final class LoopFanOut: Sendable {
    let loop: any EventLoop
    private struct State {
        var pending: [Notice] = []
        var scheduled = false
        var sinks: [LiveSink] = []
        /// Where each sink is in `sinks`, by its id: a sink leaves in constant time. Searched
        /// for, a thousand subscribers leaving together (an office's network gone) took the
        /// hub's lock, which every commit's notices wait for, a million comparisons long.
        var positions: [Int: Int] = [:]
    }
    private let state = Mutex(State())

    init(loop: any EventLoop) { self.loop = loop }

    /// Adds the notices of a commit; true when the caller must call ``schedule()``.
    func add(_ notices: [Notice]) -> Bool {
        state.withLock { state in
            guard !state.sinks.isEmpty else { return false }
            state.pending += notices
            guard !state.scheduled else { return false }
            state.scheduled = true
            return true
        }
    }

    func schedule() { loop.execute { self.pass() } }

    func insert(_ sink: LiveSink) {
        state.withLock { state in
            guard state.positions[sink.id] == nil else { return }
            state.positions[sink.id] = state.sinks.count
            state.sinks.append(sink)
        }
    }

    /// The last sink takes the leaving one's place: the order of a pass is no promise.
    func remove(_ sink: LiveSink) {
        state.withLock { state in
            guard let index = state.positions[sink.id], index < state.sinks.count, state.sinks[index] === sink else { return }
            state.positions[sink.id] = nil
            let last = state.sinks.removeLast()
            guard index < state.sinks.count else { return }
            state.sinks[index] = last
            state.positions[last.id] = index
        }
    }

    /// How many sinks the passes write (for tests).
    var count: Int { state.withLock { $0.sinks.count } }

    private func pass() {
        let (notices, sinks) = state.withLock { state in
            defer {
                state.pending = []
                state.scheduled = false
            }
            return (state.pending, state.sinks)
        }
        var lines = PassLines()
        for sink in sinks { sink.deliver(notices, lines: &lines) }
    }
}

/// The lines of one pass, looked up in the shared ``NoticeLines`` once per notice and form
/// rather than once per subscriber (which would take its lock a thousand times a notice),
/// and what the subscribers' filters ask of each notice, worked out once too.
struct PassLines {
    /// By the notice's index in the pass, then the form (``slot(_:_:)``).
    private var memo: [ByteBuffer?] = []
    /// What filters ask of each notice, by its index in the pass.
    private var bits: [NoticeMatcher.Bits?] = []

    private static func slot(_ format: WireFormat, _ personal: Bool) -> Int {
        (format == .text ? 0 : 2) + (personal ? 1 : 0)
    }

    mutating func bits(_ notices: [Notice], _ index: Int) -> NoticeMatcher.Bits {
        if bits.isEmpty { bits = Array(repeating: nil, count: notices.count) }
        if let known = bits[index] { return known }
        let made = NoticeMatcher.Bits(notices[index])
        bits[index] = made
        return made
    }

    mutating func line(_ notices: [Notice], _ index: Int, format: WireFormat, personal: Bool,
                       from shared: NoticeLines) -> ByteBuffer {
        if memo.isEmpty { memo = Array(repeating: nil, count: notices.count * 4) }
        let slot = index * 4 + Self.slot(format, personal)
        if let line = memo[slot] { return line }
        let line = shared.line(for: notices[index], format: format, personal: personal)
        memo[slot] = line
        return line
    }
}

/// One live subscriber: its connection's ``NoticeOutlet``, its filter and what it has been
/// sent. Everything it holds is touched on its channel's event loop only.
///
/// While the channel takes what is written (it is writable), lines go out as they come.
/// Once it is not (the client does not read; NIO's high-water mark), lines wait here,
/// counted, until the channel says it is writable again; more than `capacity` waiting ends
/// the subscription with an overflow. So a slow reader costs the others nothing and loses
/// nothing it cannot get back by resuming. The wait is watched like any write: a client
/// that reads nothing for `send_timeout` is cut off.
final class LiveSink: Sendable {
    /// The subscriber's id in the hub (its queue's).
    let id: Int
    let loop: any EventLoop
    private let channel: any Channel
    private let watch: ConnectionWatch
    private let matcher: NoticeMatcher
    private let format: WireFormat
    private let capacity: Int
    /// Whether personal data may go out now; nil when the role no longer allows the
    /// subscription. Asked again whenever the settings were replaced (a reload takes
    /// effect with the next notice), not for every notice and subscriber.
    private let personalData: @Sendable () -> Bool?
    private let settings: LiveSettings?
    private let lines: NoticeLines
    private let ended: EventLoopPromise<NoticeFeed.Outcome>
    private let state: NIOLoopBoundBox<State>
    /// Takes the sink out of the hub when it ends.
    private let onEnd: @Sendable (LiveSink) -> Void

    private struct State {
        let outlet: NoticeOutlet
        /// The newest notice handed to the channel: where a resumed subscription starts.
        var last: Int64
        /// The newest notice looked at (matching or not), so that none is looked at twice.
        var seen: Int64
        /// Waiting for the channel to become writable again.
        var blocked = false
        var held: [ByteBuffer] = []
        var heldLast: Int64 = 0
        var done = false
        /// `personalData()` as of `settings.generation` `checkedAt`.
        var personal: Bool?
        var checkedAt = -1
    }

    /// Made on the outlet's event loop.
    init(id: Int, outlet: NoticeOutlet, channel: any Channel, watch: ConnectionWatch, filter: NoticeFilter,
         format: WireFormat, capacity: Int, last: Int64, lines: NoticeLines, settings: LiveSettings?,
         personalData: @escaping @Sendable () -> Bool?, onEnd: @escaping @Sendable (LiveSink) -> Void) {
        self.id = id
        self.loop = channel.eventLoop
        self.channel = channel
        self.watch = watch
        self.matcher = NoticeMatcher(filter)
        self.format = format
        self.capacity = capacity
        self.lines = lines
        self.personalData = personalData
        self.settings = settings
        self.onEnd = onEnd
        self.ended = channel.eventLoop.makePromise()
        self.state = NIOLoopBoundBox(State(outlet: outlet, last: last, seen: last), eventLoop: channel.eventLoop)
        // Held strongly: a weak reference gives the sink a side table, and every retain and
        // release of it (several per sink and pass) then took Swift's slow path, a twentieth
        // of the loop with 1,000 subscribers. The cycle ends with the sink (`end` clears it)
        // or with the channel's pipeline (``NoticeOutlet`` drops it when removed).
        outlet.setOnWritable(owner: id) { self.unblock() }
    }

    /// How the subscription ended, once it has.
    var outcome: EventLoopFuture<NoticeFeed.Outcome> { ended.futureResult }

    /// Writes the matching notices not sent yet, or holds them while the channel is full.
    func deliver(_ notices: [Notice], lines pass: inout PassLines) {
        guard let newest = notices.last?.seq else { return }
        // One access to the loop-bound state for the whole batch: each access checks the
        // thread, and that was a good part of the pass.
        let after = state.withValue { state -> AfterDelivery in
            guard !state.done, newest > state.seen else { return .nothing }
            guard let personal = currentPersonalData(&state) else { return .revoked }
            var wrote = false
            // By index: a `for notice in` copied each notice (its strings and arrays
            // retained) once per subscriber.
            for index in notices.indices where notices[index].seq > state.seen {
                let seq = notices[index].seq
                state.seen = seq
                guard matcher.matches(pass.bits(notices, index), notices[index]) else { continue }
                let line = pass.line(notices, index, format: format, personal: personal, from: lines)
                if state.blocked {
                    state.held.append(line)
                    state.heldLast = seq
                    if state.held.count > capacity { return .overflow }
                } else {
                    state.outlet.write(line)
                    state.last = seq
                    wrote = true
                }
            }
            return wrote ? .flush(state.outlet) : .nothing
        }
        switch after {
        case .nothing: break
        case .flush(let outlet): flush(outlet)
        case .overflow: end(.overflow)
        case .revoked: end(.revoked)
        }
    }

    private enum AfterDelivery { case nothing, flush(NoticeOutlet), overflow, revoked }

    /// Outside any access to the state: a flush that drains the socket makes the channel
    /// writable again at once, and NIO says so before the flush returns (``unblock()``).
    private func flush(_ outlet: NoticeOutlet) {
        outlet.flush()
        if !channel.isWritable { state.withValue { block(&$0) } }
    }

    private func currentPersonalData(_ state: inout State) -> Bool? {
        guard let generation = settings?.generation else { return personalData() }
        if state.checkedAt != generation {
            state.personal = personalData()
            state.checkedAt = generation
        }
        return state.personal
    }

    private func block(_ state: inout State) {
        state.blocked = true
        watch.sendBegins()
    }

    /// The channel is writable again: what waited goes out.
    private func unblock() {
        let outlet = state.withValue { state -> NoticeOutlet? in
            guard state.blocked else { return nil }
            state.blocked = false
            watch.sendEnds()
            guard !state.done, !state.held.isEmpty else { return nil }
            for line in state.held { state.outlet.write(line) }
            state.held = []
            state.last = state.heldLast
            return state.outlet
        }
        if let outlet { flush(outlet) }
    }

    enum End { case closed, overflow, revoked }

    /// Ends the subscription (from any thread): nothing more is written, and ``outcome``
    /// says why and the last notice sent.
    func end(_ end: End) {
        guard loop.inEventLoop else {
            loop.execute { self.end(end) }
            return
        }
        let last = state.withValue { state -> Int64? in
            guard !state.done else { return nil }
            state.done = true
            state.held = []
            if state.blocked {
                state.blocked = false
                watch.sendEnds()
            }
            state.outlet.clearOnWritable(owner: id)
            return state.last
        }
        guard let last else { return }
        onEnd(self)
        switch end {
        case .closed: ended.succeed(.closed(last: last))
        case .overflow: ended.succeed(.overflow(last: last))
        case .revoked: ended.succeed(.revoked(last: last))
        }
    }

    /// Sends what the subscriber's queue held when it went live; on the loop.
    func start(with left: [Notice]) {
        var pass = PassLines()
        deliver(left, lines: &pass)
    }
}
