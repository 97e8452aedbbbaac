@testable import CasetrackServer
import NIOCore
import NIOEmbedded
import Testing

@Suite("Line batcher")
struct LineBatcherTests {
    func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RequestLineDecoder(maximumLength: 64)))
        try channel.pipeline.syncOperations.addHandler(LineBatcher())
        return channel
    }

    func batches(_ channel: EmbeddedChannel) throws -> [[String]] {
        var result: [[String]] = []
        while let batch = try channel.readInbound(as: [InboundLine].self) {
            result.append(batch.map { line in
                switch line {
                case .line(let buffer): return String(buffer: buffer)
                case .tooLong(let count): return "<too long: \(count)>"
                }
            })
        }
        return result
    }

    @Test("the lines of one read come as one batch, in order; a partial line waits for its end")
    func oneReadOneBatch() throws {
        let channel = try channel()
        try channel.writeInbound(ByteBuffer(string: "GET C-1\nGET C-2\n" + String(repeating: "x", count: 70) + "\nPING\nGE"))
        #expect(try batches(channel) == [["GET C-1", "GET C-2", "<too long: 70>", "PING"]])
        try channel.writeInbound(ByteBuffer(string: "T C-3\n"))
        #expect(try batches(channel) == [["GET C-3"]])
        #expect(try channel.finish().isClean)
    }

    @Test("a last line without its newline is handed on when the client closes its side")
    func lastLineAtEndOfInput() throws {
        let channel = try channel()
        try channel.writeInbound(ByteBuffer(string: "PING\nQUIT"))
        #expect(try batches(channel) == [["PING"]])
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(try batches(channel) == [["QUIT"]])
        _ = try channel.finish()
    }

    @Test("a read that brings no complete line hands on nothing")
    func nothingComplete() throws {
        let channel = try channel()
        try channel.writeInbound(ByteBuffer(string: "GET C-"))
        #expect(try batches(channel).isEmpty)
        _ = try channel.finish()
    }
}
