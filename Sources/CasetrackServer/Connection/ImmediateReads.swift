import CasetrackCore
import NIOCore

/// What a connection's task and its ``ImmediateReads`` handler share, on the connection's
/// event loop (both run there, one at a time).
///
/// The session is the task's while it answers lines; it hands the session back here each
/// time it has answered everything it was given, and takes it again with the next lines. In
/// between, the handler may use it (a GET takes a rate token, may log a refusal).
final class ConnectionState {
    var session: Session
    /// Lines passed on to the task, and how many of them it has answered.
    var forwarded = 0
    var answered = 0
    /// The task has greeted the client and reads lines (false before, and once it is closing).
    var open = false

    init(session: Session) { self.session = session }

    /// Whether a line may be answered on the event loop now: no earlier line waits for its
    /// answer from the task, and no notices are being sent (a subscription's lines stay on one
    /// path).
    var answersHere: Bool { open && forwarded == answered && session.subscription == nil }
}

/// Answers GET lines on the event loop, as they are read, while the connection's task has
/// nothing outstanding; any other line, and every line after one passed on, goes to the task.
/// Answers so stay in request order.
///
/// Through the task, a GET cost a wake-up of the task on every line and a wait for the write
/// of its answer: about two thirds of the daemon's turnaround for a client that asks one
/// thing at a time. The answer is the dispatcher's (``Dispatcher/renderNow(_:session:format:)``):
/// same rate limit, role, audit and text.
///
/// The GETs of one read burst (a pipelining client's) are held until its end, or a line that
/// is not one, and read from the store together: one snapshot and one lock for all of them
/// (two for a long burst, half of it done on another core by ``ReadHelper``). They were all
/// read from the socket before the snapshots began, so each still sees every change
/// acknowledged before it was sent.
final class ImmediateReads: HoldsBurst {
    typealias InboundIn = InboundLine
    typealias InboundOut = InboundLine

    /// GETs read from the store together at most: enough to share the read's fixed cost,
    /// few enough that their answers go out while the client still sends.
    static let heldGets = 128

    private let state: ConnectionState
    private let dispatcher: Dispatcher
    private let watch: ConnectionWatch
    /// GETs of this burst not yet answered, with their lines (passed on if the store does
    /// not serve them here).
    private var held: [(line: InboundLine, get: ImmediateGet)] = []
    /// Answers of this read burst not yet written.
    private var pending = PendingAnswers()
    private var unflushed = false
    /// Bytes written here and not yet taken by the socket.
    private var queued = 0

    init(state: ConnectionState, dispatcher: Dispatcher, watch: ConnectionWatch) {
        self.state = state
        self.dispatcher = dispatcher
        self.watch = watch
        held.reserveCapacity(Self.heldGets)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = unwrapInboundIn(data)
        // A client that does not read its answers is left to the task, which waits for the
        // socket (and is cut off by send_timeout) instead of queueing more here than one
        // connection may have queued (output_buffer).
        if state.answersHere, queued < dispatcher.settings.current.limits.outputBuffer,
           let get = dispatcher.immediateGet(line, session: state.session) {
            held.append((line, get))
            if held.count >= Self.heldGets { answerHeld(context) }
            return
        }
        answerHeld(context)
        // What was answered here goes out before anything the task answers later.
        if !pending.isEmpty { write(pending.take(), context) }
        state.forwarded += 1
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        deliver(context)
        context.fireChannelReadComplete()
    }

    func deliver(_ context: ChannelHandlerContext) {
        answerHeld(context)
        if !pending.isEmpty { write(pending.take(), context) }
        if unflushed {
            unflushed = false
            context.flush()
        }
    }

    /// Answers the held GETs that the store serves at once; the rest go to the task, in order
    /// (and with them every line after them, as ``ConnectionState/answersHere`` says).
    private func answerHeld(_ context: ChannelHandlerContext) {
        guard !held.isEmpty else { return }
        let gets = held
        held.removeAll(keepingCapacity: true)
        let format = state.session.format
        let answers = dispatcher.renderNow(gets.map(\.get), session: &state.session, format: format)
        let limit = dispatcher.settings.current.limits.outputBuffer
        for index in 0..<answers.count {
            if let first = pending.add(rendered: answers[index], format: format, limit: limit) { write(first, context) }
            if pending.byteCount >= Connection.batchedOutput {
                write(pending.take(), context)
                // A long burst's answers go out as they are made, not all at its end.
                unflushed = false
                context.flush()
            }
        }
        guard answers.count < gets.count else { return }
        if !pending.isEmpty { write(pending.take(), context) }
        for (line, _) in gets[answers.count...] {
            state.forwarded += 1
            context.fireChannelRead(wrapInboundOut(line))
        }
    }

    /// Writes one batch of answers, watched like every write (send_timeout).
    private func write(_ bytes: [UInt8], _ context: ChannelHandlerContext) {
        watch.sendBegins()
        let watch = self.watch
        let size = bytes.count
        queued += size
        context.write(wrapOutboundOut(ByteBuffer(bytes: bytes))).assumeIsolated().whenComplete { [self] _ in
            queued -= size
            watch.sendEnds()
        }
        unflushed = true
    }
}

extension ImmediateReads {
    typealias OutboundOut = ByteBuffer
}
