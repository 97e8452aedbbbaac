/// A request line split into its verb, positional values and `key=value` options.
public struct Request: Hashable, Sendable {
    /// The verb, upper-cased.
    public var verb: String
    public var positional: [String]
    /// Options in the order given; keys lower-cased, `-` read as `_`.
    public var options: [(key: String, value: String)]

    public init(verb: String, positional: [String] = [], options: [(key: String, value: String)] = []) {
        self.verb = verb.uppercased()
        self.positional = positional
        self.options = options
    }

    public static func == (lhs: Request, rhs: Request) -> Bool {
        lhs.verb == rhs.verb && lhs.positional == rhs.positional
            && lhs.options.map(\.key) == rhs.options.map(\.key) && lhs.options.map(\.value) == rhs.options.map(\.value)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(verb)
        hasher.combine(positional)
        for option in options {
            hasher.combine(option.key)
            hasher.combine(option.value)
        }
    }

    /// Parses one line (UTF-8 already checked, line feed removed).
    public init(line: String) throws {
        let tokens = try LineCodec.tokenize(line)
        guard let first = tokens.first else { throw CasetrackError(.badRequest, "empty line; send a verb, e.g. HELLO") }
        // A verb is a word of letters, digits and hyphens, even when quoted: anything else
        // could not be written back as the same request.
        guard case .value(let verb) = first, let head = verb.unicodeScalars.first, head.isASCII, head.properties.isAlphabetic,
              verb.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") })
        else {
            throw CasetrackError(.badRequest, "a line must start with a verb (letters, digits, -), e.g. GET C-000001")
        }
        self.init(verb: verb)
        for token in tokens.dropFirst() {
            switch token {
            case .value(let value): positional.append(value)
            case .pair(let key, let value): options.append((Request.normalize(key), value))
            }
        }
    }

    /// The line that ``init(line:)`` reads back as this request.
    public var line: String {
        var output = verb
        for value in positional {
            output += " "
            LineCodec.quote(value, into: &output)
        }
        for option in options {
            output += " "
            LineCodec.pair(option.key, option.value, into: &output)
        }
        return output
    }

    static func normalize(_ key: String) -> String {
        String(key.lowercased().map { $0 == "-" ? "_" : $0 })
    }
}
