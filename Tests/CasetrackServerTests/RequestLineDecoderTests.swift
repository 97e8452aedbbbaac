import CasetrackServer
import NIOCore
import NIOEmbedded
import Testing

@Suite("Request line decoder")
struct RequestLineDecoderTests {
    func channel(limit: Int = 16) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RequestLineDecoder(maximumLength: limit)))
        return channel
    }

    func lines(_ channel: EmbeddedChannel) throws -> [String] {
        var result: [String] = []
        while let line = try channel.readInbound(as: InboundLine.self) {
            switch line {
            case .line(let buffer): result.append(String(buffer: buffer))
            case .tooLong(let count): result.append("<too long: \(count)>")
            }
        }
        return result
    }

    @Test("splits lines, drops CR before LF, keeps empty lines")
    func split() throws {
        let channel = try channel()
        try channel.writeInbound(ByteBuffer(string: "PING\nGET C-1\r\n\nQU"))
        #expect(try lines(channel) == ["PING", "GET C-1", ""])
        try channel.writeInbound(ByteBuffer(string: "IT\n"))
        #expect(try lines(channel) == ["QUIT"])
        #expect(try channel.finish().isClean)
    }

    @Test("an over-long line is reported once and the next line is read normally")
    func tooLong() throws {
        let channel = try channel()
        try channel.writeInbound(ByteBuffer(string: String(repeating: "x", count: 40) + "\nPING\n"))
        #expect(try lines(channel) == ["<too long: 40>", "PING"])
        // Exactly at the limit is fine, one byte more is not.
        try channel.writeInbound(ByteBuffer(string: String(repeating: "y", count: 16) + "\n" + String(repeating: "z", count: 17) + "\n"))
        #expect(try lines(channel) == [String(repeating: "y", count: 16), "<too long: 17>"])
    }

    @Test("a line that never ends is discarded in pieces: memory stays bounded")
    func endless() throws {
        let channel = try channel()
        for _ in 0..<1_000 {
            try channel.writeInbound(ByteBuffer(string: String(repeating: "a", count: 1_000)))
            #expect(try lines(channel).isEmpty)
        }
        try channel.writeInbound(ByteBuffer(string: "tail\nPING\n"))
        #expect(try lines(channel) == ["<too long: 1000004>", "PING"])
    }

    @Test("bytes arriving one at a time")
    func trickle() throws {
        let channel = try channel()
        for byte in "GET C-1\nPING\n".utf8 {
            var buffer = channel.allocator.buffer(capacity: 1)
            buffer.writeInteger(byte)
            try channel.writeInbound(buffer)
        }
        #expect(try lines(channel) == ["GET C-1", "PING"])
    }

    @Test("a last line without LF is held to the same limit")
    func lastLineTooLong() throws {
        let channel = try channel()
        try channel.writeInbound(ByteBuffer(string: String(repeating: "x", count: 17)))
        _ = try channel.finish()
        #expect(try lines(channel) == ["<too long: 17>"])
    }

    @Test("a last line without LF still counts when the client closes")
    func lastLine() throws {
        let channel = try channel()
        try channel.writeInbound(ByteBuffer(string: "PING\nSTATS"))
        #expect(try lines(channel) == ["PING"])
        _ = try channel.finish()
        #expect(try lines(channel) == ["STATS"])
    }
}
