import NIOCore

/// The first handler of every connection's pipeline: where the notice pass writes, and what
/// tells a blocked subscriber that its channel is writable again.
///
/// Lines written through its context go straight to the socket, past the handlers that
/// requests and answers go through (none of which changes outbound bytes). Written through
/// the channel, each line went through every outbound handler on its way: with a thousand
/// subscribers that hop chain was the largest part of the pass. (NIO takes only inbound or
/// outbound handlers: this one passes on what it reads, untouched.)
final class NoticeOutlet: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private var context: ChannelHandlerContext?
    /// Called when the channel becomes writable again (the live subscriber's ``LiveSink``).
    private(set) var onWritable: (() -> Void)?
    /// The id of the sink `onWritable` belongs to.
    private var owner: Int?

    /// Sets what is called when the channel becomes writable, for the sink `owner`.
    func setOnWritable(owner: Int, _ action: @escaping () -> Void) {
        self.owner = owner
        onWritable = action
    }

    /// Drops `owner`'s callback; a later subscription's on the same connection stays.
    func clearOnWritable(owner: Int) {
        guard self.owner == owner else { return }
        self.owner = nil
        onWritable = nil
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        owner = nil
        onWritable = nil
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { onWritable?() }
        context.fireChannelWritabilityChanged()
    }

    func write(_ line: ByteBuffer) {
        context?.write(NIOAny(line), promise: nil)
    }

    func flush() {
        context?.flush()
    }
}
