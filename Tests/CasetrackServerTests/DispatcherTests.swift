import CasetrackCore
@testable import CasetrackServer
import NIOCore
import Testing

/// The dispatcher in process, against a store double: the role and error paths that
/// otherwise only the end-to-end suite reaches, without a daemon or a socket.
@Suite("Dispatcher: roles, errors and sessions")
struct DispatcherTests {
    static let ownUID: UInt32 = 4_000
    /// uid → role, as the configuration's lists would give them.
    static let roles: [UInt32: Role] = [1_001: .observer, 1_002: .reader, 1_003: .writer, 1_004: .admin]

    struct Directory: AccountDirectory {
        func userID(named name: String) -> UInt32? { nil }
        func groupID(named name: String) -> UInt32? { nil }
    }

    struct Fixture {
        let hub = NoticeHub()
        let store: StoreDouble
        let log = LogCapture()
        let settings: LiveSettings
        let dispatcher: Dispatcher

        init(servesNow: Bool = false, configure: (inout DaemonConfiguration) -> Void = { _ in }) throws {
            var configuration = DaemonConfiguration()
            configure(&configuration)
            var members: [Role: [Principal]] = [:]
            for (uid, role) in DispatcherTests.roles { members[role, default: []].append(.user(String(uid))) }
            let access = try AccessPolicy(members: members, ownUID: DispatcherTests.ownUID, directory: Directory())
            settings = LiveSettings(configuration, access: access)
            store = StoreDouble(servesNow: servesNow, onCommit: hub.publish)
            dispatcher = Dispatcher(store: store, notices: NoticeService(store: store, hub: hub, settings: settings),
                                    serverName: "casetrackd/test", maximumLineLength: 1_000, settings: settings,
                                    logger: log.logger, now: { Timestamp(unixMilliseconds: 1_780_000_000_000) })
        }

        func session(_ role: Role?, cap: Role = .admin) -> Session {
            let uid = DispatcherTests.roles.first { $0.value == role }?.key ?? 2_000
            return Session(peer: PeerIdentity(uid: uid, gid: uid, pid: 77), listener: "socket", cap: cap, logger: log.logger)
        }

        /// Answers `line` and returns its text form, the lines joined.
        func ask(_ line: String, _ session: inout Session) async -> (text: String, after: Dispatcher.After) {
            let (reply, after) = await dispatcher.answer(.line(ByteBuffer(string: line)), session: &session)
            var text = ""
            reply.write(session.format, into: &text)
            return (text, after)
        }
    }

    static let addLine = #"ADD name="Остап Гнатюк" category=civilian status=captive since=2016-05"#

    @Test("each verb needs its role: refused below it with the role named, answered at it")
    func verbRoles() async throws {
        let fixture = try Fixture()
        var writer = fixture.session(.writer)
        #expect(await fixture.ask(Self.addLine, &writer).text.hasPrefix("D id=C-000001"))
        // Verb, the least role that may run it, and the role just below.
        let cases: [(line: String, needs: Role, below: Role)] = [
            ("GET C-000001", .reader, .observer),
            ("HISTORY C-000001", .reader, .observer),
            ("LIST", .reader, .observer),
            (Self.addLine, .writer, .reader),
            ("SET-STATUS C-000001 returned", .writer, .reader),
            ("SET-STATUS C-000001 missing correction=yes", .admin, .writer),
            ("COUNT name=Гнатюк", .reader, .observer),
            ("SUBSCRIBE tag=x", .reader, .observer),
            ("EXCHANGE-CREATE first date=2025-01-01", .admin, .writer),
            ("BACKUP /tmp/x", .admin, .writer),
        ]
        for item in cases {
            var low = fixture.session(item.below)
            let refused = await fixture.ask(item.line, &low)
            #expect(refused.text.hasPrefix("ERR not-permitted "), "\(item.line) as \(item.below)")
            #expect(refused.text.contains("needs the \(item.needs.rawValue) role; this connection has \(item.below.rawValue)"),
                    "\(refused.text)")
            guard case .keepOpen = refused.after else {
                Issue.record("a refused \(item.line) must leave the connection open")
                continue
            }
        }
        var observer = fixture.session(.observer)
        #expect(await fixture.ask("COUNT", &observer).text == "OK count=1\n")
        var reader = fixture.session(.reader)
        #expect(await fixture.ask("GET C-000001", &reader).text.hasPrefix("D id=C-000001 "))
        let refusals = fixture.log.all.filter { $0.message == "request refused" }
        #expect(refusals.count == cases.count)
        // The connection's logger names the peer once for every line it logs.
        #expect(refusals.allSatisfy { $0.metadata["peer_pid"] == "77" && $0.metadata["peer_uid"] != nil })
        #expect(refusals.first?.metadata["needed"] == "reader" && refusals.first?.metadata["verb"] == "GET")
    }

    @Test("a listener's cap lowers the role, and the refusal says which socket to use")
    func listenerCap() async throws {
        let fixture = try Fixture()
        var capped = fixture.session(.admin, cap: .reader)
        let answer = await fixture.ask(Self.addLine, &capped)
        #expect(answer.text.hasPrefix("ERR not-permitted "))
        #expect(answer.text.contains("this socket (socket) allows at most reader; use the read-write socket"))
        #expect(try await fixture.store.lastSequence() == 0)
        // A reader is a reader on every socket: the other socket would refuse it too.
        var reader = fixture.session(.reader, cap: .reader)
        let refused = await fixture.ask(Self.addLine, &reader)
        #expect(refused.text.contains("an administrator can grant it") && !refused.text.contains("read-write socket"), "\(refused.text)")
    }

    @Test("a peer without a role learns nothing and is closed, whatever it sends")
    func noRole() async throws {
        let fixture = try Fixture()
        for line in ["PING", "GET C-000001", "NONSENSE ("] {
            var stranger = fixture.session(nil)
            let answer = await fixture.ask(line, &stranger)
            #expect(answer.text.hasPrefix("ERR not-permitted message=\"uid 2000 has no role on this daemon"))
            guard case .close = answer.after else {
                Issue.record("\(line): a peer without a role must be disconnected")
                continue
            }
        }
        var stranger = fixture.session(nil)
        #expect(fixture.dispatcher.greeting(for: stranger).encoded(.text).hasSuffix(" role=none"))
        let (reply, after) = await fixture.dispatcher.answer(.tooLong(byteCount: 5_000), session: &stranger)
        #expect((try? reply.outcome.get()) == nil)
        if case .failure(let error) = reply.outcome { #expect(error.code == CasetrackError.Code.notPermitted) }
        if case .close = after {} else { Issue.record("no role, even for a line too long: closed") }
    }

    @Test("bad input: a clear error, the connection stays, nothing is written")
    func badInput() async throws {
        let fixture = try Fixture()
        var writer = fixture.session(.writer)
        let tooLong = await fixture.dispatcher.answer(.tooLong(byteCount: 5_000), session: &writer)
        if case .failure(let error) = tooLong.0.outcome {
            #expect(error.code == CasetrackError.Code.lineTooLong && error.message.contains("limit of 1000"))
        } else {
            Issue.record("a line too long must be refused")
        }
        var invalid = ByteBuffer()
        invalid.writeBytes([0x41, 0x44, 0x44, 0x20, 0xFF, 0xFE])
        let (reply, _) = await fixture.dispatcher.answer(.line(invalid), session: &writer)
        if case .failure(let error) = reply.outcome { #expect(error.code == CasetrackError.Code.invalidUTF8) } else { Issue.record("invalid UTF-8") }
        #expect(await fixture.ask("FROB x", &writer).text.hasPrefix("ERR unknown-verb "))
        #expect(await fixture.ask("ADD name=x category=navy status=captive", &writer).text.hasPrefix("ERR bad-argument "))
        #expect(await fixture.ask("UNSUBSCRIBE", &writer).text == "ERR bad-argument message=\"this connection has no subscription\"\n")
        #expect(try await fixture.store.lastSequence() == 0)
        #expect(fixture.log.all.isEmpty, "a malformed request is not a refused write: \(fixture.log.all.map(\.message))")
    }

    @Test("a refused write is logged as one, with its code and the peer")
    func refusedWrite() async throws {
        let fixture = try Fixture()
        var writer = fixture.session(.writer)
        _ = await fixture.ask(Self.addLine, &writer)
        let answer = await fixture.ask("SET-STATUS C-000001 returned expect_version=7", &writer)
        #expect(answer.text.hasPrefix("ERR version-conflict "))
        let refused = try #require(fixture.log.all.first { $0.message == "write refused" })
        #expect(refused.metadata["code"] == "version-conflict" && refused.metadata["verb"] == "SET-STATUS")
        #expect(refused.metadata["message_id"] == MessageID.writeRefused && refused.metadata["peer_uid"] == "1003")
        // A read that fails is not a refused write.
        var reader = fixture.session(.reader)
        #expect(await fixture.ask("GET C-000009", &reader).text.hasPrefix("ERR not-found "))
        #expect(fixture.log.all.filter { $0.message == "write refused" }.count == 1)
    }

    @Test("a storage failure reaches the client as it is and the journal as critical; other errors hide their detail")
    func storeErrors() async throws {
        let fixture = try Fixture()
        var writer = fixture.session(.writer)
        await fixture.store.fail(with: CasetrackError(.storageFailure, "disk I/O error; the daemon stops"))
        let failed = await fixture.ask(Self.addLine, &writer)
        #expect(failed.text == "ERR storage-failure message=\"disk I/O error; the daemon stops\"\n")
        let critical = try #require(fixture.log.all.first { $0.level == .critical })
        #expect(critical.metadata["message_id"] == MessageID.storageFailure && critical.metadata["verb"] == "ADD")

        await fixture.store.fail(with: nil)
        var admin = fixture.session(.admin)
        let hidden = await fixture.ask("EXCHANGE-LIST", &admin)
        #expect(hidden.text == "ERR internal message=\"the server failed to answer; see its log\"\n")
        #expect(!hidden.text.contains("secret"))
        let logged = try #require(fixture.log.all.first { $0.message == "request failed" })
        #expect(logged.metadata["error"]?.contains("secret detail") == true && logged.metadata["peer_pid"] == "77")
    }

    @Test("the request rate is enforced per connection before anything runs")
    func requestRate() async throws {
        let fixture = try Fixture { $0.limits.requestRate = 2 }
        var writer = fixture.session(.writer)
        var answers: [String] = []
        for _ in 0..<6 { answers.append(await fixture.ask(Self.addLine, &writer).text) }
        let limited = answers.filter { $0.hasPrefix("ERR limit-exceeded limit=request_rate ") }
        #expect(!limited.isEmpty)
        #expect(try await fixture.store.lastSequence() == Int64(answers.count - limited.count))
        var other = fixture.session(.writer)
        #expect(await fixture.ask("PING", &other).text == "OK\n", "another connection has its own budget")
    }

    @Test("SUBSCRIBE: one per connection, the session holds it, UNSUBSCRIBE hands it back; since= is checked")
    func subscriptions() async throws {
        let fixture = try Fixture()
        var writer = fixture.session(.writer)
        _ = await fixture.ask(Self.addLine, &writer)
        _ = await fixture.ask(Self.addLine, &writer)
        var observer = fixture.session(.observer)
        let first = await fixture.ask("SUBSCRIBE", &observer)
        #expect(first.text == "OK after=2 last=2\n")
        guard case .startNotices(let subscription) = first.after else {
            Issue.record("SUBSCRIBE must start notices")
            return
        }
        #expect(observer.subscription === subscription && !subscription.includePersonalData)
        #expect(await fixture.ask("SUBSCRIBE", &observer).text.hasPrefix("ERR already-subscribed "))
        let stop = await fixture.ask("UNSUBSCRIBE", &observer)
        #expect(stop.text == "OK\n" && observer.subscription == nil)
        if case .stopNotices(let stopped) = stop.after { #expect(stopped === subscription) } else { Issue.record("UNSUBSCRIBE") }
        subscription.stop()

        // Past the newest event: the database was restored from an older copy, most likely.
        #expect(await fixture.ask("SUBSCRIBE since=9", &observer).text.contains("since=9 is after the newest event"))
        await fixture.store.trim(through: 1)
        let gap = await fixture.ask("SUBSCRIBE since=0", &observer)
        #expect(gap.text.hasPrefix("ERR gap oldest=2 message=\"events 1 to 1 were trimmed by retention"))
        #expect(observer.subscription == nil)

        var reader = fixture.session(.reader)
        reader.format = .json
        let json = await fixture.ask("SUBSCRIBE since=1", &reader)
        #expect(json.text == #"OK {"after":1,"last":2}"# + "\n")
        guard case .startNotices(let personal) = json.after else {
            Issue.record("SUBSCRIBE must start notices")
            return
        }
        #expect(personal.includePersonalData && personal.format == .json)
        personal.stop()
    }

    @Test("max_subscribers counts every connection's subscription")
    func subscriberLimit() async throws {
        let fixture = try Fixture { $0.limits.maxSubscribers = 1 }
        var one = fixture.session(.observer)
        var two = fixture.session(.observer)
        #expect(await fixture.ask("SUBSCRIBE", &one).text.hasPrefix("OK "))
        #expect(await fixture.ask("SUBSCRIBE", &two).text.hasPrefix("ERR limit-exceeded limit=max_subscribers "))
        #expect(two.subscription == nil)
        one.subscription?.stop()
    }

    @Test("with audit_reads, reads of records are logged with their case ids; counts are not")
    func auditReads() async throws {
        let fixture = try Fixture { $0.auditReads = true }
        var writer = fixture.session(.writer)
        _ = await fixture.ask(Self.addLine, &writer)
        var reader = fixture.session(.reader)
        _ = await fixture.ask("GET C-000001", &reader)
        _ = await fixture.ask("LIST", &reader)
        _ = await fixture.ask("COUNT", &reader)
        var observer = fixture.session(.observer)
        _ = await fixture.ask("EXPORT", &observer)
        let audits = fixture.log.all.filter { $0.message == "records read" }
        #expect(audits.map { $0.metadata["verb"] ?? "" } == ["GET", "LIST"])
        #expect(audits.allSatisfy { $0.metadata["cases"] == "C-000001" && $0.metadata["peer_uid"] == "1002" })
    }

    @Test("a change is logged once, without the person's name unless the operator turned it on")
    func changeLog() async throws {
        for personal in [false, true] {
            let fixture = try Fixture { $0.logPersonalData = personal }
            var writer = fixture.session(.writer)
            _ = await fixture.ask(Self.addLine, &writer)
            let changes = fixture.log.all.filter { $0.message == "case changed" }
            #expect(changes.count == 1)
            #expect(changes.first?.metadata["case"] == "C-000001" && changes.first?.metadata["seq"] == "1")
            #expect(changes.first?.metadata["name"] == (personal ? "Остап Гнатюк" : nil))
        }
    }
}

@Suite("Pending answers: one write, bounded by output_buffer")
struct PendingAnswersTests {
    func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test("answers collect until the next would pass the limit; an oversized one becomes an error unless it acknowledges a write")
    func bounded() {
        var pending = PendingAnswers()
        #expect(pending.add(Reply(), format: .text, limit: 10) == nil)
        #expect(pending.add(Reply(), format: .text, limit: 10) == nil)
        #expect(text(pending.bytes) == "OK\nOK\n")
        // "OK\nOK\n" and 3 more bytes would be 9 ≤ 10: still one write.
        #expect(pending.add(Reply(), format: .text, limit: 10) == nil)
        #expect(pending.add(Reply(), format: .text, limit: 10).map(text) == "OK\nOK\nOK\n")
        #expect(text(pending.take()) == "OK\n" && pending.isEmpty)

        let big = Reply(data: [["notes": .string(String(repeating: "x", count: 200))]])
        _ = pending.add(big, format: .text, limit: 100)
        #expect(text(pending.bytes).hasPrefix("ERR limit-exceeded limit=output_buffer message=\"the answer would be 212 bytes"))
        _ = pending.take()
        var acknowledgement = big
        acknowledgement.acknowledgesWrite = true
        _ = pending.add(acknowledgement, format: .text, limit: 100)
        #expect(pending.byteCount == 212, "a committed write's answer is sent whatever its size")
    }
}
