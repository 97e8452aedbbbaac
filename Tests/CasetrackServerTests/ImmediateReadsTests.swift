import CasetrackCore
@testable import CasetrackServer
import NIOCore
import NIOEmbedded
import Testing

/// GETs answered on the event loop: the same answer as through the connection's task, with
/// the same limits, and never out of order with the lines the task answers.
@Suite("Immediate reads")
struct ImmediateReadsTests {
    typealias Fixture = DispatcherTests.Fixture

    func text(_ reply: Reply?, _ format: WireFormat = .text) -> String? {
        guard let reply else { return nil }
        var text = ""
        reply.write(format, into: &text)
        return text
    }

    @Test("a GET is answered at once, as the dispatcher answers it; anything else is left to the task")
    func sameAnswer() async throws {
        let fixture = try Fixture(servesNow: true) { $0.auditReads = true }
        var writer = fixture.session(.writer)
        _ = await fixture.ask(DispatcherTests.addLine, &writer)
        var reader = fixture.session(.reader)
        let now = text(fixture.dispatcher.answerNow(.line(ByteBuffer(string: "get\tC-000001")), session: &reader))
        #expect(now?.hasPrefix("D id=C-000001 ") == true)
        #expect(now == (await fixture.ask("GET C-000001", &reader)).text)
        // Audited as through the task: twice, the same way.
        let audits = fixture.log.all.filter { $0.message == "records read" }
        #expect(audits.count == 2 && audits.allSatisfy { $0.metadata["cases"] == "C-000001" })
        // Not a GET, a malformed GET, a missing case, a role that may not read: the task says.
        for line in ["PING", "GETX C-000001", "GET", "GET C-000001 extra=1", "GET C-000009", "LIST", " GET C-000001"] {
            #expect(fixture.dispatcher.answerNow(.line(ByteBuffer(string: line)), session: &reader) == nil, "\(line)")
        }
        var observer = fixture.session(.observer)
        #expect(fixture.dispatcher.answerNow(.line(ByteBuffer(string: "GET C-000001")), session: &observer) == nil)
        #expect(fixture.dispatcher.answerNow(.tooLong(byteCount: 5_000), session: &reader) == nil)
        // A store that cannot read without waiting leaves every GET to the task.
        let plain = try Fixture()
        var other = plain.session(.writer)
        _ = await plain.ask(DispatcherTests.addLine, &other)
        #expect(plain.dispatcher.answerNow(.line(ByteBuffer(string: "GET C-000001")), session: &other) == nil)
    }

    @Test("the request rate counts GETs answered at once and through the task alike")
    func rateShared() async throws {
        let fixture = try Fixture(servesNow: true) { $0.limits.requestRate = 3 }
        var writer = fixture.session(.writer)
        _ = await fixture.ask(DispatcherTests.addLine, &writer)
        var reader = fixture.session(.reader)
        #expect(await fixture.ask("PING", &reader).text == "OK\n")
        #expect(text(fixture.dispatcher.answerNow(.line(ByteBuffer(string: "GET C-000001")), session: &reader))?.hasPrefix("D ") == true)
        #expect(await fixture.ask("PING", &reader).text == "OK\n")
        let fourth = text(fixture.dispatcher.answerNow(.line(ByteBuffer(string: "GET C-000001")), session: &reader))
        #expect(fourth?.hasPrefix("ERR limit-exceeded limit=request_rate ") == true, "\(fourth ?? "nil")")
    }

    @Test("the GET read from bytes is the GET the request parser reads, or is left to it")
    func plainGetAgreesWithParser() throws {
        let lines = [
            "GET C-000001", "get c-1", "GET 123", "Get\tC-0000042", "GET  \t C-999999999999999", "GET C-1000000",
            "GET C-0", "GET 0", "GET C-", "GET c-x1", "GET C-1 ", "GET C-1x", "GET C-1 extra=1", "GET \"C-000001\"",
            "GET 1234567890123456", "GET C-1234567890123456", "GET -1", "GET +1", "GET C--1", "GET C-١٢٣", "GET C_1",
            "GET c-000000000000001", "GET  ", "GET\t", "GETC-1",
        ]
        var accepted = 0
        for line in lines {
            let buffer = ByteBuffer(string: line)
            let parsed: CaseID? = {
                guard let command = try? Command(Request(line: line), today: Day(year: 2026, month: 6, day: 15)!),
                      case .get(let id) = command else { return nil }
                return id
            }()
            guard Dispatcher.startsWithGet(buffer.readableBytesView) else {
                #expect(parsed == nil, "\(line)")
                continue
            }
            if let fast = Dispatcher.plainGet(buffer.readableBytesView) {
                accepted += 1
                #expect(fast == parsed, "\(line)")
            }
        }
        // The common forms are all read from bytes.
        #expect(accepted == 7)
    }

    @Test("a burst of GETs is answered in order, held ones beyond one read too; from a missing case on, the task answers")
    func burst() async throws {
        let fixture = try Fixture(servesNow: true)
        var writer = fixture.session(.writer)
        for _ in 0..<3 { _ = await fixture.ask(DispatcherTests.addLine, &writer) }
        let pipe = try Pipe(fixture)
        pipe.state.open = true
        // More GETs than are read from the store together, all in one burst.
        let ids = (0..<(ImmediateReads.heldGets * 2 + 5)).map { "C-00000\($0 % 3 + 1)" }
        try pipe.send(ids.map { "GET \($0)" })
        let answered = try pipe.written().joined().split(separator: "\n").filter { $0.hasPrefix("D ") }
        #expect(answered.map { $0.split(separator: " ")[1] } == ids.map { "id=\($0)" })
        #expect(try pipe.forwarded().isEmpty)
        // A missing case in the middle: the GETs before it are answered here, it and every
        // line after it go to the task, in order.
        try pipe.send(["GET C-000001", "GET C-000002", "GET C-000009", "GET C-000003", "PING"])
        let first = try pipe.written().joined().split(separator: "\n").filter { $0.hasPrefix("D ") }
        #expect(first.map { $0.split(separator: " ")[1] } == ["id=C-000001", "id=C-000002"])
        #expect(try pipe.forwarded() == ["GET C-000009", "GET C-000003", "PING"])
        #expect(pipe.state.forwarded == 3)
        _ = try pipe.channel.finish()
    }

    @Test("a long burst is read in two halves, one on the helper thread: the answers of one GET at a time, in order")
    func splitBurst() async throws {
        let fixture = try Fixture(servesNow: true) { $0.limits.requestRate = 150 }
        var writer = fixture.session(.writer)
        for _ in 0..<5 { _ = await fixture.ask(DispatcherTests.addLine, &writer) }
        let gets = (0..<100).map { ImmediateGet(id: CaseID(number: Int64($0 * 7 % 5 + 1))) }
        #expect(gets.count >= Dispatcher.splitBurst)
        // One at a time, as a client that waits for each answer is served.
        var single = fixture.session(.reader)
        var expected: [String] = []
        for get in gets {
            var bytes: [UInt8] = []
            fixture.dispatcher.answerNow([get], session: &single).forEach { $0.write(.text, into: &bytes) }
            expected.append(String(decoding: bytes, as: UTF8.self))
        }
        func answers(_ rendered: RenderedAnswers) -> [String] {
            (0..<rendered.count).map { String(decoding: rendered[$0], as: UTF8.self) }
        }
        // Until the helper took a half at least once (it may be busy, or not yet scheduled,
        // in which case the loop does the whole burst: the same answers either way).
        let ranBefore = ReadHelper.shared.ran
        var bursts = 0
        repeat {
            var reader = fixture.session(.reader)
            #expect(answers(fixture.dispatcher.renderNow(gets, session: &reader, format: .text)) == expected)
            bursts += 1
        } while ReadHelper.shared.ran == ranBefore && bursts < 500
        #expect(ReadHelper.shared.ran > ranBefore, "the helper never took a half in \(bursts) bursts")
        // A missing case in either half: the answers before it, and nothing after it.
        for missing in [10, 70] {
            var some = gets
            some[missing] = ImmediateGet(id: CaseID(number: 99))
            var reader = fixture.session(.reader)
            #expect(answers(fixture.dispatcher.renderNow(some, session: &reader, format: .text)) == Array(expected[..<missing]))
        }
        // The rate limit (150 a second, a second's worth at once) is applied in order: after
        // 60 GETs, about 90 of the next 100 are answered, then every one is refused (what the
        // bucket refilled meanwhile may let one or two more through).
        var limited = fixture.session(.reader)
        _ = fixture.dispatcher.renderNow(Array(gets[..<60]), session: &limited, format: .text)
        let over = answers(fixture.dispatcher.renderNow(gets, session: &limited, format: .text))
        let refused = { (answer: String) in answer.hasPrefix("ERR limit-exceeded limit=request_rate ") }
        let answered = over.firstIndex(where: refused) ?? over.count
        #expect(over.count == 100 && (90...92).contains(answered), "\(answered)")
        #expect(Array(over[..<answered]) == Array(expected[..<answered]))
        #expect(over[answered...].allSatisfy(refused))
    }

    /// The handler in a pipeline of its own: what it writes, and what it passes on to the task.
    struct Pipe {
        let channel = EmbeddedChannel()
        let state: ConnectionState

        init(_ fixture: Fixture) throws {
            state = ConnectionState(session: fixture.session(.reader))
            try channel.pipeline.syncOperations.addHandler(
                ImmediateReads(state: state, dispatcher: fixture.dispatcher, watch: ConnectionWatch()))
        }

        func send(_ lines: [String]) throws {
            // One read burst: its lines, then one read-complete (writeInbound would add one
            // after each line).
            for line in lines { channel.pipeline.syncOperations.fireChannelRead(NIOAny(InboundLine.line(ByteBuffer(string: line)))) }
            channel.pipeline.syncOperations.fireChannelReadComplete()
        }

        /// The verbs of the lines passed on to the task.
        func forwarded() throws -> [String] {
            var lines: [String] = []
            while case .line(let buffer)? = try channel.readInbound(as: InboundLine.self) { lines.append(String(buffer: buffer)) }
            return lines
        }

        /// The answers written by the handler, one string per write.
        func written() throws -> [String] {
            var writes: [String] = []
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { writes.append(String(buffer: buffer)) }
            return writes
        }
    }

    @Test("answers keep request order: after a line passed on, GETs wait for the task too")
    func order() async throws {
        let fixture = try Fixture(servesNow: true)
        var writer = fixture.session(.writer)
        _ = await fixture.ask(DispatcherTests.addLine, &writer)
        let pipe = try Pipe(fixture)
        // Before the greeting, nothing is answered here.
        try pipe.send(["GET C-000001"])
        #expect(try pipe.written().isEmpty && pipe.forwarded() == ["GET C-000001"])
        pipe.state.answered = 1
        pipe.state.open = true
        // Two GETs of one read go out in one write; the PING after them goes to the task, and
        // so does the GET after the PING.
        try pipe.send(["GET C-000001", "get C-000001", "PING", "GET C-000001"])
        let writes = try pipe.written()
        #expect(writes.count == 1 && writes[0].components(separatedBy: "\n").filter { $0.hasPrefix("D id=C-000001 ") }.count == 2)
        #expect(try pipe.forwarded() == ["PING", "GET C-000001"])
        try pipe.send(["GET C-000001"])
        #expect(try pipe.written().isEmpty && pipe.forwarded() == ["GET C-000001"])
        // Once the task answered all three, GETs are answered here again, in the session's format.
        pipe.state.answered = 4
        pipe.state.session.format = .json
        try pipe.send(["GET C-000001"])
        #expect(try pipe.written().first?.hasPrefix(#"D {"id":"C-000001""#) == true)
        // A subscribed session's lines all go to the task.
        var session = pipe.state.session
        #expect(await fixture.ask("SUBSCRIBE", &session).text.hasPrefix("OK"))
        pipe.state.session = session
        #expect(pipe.state.session.subscription != nil)
        try pipe.send(["GET C-000001"])
        #expect(try pipe.written().isEmpty && pipe.forwarded() == ["GET C-000001"])
        pipe.state.session.subscription?.stop()
        _ = try pipe.channel.finish()
    }
}
