import CasetrackCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// One client connection, from greeting to last line: it reads request lines, has the
/// dispatcher answer them in order (pipelining works; answers never interleave), runs the
/// notice feed of its subscription beside them, and says goodbye when the daemon stops.
///
/// It owns its ``Session`` (and so its subscription); the notices come from the injected
/// ``NoticeService``. ``SocketServer`` only binds, accepts and quiesces.
struct Connection: Sendable {
    let channel: NIOAsyncChannel<[InboundLine], ByteBuffer>
    /// Set when a connection limit turns the client away: it is told so, then closed.
    let refusal: CasetrackError?
    let watch: ConnectionWatch
    /// Names the peer (uid, pid) in every line.
    let logger: Logger
    let dispatcher: Dispatcher
    let notices: NoticeService
    /// The session, shared with the ``ImmediateReads`` handler between batches of lines.
    let state: NIOLoopBound<ConnectionState>

    /// Answers to a batch of pipelined lines are written once this many bytes are waiting,
    /// rather than all at the end: a client reading as it goes gets its first answers sooner.
    static let batchedOutput = 64 * 1024

    typealias Feeds = ThrowingTaskGroup<NoticeFeed.Outcome, any Error>

    func run() async {
        var session = state.value.session
        do {
            try await channel.executeThenClose { inbound, _ in
                let output = ConnectionOutput(channel: channel.channel, watch: watch)
                if let refusal {
                    try await output.send(ResponseLine.bye(refusal).encoded(.text) + "\n")
                    return
                }
                try await output.send(dispatcher.greeting(for: session).encoded(.text) + "\n")
                state.value.open = true
                // However the connection ends, nothing more is answered on the event loop.
                defer { state.value.open = false }
                try await withThrowingTaskGroup(of: NoticeFeed.Outcome.self) { feeds in
                    // However the connection ends (even by a thrown error), its subscription
                    // ends with it: no queue stays registered in the hub.
                    defer { session.subscription?.stop() }
                    try await withGracefulShutdownHandler {
                        for try await lines in inbound {
                            // The handler may have used the session since the last lines.
                            session = state.value.session
                            let goOn = try await answer(lines, session: &session, feeds: &feeds, output: output)
                            state.value.session = session
                            state.value.answered += lines.count
                            // After QUIT (or a refusal that closes), lines already read are
                            // neither answered nor run, here or on the event loop.
                            guard goOn else {
                                state.value.open = false
                                return
                            }
                        }
                    } onGracefulShutdown: {
                        // Stop reading new requests; the ones already read are answered first
                        // (not a line cut short by this close).
                        watch.dropsTail.store(true, ordering: .relaxed)
                        channel.channel.close(mode: .input, promise: nil)
                    }
                    // A subscriber keeps its sending side open; its end of input ends the feed too.
                    var outcome: NoticeFeed.Outcome?
                    if let subscription = session.subscription {
                        session.subscription = nil
                        outcome = try? await stop(subscription, feeds: &feeds)
                    }
                    // Live notices (written by the hub's pass, unwaited) reach the socket before
                    // it closes: writes complete in order, so waiting for an empty one suffices.
                    try? await channel.channel.writeAndFlush(ByteBuffer()).get()
                    if Task.isShuttingDownGracefully {
                        var bye = CasetrackError(.shuttingDown, "the daemon is stopping; reconnect later")
                        if case .closed(let last) = outcome { bye.details.append("after", last) }
                        try await output.send(ResponseLine.bye(bye).encoded(session.format) + "\n")
                    }
                }
            }
        } catch {
            logger.debug("connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// Answers the lines read together and writes their answers together. Returns false when
    /// the connection is to close.
    private func answer(_ lines: [InboundLine], session: inout Session, feeds: inout Feeds,
                        output: ConnectionOutput) async throws -> Bool {
        var pending = PendingAnswers()
        for line in lines {
            // Cut off by a timeout: the rest of what was read is not run, as its answers
            // could reach nobody.
            guard !watch.cutOff.load(ordering: .relaxed) else { return false }
            let (reply, after) = await dispatcher.answer(line, session: &session)
            if case .stopNotices(let subscription) = after { _ = try await stop(subscription, feeds: &feeds) }
            if let first = pending.add(reply, format: session.format, limit: dispatcher.settings.current.limits.outputBuffer) {
                try await output.send(first)
            }
            switch after {
            case .close:
                try await output.send(pending.take())
                return false
            case .startNotices(let subscription):
                // The subscription's answer goes before its first notice.
                try await output.send(pending.take())
                let granted = session
                let access = dispatcher.settings
                let notices = self.notices
                feeds.addTask {
                    let outcome = await notices.run(subscription, currentRole: { granted.role(under: access.access) },
                                                    output: output)
                    // A feed that cannot go on says why and where to resume; then the connection closes.
                    if let farewell = outcome.farewell {
                        try? await output.send(ResponseLine.bye(farewell).encoded(subscription.format) + "\n")
                        try? await output.close()
                    }
                    return outcome
                }
            case .keepOpen, .stopNotices:
                if pending.byteCount >= Connection.batchedOutput { try await output.send(pending.take()) }
            }
        }
        if !pending.isEmpty { try await output.send(pending.take()) }
        return true
    }

    /// Ends a running feed and returns where it stopped.
    private func stop(_ subscription: Subscription, feeds: inout Feeds) async throws -> NoticeFeed.Outcome? {
        subscription.stop()
        return try await feeds.next()
    }
}

/// The answers to lines read together, collected for one write, as the bytes that go out.
struct PendingAnswers {
    private(set) var bytes: [UInt8] = []

    var isEmpty: Bool { bytes.isEmpty }
    var byteCount: Int { bytes.count }

    /// Adds an answer. An answer larger than `limit` (output_buffer) is replaced by an error
    /// saying so, unless it acknowledges a committed write (a client told "answer too large"
    /// would believe nothing was done). Returns what must be written first so that one write
    /// never carries more than `limit` (unless one answer alone does).
    mutating func add(_ reply: Reply, format: WireFormat, limit: Int) -> [UInt8]? {
        // Rendered in place, behind what is already held: no copy for the common answer.
        let start = bytes.count
        reply.write(format, into: &bytes)
        let size = bytes.count - start
        if size > limit, !reply.acknowledgesWrite {
            bytes.removeSubrange(start...)
            Self.tooLarge(size, limit).write(format, into: &bytes)
        }
        return spill(from: start, limit: limit)
    }

    /// Adds an answer already rendered (a read's: it acknowledges no write), as
    /// ``add(_:format:limit:)`` would.
    mutating func add(rendered answer: ArraySlice<UInt8>, format: WireFormat, limit: Int) -> [UInt8]? {
        let start = bytes.count
        if answer.count > limit {
            Self.tooLarge(answer.count, limit).write(format, into: &bytes)
        } else {
            bytes += answer
        }
        return spill(from: start, limit: limit)
    }

    private static func tooLarge(_ size: Int, _ limit: Int) -> Reply {
        Reply(error: .limitExceeded("output_buffer",
            "the answer would be \(size) bytes, more than the \(limit) one connection may have queued; ask for less (a smaller limit= for LIST or EXPORT)"))
    }

    /// What must be written before the answer that starts at `start`, so that one write
    /// never carries more than `limit` (unless one answer alone does).
    private mutating func spill(from start: Int, limit: Int) -> [UInt8]? {
        guard start > 0, bytes.count > limit else { return nil }
        let first = Array(bytes[..<start])
        bytes.removeSubrange(..<start)
        return first
    }

    mutating func take() -> [UInt8] {
        defer { bytes = [] }
        return bytes
    }
}

/// Writes to one connection's socket. Every write is watched: a client that leaves it unread
/// past `send_timeout` is cut off. One write per answer or batch of notices: lines never mix.
struct ConnectionOutput: Sendable {
    let channel: any Channel
    let watch: ConnectionWatch

    /// Writes and returns once the bytes reached the socket, so that nothing is left queued
    /// when the connection closes.
    @Sendable func send(_ text: String) async throws {
        try await send(ByteBuffer(string: text))
    }

    func send(_ bytes: [UInt8]) async throws {
        try await send(ByteBuffer(bytes: bytes))
    }

    private func send(_ buffer: ByteBuffer) async throws {
        watch.sendBegins()
        defer { watch.sendEnds() }
        try await channel.writeAndFlush(buffer).get()
    }

    func close() async throws {
        try await channel.close()
    }
}
