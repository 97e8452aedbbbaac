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
        var bytes: [UInt8] = []
        write(format, into: &bytes)
        output += String(decoding: bytes, as: UTF8.self)
    }

    /// Appends every line of the answer as UTF-8, each ending in a line feed.
    public func write(_ format: WireFormat, into output: inout [UInt8]) {
        for fields in data {
            ResponseLine.data(fields).write(format, into: &output)
            output.append(UInt8(ascii: "\n"))
        }
        switch outcome {
        case .success(let fields): ResponseLine.ok(fields).write(format, into: &output)
        case .failure(let error): ResponseLine.error(error).write(format, into: &output)
        }
        output.append(UInt8(ascii: "\n"))
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
        var bytes: [UInt8] = []
        write(format, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the line as UTF-8, without its line feed.
    public func write(_ format: WireFormat, into output: inout [UInt8]) {
        func head(_ word: String) { output.append(contentsOf: word.utf8) }
        switch self {
        case .hello(let fields):
            head("HELLO ")
            fields.writeText(into: &output)
        case .data(let fields):
            head("D ")
            body(fields, format, into: &output)
        case .notice(let fields):
            head("N ")
            body(fields, format, into: &output)
        case .ok(let fields):
            if format == .text, fields.isEmpty { return head("OK") }
            head("OK ")
            body(fields, format, into: &output)
        case .error(let error), .bye(let error):
            if case .error = self { head("ERR ") } else { head("BYE ") }
            head(error.code.rawValue)
            head(" ")
            body(errorFields(error, format), format, into: &output)
        }
    }

    private func body(_ fields: Fields, _ format: WireFormat, into output: inout [UInt8]) {
        if format == .json { output.append(contentsOf: fields.json.utf8) } else { fields.writeText(into: &output) }
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
