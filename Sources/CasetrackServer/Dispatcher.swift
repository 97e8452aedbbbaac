#if canImport(Glibc)
import Glibc
#endif
import CasetrackCore
import Logging

/// What the server knows about one connection.
public struct Session: Sendable {
    /// The peer as the kernel reported it at connect time.
    public var peer: PeerIdentity
    public var format: WireFormat = .text
    /// Whether notices carry personal data (names, places, notes): set at `SUBSCRIBE` from
    /// the role (off until then: a path that forgot would leak nothing).
    public var includePersonalData = false
    /// Whether the connection has a subscription running.
    public var subscribed = false
    /// The listener the connection came through (`socket`, or a systemd fd name).
    public var listener = "socket"
    /// The most this connection may do, whatever its peer's role: set by its listener.
    public var cap: Role = .observer
    var rate = RequestRate(rate: 0)
    /// Refusals logged for this connection: past a few, the rest go unlogged, so that one
    /// client cannot flood the journal.
    var refusalsLogged = 0

    public init(peer: PeerIdentity) { self.peer = peer }
}

/// Turns request lines into answers: parse, validate, run against the store, render.
///
/// It knows no sockets: the server feeds it lines and writes what it returns, and tests can
/// call it directly.
public struct Dispatcher: Sendable {
    public let store: any CaseStore
    public let hub: NoticeHub
    public let serverName: String
    public let maximumLineLength: Int
    /// The reloadable settings (subscriber buffer, personal data in the log).
    public let settings: LiveSettings
    let now: @Sendable () -> Timestamp
    let logger: Logger

    public init(store: any CaseStore, hub: NoticeHub, serverName: String, maximumLineLength: Int,
                settings: LiveSettings, logger: Logger, now: @escaping @Sendable () -> Timestamp) {
        self.store = store
        self.hub = hub
        self.serverName = serverName
        self.maximumLineLength = maximumLineLength
        self.settings = settings
        self.logger = logger
        self.now = now
    }

    /// Notices one subscriber may have waiting before it is cut off.
    public var subscriberBuffer: Int { settings.current.subscriberBuffer }

    /// The first line a client receives; `role=` says what this peer may do (`none`: nothing).
    public func greeting(for session: Session) -> ResponseLine {
        var fields = Fields()
        fields.append("protocol", protocolVersion)
        fields.append("server", serverName)
        fields.append("max_line", maximumLineLength)
        fields.append("role", role(of: session)?.rawValue ?? "none")
        return .hello(fields)
    }

    /// The peer's role under the policy in force, capped by its listener; nil: none.
    public func role(of session: Session, access: AccessPolicy? = nil) -> Role? {
        (access ?? settings.access).role(of: session.peer).map { min($0, session.cap) }
    }

    /// What the connection does once the answer is written.
    public enum After: Sendable {
        case keepOpen
        case close
        /// Start sending the notices of this subscription.
        case startNotices(Subscription)
        /// Stop the notices; done before the answer is written, so that none follows it.
        case stopNotices
    }

    /// Answers one inbound line.
    public func answer(_ inbound: InboundLine, session: inout Session) async -> (Reply, After) {
        let (configuration, access) = settings.snapshot
        guard session.rate.take(now: Dispatcher.monotonicSeconds(), rate: configuration.limits.requestRate) else {
            return (Reply(error: .limitExceeded("request_rate",
                "more than \(configuration.limits.requestRate) requests a second on this connection; this one was not run. Slow down and send it again")),
                    .keepOpen)
        }
        // Someone with no role learns nothing, not even what is wrong with the request, and
        // is not left holding a connection.
        guard let role = role(of: session, access: access) else {
            return (refuse(nil, role: nil, session: &session), .close)
        }
        switch inbound {
        case .tooLong(let count):
            return (Reply(error: CasetrackError(.lineTooLong,
                "line of \(count) bytes is longer than the limit of \(maximumLineLength); it was discarded")), .keepOpen)
        case .line(let buffer):
            guard let line = String(validating: buffer.readableBytesView, as: UTF8.self) else {
                return (Reply(error: CasetrackError(.invalidUTF8, "the line is not valid UTF-8; nothing was done")), .keepOpen)
            }
            return await answer(line: line, role: role, configuration: configuration, session: &session)
        }
    }

    /// Answers one request line (already known to be UTF-8), for a peer with `role`.
    public func answer(line: String, session: inout Session) async -> (Reply, After) {
        let (configuration, access) = settings.snapshot
        guard let role = role(of: session, access: access) else { return (refuse(nil, role: nil, session: &session), .close) }
        return await answer(line: line, role: role, configuration: configuration, session: &session)
    }

    /// `not-permitted`, logged with who asked.
    private func refuse(_ command: Command?, role: Role?, session: inout Session) -> Reply {
        session.refusalsLogged += 1
        if session.refusalsLogged <= 10 {
            logger.notice("request refused", metadata: [
            "message_id": "\(MessageID.accessRefused)", "verb": "\(command?.verb.name ?? "-")",
            "role": "\(role?.rawValue ?? "none")", "needed": "\(command?.requiredRole.rawValue ?? "observer")",
            "listener": "\(session.listener)", "peer_uid": "\(session.peer.uid)", "peer_pid": "\(session.peer.pid)",
            "refusals": "\(session.refusalsLogged)",
            ])
        }
        guard let command, let role else {
            return Reply(error: CasetrackError(.notPermitted,
                "uid \(session.peer.uid) has no role on this daemon; an administrator can grant one (observers, readers, writers, admins in casetrackd.conf)"))
        }
        let how = role < session.cap || session.cap == .admin ? "an administrator can grant it in casetrackd.conf"
            : "this socket (\(session.listener)) allows at most \(session.cap.rawValue); use the read-write socket"
        return Reply(error: CasetrackError(.notPermitted,
            "\(command.verb.name)\(command.requiredRole > command.verb.role ? " with these arguments" : "") needs the \(command.requiredRole.rawValue) role; this connection has \(role.rawValue) (\(how))"))
    }

    static func monotonicSeconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    private func answer(line: String, role: Role, configuration: DaemonConfiguration,
                        session: inout Session) async -> (Reply, After) {
        let clock = WriteClock(now: now())
        let command: Command
        do {
            command = try Command(Request(line: line), today: clock.today)
        } catch {
            return (Reply(error: Dispatcher.clientVisible(error)), .keepOpen)
        }
        guard role >= command.requiredRole else { return (refuse(command, role: role, session: &session), .keepOpen) }
        do {
            let answer = try await run(command, role: role, configuration: configuration, session: &session, clock: clock)
            if configuration.auditReads { audit(command, reply: answer.0, session: session) }
            return answer
        } catch let error as CasetrackError {
            if error.code == .storageFailure {
                logger.critical("storage failure", metadata: ["message_id": "\(MessageID.storageFailure)",
                                                              "verb": "\(command.verb.name)", "error": "\(error.message)"])
            } else if command.isWrite {
                logger.notice("write refused", metadata: [
                    "message_id": "\(MessageID.writeRefused)", "verb": "\(command.verb.name)", "code": "\(error.code)",
                    "peer_uid": "\(session.peer.uid)", "peer_pid": "\(session.peer.pid)",
                ])
            }
            return (Reply(error: error), .keepOpen)
        } catch {
            logger.error("request failed", metadata: ["verb": "\(command.verb.name)", "error": "\(error)"])
            return (Reply(error: Dispatcher.clientVisible(error)), .keepOpen)
        }
    }

    /// With `audit_reads`, who read which records.
    private func audit(_ command: Command, reply: Reply, session: Session) {
        switch command {
        case .get, .history, .list: break
        default: return
        }
        guard case .success = reply.outcome else { return }
        var ids: [String] = []
        switch command {
        case .get(let id), .history(let id): ids = [id.description]
        default: ids = reply.data.compactMap { $0.string("id") }
        }
        logger.notice("records read", metadata: [
            "message_id": "\(MessageID.recordsRead)", "verb": "\(command.verb.name)", "cases": "\(ids.joined(separator: ","))",
            "count": "\(ids.count)", "peer_uid": "\(session.peer.uid)", "peer_pid": "\(session.peer.pid)",
        ])
    }

    private func run(_ command: Command, role: Role, configuration: DaemonConfiguration, session: inout Session,
                     clock: WriteClock) async throws -> (Reply, After) {
        let today = clock.today
        switch command {
        case .hello(let version, let format):
            if let version, version != protocolVersion {
                throw CasetrackError(.unsupportedVersion, "this server speaks protocol \(protocolVersion), not \(version)")
            }
            if let format { session.format = format }
            var fields = greeting(for: session).fields
            fields.append("format", session.format.rawValue)
            return (Reply(final: fields), .keepOpen)
        case .format(let format):
            session.format = format
            return (Reply(final: ["format": .string(format.rawValue)]), .keepOpen)
        case .ping:
            return (Reply(), .keepOpen)
        case .quit:
            return (Reply(), .close)
        case .add(let new, let details):
            let change = try await store.add(new, details: details, actor: session.peer.actor, clock: clock)
            return (written(change, today: today), .keepOpen)
        case .setStatus(let id, let status, let details, let expectVersion, let correction):
            let change = try await store.setStatus(id, to: status, details: details, actor: session.peer.actor,
                                                   expectVersion: expectVersion, correction: correction, clock: clock)
            return (written(change, today: today), .keepOpen)
        case .update(let id, let update, let details, let expectVersion):
            let change = try await store.update(id, update, details: details, actor: session.peer.actor,
                                                expectVersion: expectVersion, clock: clock)
            return (written(change, today: today), .keepOpen)
        case .get(let id):
            guard let record = try await store.get(id) else { throw CasetrackError(.notFound, "no case \(id)") }
            return (Reply(data: [record.fields(today: today)]), .keepOpen)
        case .history(let id):
            guard let events = try await store.history(id) else { throw CasetrackError(.notFound, "no case \(id)") }
            return (Reply(data: events.map(\.fields), final: ["count": .int(Int64(events.count))]), .keepOpen)
        case .list(let filter, let limit, let after):
            // One more than asked tells whether another page follows.
            var records = try await store.list(filter, today: today, limit: limit + 1, after: after)
            var final = Fields()
            let more = records.count > limit
            if more { records.removeLast() }
            final.append("count", records.count)
            if more, let last = records.last { final.append("next", last.id.description) }
            return (Reply(data: records.map { $0.fields(today: today) }, final: final), .keepOpen)
        case .count(let filter):
            let count = try await store.count(filter, today: today)
            return (Reply(final: ["count": .int(Int64(count))]), .keepOpen)
        case .stats(let filter):
            let statistics = try await store.statistics(filter, today: today)
            return (Reply(data: statistics.lines, final: ["total": .int(Int64(statistics.total))]), .keepOpen)
        case .subscribe(let filter, let since):
            session.includePersonalData = role >= .reader
            return try await subscribe(filter, since: since, limit: configuration.limits.maxSubscribers, session: &session)
        case .unsubscribe:
            guard session.subscribed else { throw CasetrackError.badArgument("this connection has no subscription") }
            session.subscribed = false
            return (Reply(), .stopNotices)
        case .testNotice(let note):
            let notice = try await store.recordTestNotice(note: note, actor: session.peer.actor, clock: clock)
            logger.notice("test notice", metadata: ["seq": "\(notice.seq)", "kind": "test", "peer_uid": "\(session.peer.uid)",
                                                    "peer_pid": "\(session.peer.pid)"])
            var reply = Reply(final: ["seq": .int(notice.seq)])
            reply.acknowledgesWrite = true
            return (reply, .keepOpen)
        }
    }

    private func subscribe(_ filter: NoticeFilter, since: Int64?, limit: Int,
                           session: inout Session) async throws -> (Reply, After) {
        guard !session.subscribed else {
            throw CasetrackError(.alreadySubscribed, "this connection is already subscribed; send UNSUBSCRIBE first, or use another connection")
        }
        if let since {
            let trimmed = try await store.trimmedThrough()
            if since < trimmed {
                var details = Fields()
                details.append("oldest", trimmed + 1)
                throw CasetrackError(.gap,
                    "events \(since + 1) to \(trimmed) were trimmed by retention; the oldest kept is \(trimmed + 1). Resync what you keep (LIST), then SUBSCRIBE since=\(trimmed)",
                    details: details)
            }
            let newest = hub.lastSequence
            if since > newest {
                throw CasetrackError.badArgument(
                    "since=\(since) is after the newest event, \(newest): was the database restored from an older backup? Subscribe with since=\(newest) or less")
            }
        }
        guard let (queue, registered) = hub.subscribe(filter: filter, capacity: subscriberBuffer, limit: limit) else {
            throw CasetrackError.limitExceeded("max_subscribers",
                "\(limit) subscriptions are running, the most this daemon allows; try again later")
        }
        session.subscribed = true
        var final = Fields()
        // Where this subscription starts: a client that reconnects resumes with since=this
        // (or the seq of the last notice it handled, if later).
        final.append("after", since ?? registered)
        final.append("last", registered)
        return (Reply(final: final),
                .startNotices(Subscription(hub: hub, queue: queue, registeredAfter: registered, since: since, filter: filter)))
    }

    private func written(_ change: CaseChange, today: Day) -> Reply {
        let event = change.event
        var metadata: Logger.Metadata = [
            "message_id": "\(MessageID.caseChanged)", "case": "\(event.caseID)", "kind": "\(event.kind.rawValue)",
            "old": "\(event.oldStatus?.rawValue ?? "-")", "new": "\(event.newStatus?.rawValue ?? "-")",
            "seq": "\(event.seq)", "peer_uid": "\(event.actor.uid)", "peer_pid": "\(event.actor.pid)",
        ]
        // Who the person is stays out of the log unless the operator turned it on.
        if settings.current.logPersonalData, let name = change.record.names.first { metadata["name"] = "\(name)" }
        logger.info("case changed", metadata: metadata)
        var final = Fields()
        final.append("id", change.record.id.description)
        final.append("version", change.record.version)
        final.append("seq", event.seq)
        var reply = Reply(data: [change.record.fields(today: today)], final: final)
        reply.acknowledgesWrite = true
        return reply
    }

    /// The error a client may see: our own errors as they are, anything else without detail.
    static func clientVisible(_ error: any Error) -> CasetrackError {
        if let error = error as? CasetrackError { return error }
        return CasetrackError(.internalError, "the server failed to answer; see its log")
    }
}

extension ResponseLine {
    var fields: Fields {
        switch self {
        case .hello(let fields), .data(let fields), .ok(let fields), .notice(let fields): return fields
        case .error, .bye: return Fields()
        }
    }
}
