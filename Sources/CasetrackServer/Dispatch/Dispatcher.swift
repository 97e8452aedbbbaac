import CasetrackCore
import CasetrackPOSIX
import Logging
import NIOCore

/// Turns request lines into answers: parse, check the role, run against the store, render.
///
/// It knows no sockets: a ``Connection`` feeds it lines and writes what it returns, and tests
/// call it directly. The verbs' handlers are grouped by family in the files beside this one
/// (cases, exchanges, interchange, notices); the switch in ``run`` is exhaustive, so a new
/// verb does not compile until it has a handler.
public struct Dispatcher: Sendable {
    public let store: any CaseStore
    let notices: NoticeService
    public let serverName: String
    public let maximumLineLength: Int
    /// The reloadable settings (limits, access policy, personal data in the log).
    public let settings: LiveSettings
    let now: @Sendable () -> Timestamp
    let logger: Logger

    public init(store: any CaseStore, notices: NoticeService, serverName: String, maximumLineLength: Int,
                settings: LiveSettings, logger: Logger, now: @escaping @Sendable () -> Timestamp) {
        self.store = store
        self.notices = notices
        self.serverName = serverName
        self.maximumLineLength = maximumLineLength
        self.settings = settings
        self.logger = logger
        self.now = now
    }

    /// The first line a client receives; `role=` says what this peer may do (`none`: nothing).
    public func greeting(for session: Session) -> ResponseLine {
        .hello(greetingFields(for: session))
    }

    func greetingFields(for session: Session) -> Fields {
        var fields = Fields()
        fields.append("protocol", protocolVersion)
        fields.append("server", serverName)
        fields.append("max_line", maximumLineLength)
        fields.append("role", session.role(under: settings.access)?.rawValue ?? "none")
        return fields
    }

    /// What the connection does once the answer is written.
    public enum After: Sendable {
        case keepOpen
        case close
        /// Start sending the notices of this subscription (now the session's).
        case startNotices(Subscription)
        /// Stop the notices of this subscription (no longer the session's); done before the
        /// answer is written, so that none follows it.
        case stopNotices(Subscription)
    }

    /// Answers one inbound line.
    public func answer(_ inbound: InboundLine, session: inout Session) async -> (Reply, After) {
        let (configuration, access) = settings.snapshot
        if let refusal = Self.rateRefusal(configuration, session: &session) { return (refusal, .keepOpen) }
        // Someone with no role learns nothing, not even what is wrong with the request, and
        // is not left holding a connection.
        guard let role = session.role(under: access) else {
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

    /// The answer to a request over the connection's rate (taking a token when it is not).
    static func rateRefusal(_ configuration: DaemonConfiguration, session: inout Session) -> Reply? {
        guard !session.rate.take(now: MonotonicClock.seconds(), rate: configuration.limits.requestRate) else { return nil }
        return Reply(error: .limitExceeded("request_rate",
            "more than \(configuration.limits.requestRate) requests a second on this connection; this one was not run. Slow down and send it again"))
    }

    /// Answers one request line (already known to be UTF-8).
    public func answer(line: String, session: inout Session) async -> (Reply, After) {
        let (configuration, access) = settings.snapshot
        guard let role = session.role(under: access) else { return (refuse(nil, role: nil, session: &session), .close) }
        return await answer(line: line, role: role, configuration: configuration, session: &session)
    }

    private func answer(line: String, role: Role, configuration: DaemonConfiguration,
                        session: inout Session) async -> (Reply, After) {
        let clock = WriteClock(now: now())
        let command: Command
        let requestID: String?
        do {
            let request = try Request(line: line)
            command = try Command(request, today: clock.today)
            requestID = command.isWrite ? try RequestID.of(request) : nil
        } catch {
            return (Reply(error: Dispatcher.clientVisible(error)), .keepOpen)
        }
        guard role >= command.requiredRole else { return (refuse(command, role: role, session: &session), .keepOpen) }
        let call = Call(command: command, role: role, clock: clock)
        do {
            let answer: (Reply, After)
            if let requestID {
                // The store records the id with the write, in its transaction.
                answer = try await WriteRequest.$current.withValue(WriteRequest(id: requestID, verb: command.verb)) {
                    try await run(call, session: &session)
                }
                if let stored = answer.0.stored { store.keepAnswer(stored, for: requestID) }
            } else {
                answer = try await run(call, session: &session)
            }
            if configuration.auditReads { audit(command, reply: answer.0, session: session) }
            return answer
        } catch let error as CasetrackError where error.code == .repeated {
            do {
                return (try await repeated(requestID ?? "") ?? Reply(error: CasetrackError(.internalError,
                    "request \(requestID ?? "") was recorded but cannot be found")), .keepOpen)
            } catch {
                return (Reply(error: Dispatcher.clientVisible(error)), .keepOpen)
            }
        } catch let error as CasetrackError {
            // A named write refused before it ran (a full disk, a damaged file, the shared
            // store away, a stop) may be the retry of one made before the fault: it gets that
            // first answer, never "not made" for a change that is on record.
            if let requestID, Self.refusedUnrun.contains(error.code),
               let first = try? await repeated(requestID) {
                return (first, .keepOpen)
            }
            if error.code == .storageFailure {
                session.logger.critical("storage failure", metadata: [
                    "message_id": "\(MessageID.storageFailure)", "verb": "\(command.verb.name)", "error": "\(error.message)",
                ])
            } else if command.isWrite {
                session.logger.notice("write refused", metadata: [
                    "message_id": "\(MessageID.writeRefused)", "verb": "\(command.verb.name)", "code": "\(error.code)",
                ])
            }
            return (Reply(error: error), .keepOpen)
        } catch {
            session.logger.error("request failed", metadata: ["verb": "\(command.verb.name)", "error": "\(error)"])
            return (Reply(error: Dispatcher.clientVisible(error)), .keepOpen)
        }
    }

    /// The refusals of a write that say it was not made because it never ran.
    static let refusedUnrun: Set<CasetrackError.Code> = [.storageFull, .storageDamaged, .storageUnavailable, .shuttingDown]

    /// The answer to a named write done before: its first answer, marked `replayed=yes`; or,
    /// if that was not kept (the daemon stopped right after the write), what the store knows.
    /// Nil when no write of that id is on record.
    private func repeated(_ id: String) async throws -> Reply? {
        guard let done = try await store.doneRequest(id) else { return nil }
        var reply: Reply
        if let answer = done.answer, let first = Reply(stored: answer) {
            reply = first
        } else {
            // As a write's answer reads, from what is known: the case as it is now.
            var final = Fields()
            if let record = done.record, let version = done.version {
                final.append("id", record.id.description)
                final.append("version", version)
                final.append("seq", done.lastSeq)
            }
            final.append("request_id", id)
            if done.lastSeq >= done.firstSeq {
                final.append("first_seq", done.firstSeq)
                final.append("last_seq", done.lastSeq)
            }
            final.append("first_answer", "not-kept")
            reply = Reply(data: done.record.map { [$0.fields(today: now().day)] } ?? [], final: final)
        }
        if case .success(var final) = reply.outcome {
            final.append("replayed", "yes")
            reply.outcome = .success(final)
        }
        reply.acknowledgesWrite = true
        return reply
    }

    /// A checked command with what its handler needs besides the session.
    struct Call {
        let command: Command
        /// The peer's role, already found sufficient for the command.
        let role: Role
        let clock: WriteClock
        var today: Day { clock.today }
    }

    private func run(_ call: Call, session: inout Session) async throws -> (Reply, After) {
        switch call.command {
        case .hello(let version, let format):
            return (try hello(version: version, format: format, session: &session), .keepOpen)
        case .format(let format):
            session.format = format
            return (Reply(final: ["format": .string(format.rawValue)]), .keepOpen)
        case .ping:
            return (Reply(), .keepOpen)
        case .quit:
            return (Reply(), .close)
        case .add(let new, let details):
            return (try await add(new, details: details, call, session: session), .keepOpen)
        case .setStatus(let id, let status, let details, let expectVersion, let correction):
            return (try await setStatus(id, to: status, details: details, expectVersion: expectVersion,
                                        correction: correction, call, session: session), .keepOpen)
        case .update(let id, let update, let details, let expectVersion):
            return (try await self.update(id, update, details: details, expectVersion: expectVersion, call, session: session),
                    .keepOpen)
        case .get(let id):
            return (try await get(id, call), .keepOpen)
        case .recordEvent(let id, let type, let captivity, let details, let expectVersion):
            return (try await recordEvent(id, type, captivity, details: details, expectVersion: expectVersion, call,
                                          session: session), .keepOpen)
        case .contactAdd(let id, let change):
            return (try await contactAdd(id, change, call, session: session), .keepOpen)
        case .contactUpdate(let id, let change):
            return (try await contactUpdate(id, change, call, session: session), .keepOpen)
        case .contactRemove(let id):
            return (try await contactRemove(id, call, session: session), .keepOpen)
        case .contacts(let id):
            return (try await contacts(id), .keepOpen)
        case .enquiryAdd(let id, let from, let question, let asked):
            return (try await enquiryAdd(id, from: from, question: question, asked: asked, call, session: session), .keepOpen)
        case .enquiryAnswer(let id, let answer, let answered):
            return (try await enquiryAnswer(id, answer: answer, answered: answered, call, session: session), .keepOpen)
        case .enquiries(let id, let older):
            return (try await enquiries(id, unansweredOlder: older, call), .keepOpen)
        case .contactsExport(let limit, let after):
            return (try await contactsExport(limit: limit, after: after), .keepOpen)
        case .history(let id):
            return (try await history(id), .keepOpen)
        case .list(let filter, let limit, let after):
            return (try await list(filter, limit: limit, after: after, call), .keepOpen)
        case .count(let filter):
            return (try await count(filter, call), .keepOpen)
        case .stats(let query):
            return (try await stats(query, call), .keepOpen)
        case .subscribe(let filter, let since):
            return try await subscribe(filter, since: since, call, session: &session)
        case .unsubscribe:
            return try unsubscribe(session: &session)
        case .testNotice(let note):
            return (try await testNotice(note: note, call, session: session), .keepOpen)
        case .exchangeCreate(let name, let date, let phases, let note):
            return (try await createExchange(name, date: date, phases: phases, note: note, call, session: session), .keepOpen)
        case .exchangeAdd(let name, let phase, let ids):
            return (try await listOnExchange(name, phase: phase, ids: ids), .keepOpen)
        case .exchangeRemove(let name, let ids):
            return (try await removeFromExchange(name, ids: ids), .keepOpen)
        case .exchangeComplete(let name, let phase, let details):
            return (try await completePhase(name, phase: phase, details: details, call, session: session), .keepOpen)
        case .exchangeShow(let name):
            return (try await showExchange(name), .keepOpen)
        case .exchangeList:
            return (try await listExchanges(call), .keepOpen)
        case .importRows(let rows, let dryRun, let update):
            return (try await (update ? reviseRows(rows, dryRun: dryRun, call, session: session)
                                      : importRows(rows, dryRun: dryRun, call, session: session)), .keepOpen)
        case .match(let rows, let minimumScore, let limit):
            return (try await match(rows, minimumScore: minimumScore, limit: limit, call), .keepOpen)
        case .export(let filter, let limit, let after):
            return (try await export(filter, limit: limit, after: after, call), .keepOpen)
        case .backup(let path):
            return (try await backup(to: path, session: session), .keepOpen)
        case .verify(let kept):
            return (Replies.verified(try await store.verify(kept: kept)), .keepOpen)
        case .duplicates(let id, let minimumScore, let limit):
            return (try await duplicates(of: id, minimumScore: minimumScore, limit: limit), .keepOpen)
        case .merge(let source, let target, let prefer, let details, let expectVersion, let targetVersion):
            return (try await merge(source, into: target, prefer: prefer, details: details, expectVersion: expectVersion,
                                    targetVersion: targetVersion, call, session: session), .keepOpen)
        case .unmerge(let source, let details):
            return (try await unmerge(source, details: details, call, session: session), .keepOpen)
        case .notDuplicate(let a, let b, let note, let undo):
            return (try await notDuplicate(a, b, note: note, undo: undo, call, session: session), .keepOpen)
        }
    }

    private func hello(version: Int?, format: WireFormat?, session: inout Session) throws -> Reply {
        if let version, version != protocolVersion {
            throw CasetrackError(.unsupportedVersion, "this server speaks protocol \(protocolVersion), not \(version)")
        }
        if let format { session.format = format }
        var fields = greetingFields(for: session)
        fields.append("format", session.format.rawValue)
        return Reply(final: fields)
    }

    /// `not-permitted`, logged with who asked.
    private func refuse(_ command: Command?, role: Role?, session: inout Session) -> Reply {
        session.refusalsLogged += 1
        if session.refusalsLogged <= 10 {
            session.logger.notice("request refused", metadata: [
                "message_id": "\(MessageID.accessRefused)", "verb": "\(command?.verb.name ?? "-")",
                "role": "\(role?.rawValue ?? "none")", "needed": "\(command?.requiredRole.rawValue ?? "observer")",
                "listener": "\(session.listener)", "refusals": "\(session.refusalsLogged)",
            ])
        }
        guard let command, let role else {
            return Reply(error: CasetrackError(.notPermitted,
                "uid \(session.peer.uid) has no role on this daemon; an administrator can grant one (observers, readers, writers, admins in casetrackd.conf)"))
        }
        // The socket is to blame only when the peer's own role would do: a reader on the
        // read-only socket is a reader on every socket.
        let own = settings.snapshot.1.role(of: session.peer) ?? role
        let how = own >= command.requiredRole && session.cap < command.requiredRole
            ? "this socket (\(session.listener)) allows at most \(session.cap.rawValue); use the read-write socket"
            : "an administrator can grant it in casetrackd.conf"
        return Reply(error: CasetrackError(.notPermitted,
            "\(command.verb.name)\(command.requiredRole > command.verb.role ? " with these arguments" : "") needs the \(command.requiredRole.rawValue) role; this connection has \(role.rawValue) (\(how))"))
    }

    /// With `audit_reads`, who read which records.
    func audit(_ command: Command, reply: Reply, session: Session) {
        guard command.verb.readsRecords, case .success(let final) = reply.outcome else { return }
        // An export below the reader role carries no personal data: nothing to audit.
        if case .export = command, final.string("personal_data") != "yes" { return }
        let ids: [String]
        switch command {
        case .get(let id), .history(let id): ids = [id.description]
        case .duplicates: ids = reply.data.flatMap { [$0.string("a"), $0.string("b")].compactMap { $0 } }
        default: ids = reply.data.compactMap { $0.string("id") }
        }
        session.logger.notice("records read", metadata: [
            "message_id": "\(MessageID.recordsRead)", "verb": "\(command.verb.name)", "cases": "\(ids.joined(separator: ","))",
            "count": "\(ids.count)",
        ])
    }

    /// The error a client may see: our own errors as they are, anything else without detail.
    static func clientVisible(_ error: any Error) -> CasetrackError {
        if let error = error as? CasetrackError { return error }
        return CasetrackError(.internalError, "the server failed to answer; see its log")
    }
}
