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
        case .export: guard (try? reply.outcome.get())?.string("personal_data") == "yes" else { return }
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
            let (records, final) = try await page(filter, limit: limit, after: after, today: today)
            return (Reply(data: records.map { $0.fields(today: today) }, final: final), .keepOpen)
        case .count(let filter):
            let count = try await store.count(filter, today: today)
            return (Reply(final: ["count": .int(Int64(count))]), .keepOpen)
        case .stats(let query):
            let table = try await store.statistics(query, today: today)
            return (Reply(data: table.lines, final: table.final), .keepOpen)
        case .exchangeCreate, .exchangeAdd, .exchangeRemove, .exchangeComplete, .exchangeShow, .exchangeList:
            return (try await exchange(command, role: role, session: session, clock: clock), .keepOpen)
        case .importRows(let rows, let dryRun):
            return (try await importRows(rows, dryRun: dryRun, session: session, clock: clock), .keepOpen)
        case .export(let filter, let limit, let after):
            var (records, final) = try await page(filter, limit: limit, after: after, today: today)
            let full = role >= .reader
            final.append("personal_data", full ? "yes" : "no")
            return (Reply(data: records.map { full ? $0.fields(today: today) : $0.observerFields(today: today) }, final: final),
                    .keepOpen)
        case .backup(let path):
            let summary = try await store.backup(to: path)
            logger.notice("backup written", metadata: [
                "message_id": "\(MessageID.backupWritten)", "path": "\(summary.path)", "bytes": "\(summary.bytes)",
                "case_count": "\(summary.cases)", "event_count": "\(summary.events)", "seq": "\(summary.lastSequence)",
                "peer_uid": "\(session.peer.uid)", "peer_pid": "\(session.peer.pid)",
            ])
            var final = Fields()
            final.append("path", summary.path)
            final.append("bytes", summary.bytes)
            final.append("cases", summary.cases)
            final.append("events", summary.events)
            final.append("last", summary.lastSequence)
            return (Reply(final: final), .keepOpen)
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

    /// One page of a LIST or EXPORT, with `count=` and, when more follow, `next=`.
    private func page(_ filter: CaseFilter, limit: Int, after: CaseID?, today: Day) async throws -> ([CaseRecord], Fields) {
        // One more than asked tells whether another page follows.
        var records = try await store.list(filter, today: today, limit: limit + 1, after: after)
        var final = Fields()
        let more = records.count > limit
        if more { records.removeLast() }
        final.append("count", records.count)
        if more, let last = records.last { final.append("next", last.id.description) }
        return (records, final)
    }

    private func exchange(_ command: Command, role: Role, session: Session, clock: WriteClock) async throws -> Reply {
        var final = Fields()
        switch command {
        case .exchangeCreate(let name, let date, let phases, let note):
            let exchange = try await store.createExchange(
                Exchange(name: name, date: date, phases: phases, note: note, createdAt: clock.now), actor: session.peer.actor)
            logger.info("exchange created", metadata: ["exchange": "\(exchange.name)", "phases": "\(phases)",
                                                       "peer_uid": "\(session.peer.uid)"])
            final.append("exchange", exchange.name)
            final.append("date", exchange.date.description)
            final.append("phases", exchange.phases)
            return Reply(final: final)
        case .exchangeAdd(let name, let phase, let ids):
            let added = try await store.listOnExchange(name, phase: phase, ids: ids)
            final.append("exchange", name)
            final.append("phase", phase)
            final.append("added", added)
            return Reply(final: final)
        case .exchangeRemove(let name, let ids):
            final.append("exchange", name)
            final.append("removed", try await store.removeFromExchange(name, ids: ids))
            return Reply(final: final)
        case .exchangeComplete(let name, let phase, let details):
            let completion = try await store.completePhase(name, phase: phase, details: details, actor: session.peer.actor,
                                                           clock: clock)
            for change in completion.changes { _ = written(change, today: clock.today) }
            let total = completion.returned.values.reduce(0, +)
            var metadata: Logger.Metadata = [
                "message_id": "\(MessageID.exchangeCompleted)", "exchange": "\(completion.exchange.name)",
                "phase": "\(phase)", "seq": "\(completion.event.seq)", "returned": "\(total)",
                "peer_uid": "\(session.peer.uid)", "peer_pid": "\(session.peer.pid)",
            ]
            for category in Category.allCases { metadata[category.rawValue] = "\(completion.returned[category] ?? 0)" }
            logger.notice("exchange phase completed", metadata: metadata)
            final.append("exchange", completion.exchange.name)
            final.append("phase", phase)
            final.append("seq", completion.event.seq)
            final.append("returned", total)
            for category in Category.reportOrder {
                final.append(category.rawValue, completion.returned[category] ?? 0)
            }
            let data = completion.changes.map { change -> Fields in
                var fields = Fields()
                fields.append("id", change.record.id.description)
                fields.append("category", change.record.category.rawValue)
                fields.append("version", change.record.version)
                fields.append("seq", change.event.seq)
                return fields
            }
            var reply = Reply(data: data, final: final)
            reply.acknowledgesWrite = true
            return reply
        case .exchangeShow(let name):
            guard let (exchange, phases) = try await store.exchangeReport(name) else {
                throw CasetrackError(.notFound, "no exchange \(LineCodec.quote(name)); EXCHANGE-LIST shows those on record")
            }
            final.append("exchange", exchange.name)
            final.append("date", exchange.date.description)
            final.append("phases", exchange.phases)
            final.append("listed", phases.map(\.total.listed).reduce(0, +))
            final.append("returned", phases.map(\.total.returned).reduce(0, +))
            final.append("note", exchange.note)
            return Reply(data: phases.flatMap(\.lines), final: final)
        case .exchangeList:
            let summaries = try await store.exchanges()
            // The note is free text: only for roles that may read records.
            return Reply(data: summaries.map { $0.fields(includeNote: role >= .reader) },
                         final: ["count": .int(Int64(summaries.count))])
        default:
            throw CasetrackError(.internalError, "\(command.verb.name) is not an exchange request")
        }
    }

    /// `IMPORT`: every row is read first; one bad row refuses the batch (a dry run lists each).
    private func importRows(_ texts: [String], dryRun: Bool, session: Session, clock: WriteClock) async throws -> Reply {
        var rows: [(index: Int, row: ImportRow)] = []
        var problems: [(index: Int, error: CasetrackError)] = []
        for (index, text) in texts.enumerated() {
            do {
                var row = try ImportRow(text, today: clock.today)
                row.number = index + 1
                rows.append((index, row))
            } catch let error as CasetrackError {
                problems.append((index, error))
            }
        }
        if !dryRun, let first = problems.first {
            var details = Fields()
            details.append("row", first.index + 1)
            throw CasetrackError(.badArgument,
                "\(problems.count) of \(texts.count) rows are invalid, the first is row \(first.index + 1): \(first.error.message); nothing was imported (IMPORT dry_run=yes lists every problem)",
                details: details)
        }
        let outcomes = try await store.importRows(rows.map(\.row), dryRun: dryRun, actor: session.peer.actor, clock: clock)
        var data: [Fields] = []
        var added = 0
        var existing = 0
        var seqs: [Int64] = []
        for (position, outcome) in outcomes.enumerated() {
            let index = rows[position].index
            switch outcome.decision {
            case .add:
                added += 1
                if let change = outcome.change {
                    seqs.append(change.event.seq)
                    var fields = Fields()
                    fields.append("row", index + 1)
                    fields.append("result", "added")
                    fields.append("id", change.record.id.description)
                    fields.append("seq", change.event.seq)
                    data.append(fields)
                }
            case .existing(let id):
                existing += 1
                if !dryRun {
                    var fields = Fields()
                    fields.append("row", index + 1)
                    fields.append("result", "existing")
                    fields.append("id", id.description)
                    data.append(fields)
                }
            case .conflict(let message):
                problems.append((index, CasetrackError(message.hasPrefix("ref:") ? .duplicateReference : .badArgument, message)))
            }
        }
        var final = Fields()
        final.append("rows", texts.count)
        final.append("added", added)
        final.append("existing", existing)
        if dryRun {
            for (index, error) in problems.sorted(by: { $0.index < $1.index }) {
                var fields = Fields()
                fields.append("row", index + 1)
                fields.append("code", error.code.rawValue)
                fields.append("field", ImportRow.field(of: error))
                fields.append("message", error.message)
                data.append(fields)
            }
            final.append("errors", problems.count)
            final.append("dry_run", "yes")
            return Reply(data: data, final: final)
        }
        if let first = seqs.first, let last = seqs.last {
            final.append("first_seq", first)
            final.append("last_seq", last)
        }
        logger.notice("cases imported", metadata: [
            "message_id": "\(MessageID.casesImported)", "rows": "\(texts.count)", "added": "\(added)",
            "existing": "\(existing)", "first_seq": "\(seqs.first ?? 0)", "last_seq": "\(seqs.last ?? 0)",
            "peer_uid": "\(session.peer.uid)", "peer_pid": "\(session.peer.pid)",
        ])
        var reply = Reply(data: data, final: final)
        reply.acknowledgesWrite = true
        return reply
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
