import NIOCore

/// What the line decoder hands on: a complete line, or the news that a line was too long.
public enum InboundLine: Hashable, Sendable {
    /// One line without its `\n` (and without a `\r` before it).
    case line(ByteBuffer)
    /// A line longer than the limit; its bytes were discarded up to and including its `\n`.
    case tooLong(byteCount: Int)
}

/// Splits a byte stream into lines of at most `maximumLength` bytes.
///
/// Unlike a decoder that fails the channel on an over-long line, this one drops the line, says
/// so once, and carries on at the next line: the client gets an error for that request and the
/// connection stays in step. Memory stays bounded by the limit even for a line that never ends.
public struct RequestLineDecoder: ByteToMessageDecoder {
    public typealias InboundOut = InboundLine

    public let maximumLength: Int
    /// Bytes of the current over-long line dropped so far; `nil` when not discarding.
    private var discarded: Int?
    /// How far the current buffer has been searched for `\n`, so bytes are scanned once.
    private var scanned = 0

    /// Whether a last line the client did not end is dropped when the input ends (the
    /// daemon stopped reading, see ``ConnectionWatch/dropsTail``) rather than handed on.
    private let dropsTail: @Sendable () -> Bool

    public init(maximumLength: Int, dropsTail: @escaping @Sendable () -> Bool = { false }) {
        self.maximumLength = maximumLength
        self.dropsTail = dropsTail
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if let dropped = discarded {
            if let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                let count = newline - buffer.readerIndex + 1
                buffer.moveReaderIndex(forwardBy: count)
                discarded = nil
                context.fireChannelRead(wrapInboundOut(.tooLong(byteCount: dropped + count - 1)))
                return .continue
            }
            discarded = dropped + buffer.readableBytes
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        let view = buffer.readableBytesView
        let searchStart = view.index(view.startIndex, offsetBy: min(scanned, view.count))
        if let newline = view[searchStart...].firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - buffer.readerIndex
            scanned = 0
            guard length <= maximumLength + 1 else {
                buffer.moveReaderIndex(forwardBy: length + 1)
                context.fireChannelRead(wrapInboundOut(.tooLong(byteCount: length)))
                return .continue
            }
            // Safe: `length` bytes are readable, as the newline lies beyond them.
            guard var line = buffer.readSlice(length: length) else { return .needMoreData }
            buffer.moveReaderIndex(forwardBy: 1)
            if line.readableBytesView.last == UInt8(ascii: "\r") {
                line.moveWriterIndex(to: line.writerIndex - 1)
            }
            if line.readableBytes > maximumLength {
                context.fireChannelRead(wrapInboundOut(.tooLong(byteCount: line.readableBytes)))
            } else {
                context.fireChannelRead(wrapInboundOut(.line(line)))
            }
            return .continue
        }
        scanned = view.count
        if view.count > maximumLength + 1 {
            discarded = view.count
            scanned = 0
            buffer.moveReaderIndex(to: buffer.writerIndex)
        }
        return .needMoreData
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A last line without `\n` before the client closed its side still counts: `printf
        // 'PING' | socat` gets its answer. Not when the daemon ended the input itself: then
        // the client had not finished the line.
        while try decode(context: context, buffer: &buffer) == .continue {}
        if dropsTail() {
            discarded = nil
            scanned = 0
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        if let dropped = discarded {
            discarded = nil
            context.fireChannelRead(wrapInboundOut(.tooLong(byteCount: dropped)))
        } else if buffer.readableBytes > 0, var line = buffer.readSlice(length: buffer.readableBytes) {
            if line.readableBytesView.last == UInt8(ascii: "\r") { line.moveWriterIndex(to: line.writerIndex - 1) }
            if line.readableBytes > maximumLength {
                context.fireChannelRead(wrapInboundOut(.tooLong(byteCount: line.readableBytes)))
            } else {
                context.fireChannelRead(wrapInboundOut(.line(line)))
            }
        }
        scanned = 0
        return .needMoreData
    }
}
