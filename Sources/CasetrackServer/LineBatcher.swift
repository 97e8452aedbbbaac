import NIOCore

/// Hands on the lines of one read burst together, as one array.
///
/// A client that pipelines sends many requests in one write; the connection answers all the
/// lines that arrived together and writes their answers in one go, instead of one socket write
/// (and one wait for it) per answer. Lines still come one by one to a client that sends one at
/// a time: a batch is what one read of the socket brought, never a wait for more.
final class LineBatcher: HoldsBurst {
    typealias InboundIn = InboundLine
    typealias InboundOut = [InboundLine]

    private var pending: [InboundLine] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pending.append(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if !pending.isEmpty { context.fireChannelRead(wrapInboundOut(take())) }
        context.fireChannelReadComplete()
    }

    func deliver(_ context: ChannelHandlerContext) {
        guard !pending.isEmpty else { return }
        context.fireChannelRead(wrapInboundOut(take()))
        // Without a read-complete, the async channel would hold these lines back.
        context.fireChannelReadComplete()
    }

    private func take() -> [InboundLine] {
        defer { pending = [] }
        return pending
    }
}

/// A handler that holds back what one read burst brought (lines, answers) until its
/// read-complete. The decoder hands on the last lines at end of input (or when the connection
/// goes) with no read-complete after them: what is held is delivered before such an event is
/// passed on.
protocol HoldsBurst: ChannelInboundHandler {
    /// Hands on what is held.
    func deliver(_ context: ChannelHandlerContext)
}

extension HoldsBurst {
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        deliver(context)
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deliver(context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        deliver(context)
        context.fireErrorCaught(error)
    }
}
