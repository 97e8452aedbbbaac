/// How a connection wants its answers: `key=value` text (the default) or JSON objects.
public enum WireFormat: String, Sendable, CaseIterable {
    case text, json
}

/// The version of the line protocol this code speaks (docs/PROTOCOL.md).
public let protocolVersion = 1

/// The complete answer to one request: zero or more data lines, then exactly one final line.
public struct Reply: Sendable {
    public var data: [Fields]
    public var outcome: Result<Fields, CasetrackError>
    /// The answer to a write that was committed: it is sent whatever its size (a client told
    /// "answer too large" would believe nothing was done).
    public var acknowledgesWrite = false

    public init(data: [Fields] = [], final: Fields = Fields()) {
        self.data = data
        self.outcome = .success(final)
    }

    public init(error: CasetrackError) {
        self.data = []
        self.outcome = .failure(error)
    }

    /// Appends every line of the answer, each ending in a line feed.
    public func write(_ format: WireFormat, into output: inout String) {
        for fields in data {
            output += ResponseLine.data(fields).encoded(format)
            output += "\n"
        }
        switch outcome {
        case .success(let fields): output += ResponseLine.ok(fields).encoded(format)
        case .failure(let error): output += ResponseLine.error(error).encoded(format)
        }
        output += "\n"
    }
}

/// One line the server sends. The first word says what it is, in every format:
///
/// - `HELLO` the greeting, once, first;
/// - `D` a data line, part of an answer;
/// - `OK` / `ERR code` the final line of an answer;
/// - `N` a notice, which may arrive between answers (never inside one);
/// - `BYE code` the last line before the server closes the connection.
public enum ResponseLine: Hashable, Sendable {
    case hello(Fields)
    case data(Fields)
    case ok(Fields)
    case error(CasetrackError)
    case notice(Fields)
    case bye(CasetrackError)

    public func encoded(_ format: WireFormat) -> String {
        switch self {
        case .hello(let fields): return "HELLO " + fields.text
        case .data(let fields): return "D " + body(fields, format)
        case .notice(let fields): return "N " + body(fields, format)
        case .ok(let fields):
            if format == .text, fields.isEmpty { return "OK" }
            return "OK " + body(fields, format)
        case .error(let error): return "ERR " + error.code.rawValue + " " + body(errorFields(error, format), format)
        case .bye(let error): return "BYE " + error.code.rawValue + " " + body(errorFields(error, format), format)
        }
    }

    private func body(_ fields: Fields, _ format: WireFormat) -> String {
        format == .json ? fields.json : fields.text
    }

    private func errorFields(_ error: CasetrackError, _ format: WireFormat) -> Fields {
        var fields = Fields()
        // Text mode already has the code as the second word; a JSON object carries it inside.
        if format == .json { fields.append("code", error.code.rawValue) }
        for item in error.details.items { fields.append(item.key, item.value) }
        fields.append("message", error.message)
        return fields
    }

    /// Reads a text-mode line.
    public init(text line: String) throws {
        let (head, rest) = line.firstWordSplit()
        switch head {
        case "HELLO": self = .hello(try Fields(text: rest))
        case "D": self = .data(try Fields(text: rest))
        case "N": self = .notice(try Fields(text: rest))
        case "OK": self = .ok(try Fields(text: rest))
        case "ERR", "BYE":
            let (code, body) = rest.firstWordSplit()
            let fields = try Fields(text: body)
            var details = Fields()
            for item in fields.items where item.key != "message" { details.append(item.key, item.value) }
            let error = CasetrackError(.init(code), fields.string("message") ?? "", details: details)
            self = head == "ERR" ? .error(error) : .bye(error)
        default:
            throw CasetrackError(.badResponse, "unexpected line from server: \(line.prefix(80))")
        }
    }

    /// Whether this line ends an answer.
    public var isFinal: Bool {
        switch self {
        case .ok, .error: return true
        default: return false
        }
    }
}

extension String {
    func firstWordSplit() -> (String, String) {
        guard let space = firstIndex(of: " ") else { return (self, "") }
        return (String(self[..<space]), String(self[index(after: space)...]))
    }
}
