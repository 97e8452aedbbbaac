import CasetrackCore

/// The complete answer to one request, as read from the wire.
public struct Answer: Sendable {
    /// The data lines (`D`), in order.
    public var data: [Fields]
    /// The final line: `OK` with its fields, or the error.
    public var outcome: Result<Fields, CasetrackError>

    /// The final fields, or the error thrown.
    public func get() throws -> Fields { try outcome.get() }
}

/// A client of casetrackd over its Unix socket.
///
/// One instance is one connection, used by one thread at a time. Requests may be pipelined
/// with ``send(_:)`` and answers collected in order with ``receive()``; ``request(_:)`` does
/// both for one request.
public final class CasetrackClient {
    private let connection: LineConnection
    /// The greeting's fields (`protocol`, `server`, `max_line`, `role`).
    public let greeting: Fields
    /// Notice lines that arrived while an answer was awaited, oldest first; ``nextNotice()``
    /// returns them before reading more.
    private var pendingNotices: [String] = []

    /// The socket a client uses when none is given: `$CASETRACK_SOCKET`, else the system path.
    public static func defaultSocketPath(environment: [String: String]) -> String {
        environment["CASETRACK_SOCKET"].flatMap { $0.isEmpty ? nil : $0 } ?? DaemonConfiguration().socketPath
    }

    /// Connects and checks that the daemon speaks this protocol version. With
    /// `timeoutMilliseconds`, every receive (the greeting too) gives up after that long.
    public init(socketPath: String, timeoutMilliseconds: Int? = nil) throws {
        connection = try LineConnection(socketPath: socketPath)
        if let timeoutMilliseconds { connection.setReceiveTimeout(milliseconds: timeoutMilliseconds) }
        guard let line = try connection.readLine() else {
            throw ClientError(.unreachable, "casetrackd closed the connection before greeting; it may be stopping")
        }
        // A daemon at its connection limit says so in its first and last line.
        if case .bye(let error)? = try? ResponseLine(text: line) { throw error }
        guard case .hello(let fields) = try? ResponseLine(text: line) else {
            throw ClientError(.protocolError, "\(socketPath) does not speak the casetrack protocol (first line: \(line.prefix(60)))")
        }
        guard fields.int("protocol") == Int64(protocolVersion) else {
            throw ClientError(.protocolError,
                "casetrackd speaks protocol \(fields.string("protocol") ?? "?"), this client \(protocolVersion)")
        }
        greeting = fields
    }

    /// When set, every write sent without a `request_id=` gets one: this for the first, then
    /// `base.2`, `base.3`… in order, so that the same sequence of writes sent again with the
    /// same base is recognised by the daemon and answered with the first answers.
    public var requestIDBase: String?
    private var writesNamed = 0
    /// How many answers were replayed (`replayed=yes`): the first answers of an earlier
    /// request with the same id, for which nothing was done now.
    public private(set) var replayedAnswers = 0

    private func named(_ request: Request) -> Request {
        // A dry run changes nothing and takes no id; `dry_run=no` (or false, 0) is a write.
        let dryRun = request.options.contains { $0.key == "dry_run" && !["no", "false", "0"].contains($0.value.lowercased()) }
        guard let base = requestIDBase, Verb.named(request.verb)?.writes == true, !dryRun,
              !request.options.contains(where: { $0.key == "request_id" })
        else { return request }
        writesNamed += 1
        var named = request
        named.options.append(("request_id", writesNamed == 1 ? base : "\(base).\(writesNamed)"))
        return named
    }

    /// Sends a request without waiting for its answer.
    public func send(_ request: Request) throws {
        try connection.send(named(request).line)
    }

    /// Sends several requests in one write, to pipeline them: their answers come back in
    /// order, one ``receive()`` each. (One write, not one per request: the socket's buffer
    /// counts every write's overhead, and thousands of tiny writes fill it long before their
    /// bytes would.)
    public func send(_ requests: [Request]) throws {
        guard !requests.isEmpty else { return }
        try connection.send(requests.map { named($0).line }.joined(separator: "\n"))
    }

    /// Reads the next complete answer.
    public func receive() throws -> Answer {
        var data: [Fields] = []
        while true {
            guard let line = try connection.readLine() else {
                throw ClientError(.connectionLost, "casetrackd closed the connection before answering")
            }
            switch try Self.parse(line) {
            case .data(let fields): data.append(fields)
            case .notice: pendingNotices.append(line)
            case .ok(let fields):
                if fields.string("replayed") == "yes" { replayedAnswers += 1 }
                return Answer(data: data, outcome: .success(fields))
            case .error(let error): return Answer(data: data, outcome: .failure(error))
            // A subscriber cut off (overflow, gap) may have had a request under way: its
            // outcome is unknown.
            case .bye(let error) where error.code == .overflow || error.code == .gap:
                throw ClientError(.connectionLost, "casetrackd closed the connection: \(error.message)")
            // Otherwise BYE comes only after every request the daemon read was answered: this
            // one was not read, so nothing was done.
            case .bye(let error): throw ClientError(.unreachable, "casetrackd closed the connection: \(error.message)")
            case .hello: throw ClientError(.protocolError, "unexpected second greeting")
            }
        }
    }

    /// Sends one request and returns its answer.
    public func request(_ request: Request) throws -> Answer {
        try send(request)
        return try receive()
    }

    // MARK: Notices

    /// What a subscribed connection receives between answers.
    public enum Incoming: Sendable {
        /// A notice, with the line as it came.
        case notice(Notice, line: String)
        /// The daemon's last line: shutting down, or `overflow` (the subscriber fell behind);
        /// `after=` in its details says where to resume.
        case bye(CasetrackError)
    }

    /// Subscribes this connection. Returns the `OK` fields: `after` (where the subscription
    /// starts: resume from here if nothing arrives) and `last` (the newest sequence number).
    @discardableResult
    public func subscribe(_ filter: NoticeFilter, since: Int64?) throws -> Fields {
        var options = filter.options
        if let since { options.append(("since", String(since))) }
        return try request(Request(verb: "SUBSCRIBE", options: options)).get()
    }

    /// The next notice or final line; `nil` when the daemon closed the connection. With a
    /// receive timeout set, throws ``ClientError/Code/timedOut`` when none came in time.
    public func nextNotice() throws -> Incoming? {
        let line: String
        if !pendingNotices.isEmpty {
            line = pendingNotices.removeFirst()
        } else {
            guard let read = try connection.readLine() else { return nil }
            line = read
        }
        switch try Self.parse(line) {
        case .notice(let fields): return .notice(try Notice(fields: fields), line: line)
        case .bye(let error): return .bye(error)
        default: throw ClientError(.protocolError, "unexpected line between notices: \(line.prefix(80))")
        }
    }

    /// One line from the daemon, or a protocol error naming it.
    private static func parse(_ line: String) throws -> ResponseLine {
        do {
            return try ResponseLine(text: line)
        } catch {
            throw ClientError(.protocolError, "unreadable line from casetrackd: \(line.prefix(80))")
        }
    }

    /// Makes ``nextNotice()`` give up after `milliseconds` (`nil`: wait for ever).
    public func setReceiveTimeout(milliseconds: Int?) {
        connection.setReceiveTimeout(milliseconds: milliseconds)
    }

    // MARK: Typed calls

    /// One case, or `nil` when there is none with that id.
    public func get(_ id: CaseID) throws -> CaseRecord? {
        let answer = try request(Request(verb: "GET", positional: [id.description]))
        if case .failure(let error) = answer.outcome, error.code == .notFound { return nil }
        _ = try answer.get()
        guard let fields = answer.data.first else { throw ClientError(.protocolError, "GET answered without a record") }
        return try CaseRecord(fields: fields)
    }

    /// A case's history, oldest first.
    public func history(_ id: CaseID) throws -> [HistoryEvent] {
        let answer = try request(Request(verb: "HISTORY", positional: [id.description]))
        _ = try answer.get()
        return try answer.data.map(HistoryEvent.init(fields:))
    }

    /// Every case matching `filter`, fetched page by page.
    public func list(_ filter: CaseFilter, pageSize: Int = Command.defaultPageSize) throws -> [CaseRecord] {
        var records: [CaseRecord] = []
        var after: String?
        repeat {
            var options = filter.fields.pairs
            options.append((key: "limit", value: String(pageSize)))
            if let after { options.append((key: "after", value: after)) }
            let answer = try request(Request(verb: "LIST", options: options))
            let final = try answer.get()
            records += try answer.data.map(CaseRecord.init(fields:))
            after = final.string("next")
        } while after != nil
        return records
    }

    /// How many cases match `filter`.
    public func count(_ filter: CaseFilter) throws -> Int {
        let answer = try request(Request(verb: "COUNT", options: filter.fields.pairs))
        guard let count = try answer.get().int("count") else { throw ClientError(.protocolError, "COUNT answered without count") }
        return Int(count)
    }
}

