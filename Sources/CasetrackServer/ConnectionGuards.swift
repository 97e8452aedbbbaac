import CasetrackCore
import CasetrackPOSIX
import Logging
import NIOCore
import Synchronization

/// Counts open connections, in all and per uid, against `max_connections` and
/// `max_connections_per_uid`.
final class ConnectionCounter: Sendable {
    private let counts = Mutex<(total: Int, perUID: [UInt32: Int])>((0, [:]))

    /// Counts the connection in, or says which limit it would break (and counts nothing).
    func admit(uid: UInt32, limits: ConnectionLimits) -> CasetrackError? {
        counts.withLock { counts in
            if counts.total >= limits.maxConnections {
                return .limitExceeded("max_connections",
                    "\(limits.maxConnections) connections are open, the most this daemon allows; try again later")
            }
            if counts.perUID[uid, default: 0] >= limits.maxConnectionsPerUID {
                return .limitExceeded("max_connections_per_uid",
                    "uid \(uid) has \(limits.maxConnectionsPerUID) connections open, the most one user may have; close some")
            }
            counts.total += 1
            counts.perUID[uid, default: 0] += 1
            return nil
        }
    }

    func release(uid: UInt32) {
        counts.withLock { counts in
            counts.total -= 1
            let left = counts.perUID[uid, default: 1] - 1
            counts.perUID[uid] = left > 0 ? left : nil
        }
    }
}

/// Watches one connection for a client that stalls: a line begun but not finished within
/// `line_timeout`, or an answer not taken within `send_timeout`. Checked once a second from
/// the connection's event loop; cheap enough to run for thousands of connections.
final class ConnectionWatch: Sendable {
    /// Monotonic nanoseconds when the pending partial line began, 0 when none.
    let partialLineSince = Atomic<UInt64>(0)
    /// Monotonic nanoseconds since when writes have waited without one finishing, 0 when none
    /// waits. The request loop and the notice feed write at once: with `sending`, a write that
    /// ends while another still waits restarts the clock (the client read something) instead
    /// of stopping it.
    let sendingSince = Atomic<UInt64>(0)
    private let sending = Mutex<Int>(0)
    /// Set when the daemon stops reading the connection itself (a timeout, a shutdown): a
    /// last line its client did not end is then not a request. NIO hands such a tail on as
    /// the input ends, and a line cut at a read boundary (`since=2022` of `since=2022-05-20`)
    /// would run as sent.
    let dropsTail = Atomic<Bool>(false)
    /// Set when the daemon cut the client off (a timeout): nothing more it sent is run.
    let cutOff = Atomic<Bool>(false)

    /// Before the daemon closes the connection on its own.
    func cutOffClient() {
        dropsTail.store(true, ordering: .relaxed)
        cutOff.store(true, ordering: .relaxed)
    }

    static func now() -> UInt64 { MonotonicClock.nanoseconds() }

    /// Around every write to the client.
    func sendBegins() {
        sending.withLock { count in
            if count == 0 { sendingSince.store(ConnectionWatch.now(), ordering: .relaxed) }
            count += 1
        }
    }

    func sendEnds() {
        sending.withLock { count in
            count -= 1
            sendingSince.store(count == 0 ? 0 : ConnectionWatch.now(), ordering: .relaxed)
        }
    }

    /// Whether `since` (0: nothing pending) lies more than `seconds` before `now`. Read in
    /// this order a `since` stored after `now` was taken is simply not late (never a
    /// wrapped subtraction).
    static func late(_ since: UInt64, now: UInt64, seconds: Int) -> Bool {
        since != 0 && now > since && now - since > UInt64(seconds) * 1_000_000_000
    }

    /// Starts the checks; they end when the channel closes. `logger` names the peer.
    func start(on channel: any Channel, settings: LiveSettings, logger: Logger) {
        let task = channel.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [self] _ in
            let limits = settings.current.limits
            let sending = sendingSince.load(ordering: .relaxed)
            let partial = partialLineSince.load(ordering: .relaxed)
            let now = ConnectionWatch.now()
            if ConnectionWatch.late(sending, now: now, seconds: limits.sendTimeout) {
                // The client does not read: a final line would only queue behind the rest.
                log("send_timeout", logger: logger)
                cutOffClient()
                channel.close(promise: nil)
                return
            }
            if ConnectionWatch.late(partial, now: now, seconds: limits.lineTimeout) {
                partialLineSince.store(0, ordering: .relaxed)
                log("line_timeout", logger: logger)
                cutOffClient()
                let bye = ResponseLine.bye(.limitExceeded("line_timeout",
                    "a line was begun but not finished within \(limits.lineTimeout) s; every request ends with a line feed"))
                channel.writeAndFlush(ByteBuffer(string: bye.encoded(.text) + "\n")).whenComplete { _ in
                    channel.close(promise: nil)
                }
                // A client that does not read either would hold the final line (and the
                // connection) forever.
                channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
            }
        }
        channel.closeFuture.whenComplete { _ in task.cancel() }
    }

    private func log(_ limit: String, logger: Logger) {
        logger.notice("client disconnected", metadata: ["message_id": "\(MessageID.clientLimited)", "limit": "\(limit)"])
    }
}

/// Notes whether a line is pending: the last byte read is not a line feed. Sits before the
/// line decoder and passes every byte on.
final class PartialLineTracker: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let watch: ConnectionWatch

    init(watch: ConnectionWatch) { self.watch = watch }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let bytes = buffer.readableBytesView
        if let last = bytes.last {
            if last == UInt8(ascii: "\n") {
                watch.partialLineSince.store(0, ordering: .relaxed)
            } else if bytes.contains(UInt8(ascii: "\n")) || watch.partialLineSince.load(ordering: .relaxed) == 0 {
                // A new line began in this read (after a line feed, or the first bytes).
                watch.partialLineSince.store(ConnectionWatch.now(), ordering: .relaxed)
            }
        }
        context.fireChannelRead(data)
    }
}
