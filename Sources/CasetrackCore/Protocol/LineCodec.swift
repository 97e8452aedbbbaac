/// One word of a request or answer line: a bare or quoted value, or `key=value`.
public enum Token: Hashable, Sendable {
    case value(String)
    case pair(key: String, value: String)
}

/// Splits lines into tokens and writes values so that they split back exactly.
///
/// Grammar (docs/PROTOCOL.md, "Lines"):
///
///     line    = token *( 1*WSP token )
///     token   = value / key "=" [ value ]
///     key     = ALPHA *( ALPHA / DIGIT / "_" / "-" )
///     value   = bare / quoted
///     bare    = 1*( any character but WSP, control, DQUOTE, "\" )
///     quoted  = DQUOTE *( any character but control, DQUOTE, "\" / escape ) DQUOTE
///     escape  = "\" ( DQUOTE / "\" / "n" / "t" / "r" / "u{" 1*6HEXDIG "}" )
///
/// Any Unicode text survives `quote` then `tokenize`: spaces, quotes, newlines, tabs, control
/// characters (as `\u{…}`) and every script.
public enum LineCodec {
    /// Splits a line (without its line feed) into tokens.
    public static func tokenize(_ line: String) throws -> [Token] {
        var tokens: [Token] = []
        let scalars = Array(line.unicodeScalars)
        var index = 0

        func fail(_ message: String) -> CasetrackError {
            CasetrackError(.badRequest, "\(message) at character \(index + 1)")
        }

        func readValue() throws -> String {
            if index < scalars.count, scalars[index] == "\"" { return try readQuoted() }
            var value = String.UnicodeScalarView()
            while index < scalars.count, !isSeparator(scalars[index]) {
                let scalar = scalars[index]
                if scalar == "\"" { throw fail("a quote may only open a value") }
                if scalar == "\\" { throw fail("a backslash is only allowed inside quotes") }
                if isControl(scalar) { throw fail("control character \(hex(scalar)); escape it inside quotes") }
                value.append(scalar)
                index += 1
            }
            return String(value)
        }

        func readQuoted() throws -> String {
            index += 1  // opening quote
            var value = String.UnicodeScalarView()
            while true {
                guard index < scalars.count else { throw fail("unterminated quoted value") }
                let scalar = scalars[index]
                index += 1
                switch scalar {
                case "\"":
                    if index < scalars.count, !isSeparator(scalars[index]) {
                        throw fail("a quoted value must be followed by a space or the end of the line")
                    }
                    return String(value)
                case "\\":
                    guard index < scalars.count else { throw fail("unterminated escape") }
                    let escaped = scalars[index]
                    index += 1
                    switch escaped {
                    case "\"": value.append("\"")
                    case "\\": value.append("\\")
                    case "n": value.append("\n")
                    case "t": value.append("\t")
                    case "r": value.append("\r")
                    case "u":
                        guard index < scalars.count, scalars[index] == "{" else { throw fail("expected { after \\u") }
                        index += 1
                        var digits = ""
                        while index < scalars.count, scalars[index] != "}", digits.count <= 6 {
                            digits.unicodeScalars.append(scalars[index])
                            index += 1
                        }
                        guard index < scalars.count, scalars[index] == "}", (1...6).contains(digits.count),
                              digits.unicodeScalars.allSatisfy(\.properties.isASCIIHexDigit),
                              let code = UInt32(digits, radix: 16), let decoded = Unicode.Scalar(code)
                        else { throw fail("bad \\u{…} escape: 1 to 6 hex digits naming a Unicode scalar") }
                        index += 1
                        value.append(decoded)
                    default:
                        throw fail("unknown escape \\\(escaped); use \\\" \\\\ \\n \\t \\r or \\u{…}")
                    }
                default:
                    if isControl(scalar) { throw fail("control character \(hex(scalar)) inside quotes; write it as \\u{…}") }
                    value.append(scalar)
                }
            }
        }

        while true {
            while index < scalars.count, isSeparator(scalars[index]) { index += 1 }
            guard index < scalars.count else { break }
            if scalars[index] == "\"" {
                tokens.append(.value(try readQuoted()))
                continue
            }
            // A bare word is a key when it starts with a letter and reaches `=` over key chars.
            var probe = index
            while probe < scalars.count, isKeyScalar(scalars[probe], first: probe == index) { probe += 1 }
            if probe > index, probe < scalars.count, scalars[probe] == "=" {
                let key = String(String.UnicodeScalarView(scalars[index..<probe]))
                index = probe + 1
                let value = index < scalars.count && !isSeparator(scalars[index]) ? try readValue() : ""
                tokens.append(.pair(key: key, value: value))
            } else {
                tokens.append(.value(try readValue()))
            }
        }
        return tokens
    }

    /// Writes a value so that ``tokenize(_:)`` reads it back unchanged: bare when that is
    /// unambiguous, quoted and escaped otherwise.
    public static func quote(_ value: String) -> String {
        var output = ""
        quote(value, into: &output)
        return output
    }

    /// Appends the quoted form of `value` to `output`.
    public static func quote(_ value: String, into output: inout String) {
        if !value.isEmpty, value.unicodeScalars.allSatisfy(isBareSafe) {
            output += value
            return
        }
        output += "\""
        // Runs of plain characters are copied whole; only what needs an escape is written on
        // its own (this runs for every field of every answer and import row).
        let scalars = value.unicodeScalars
        var run = scalars.startIndex
        var index = run
        while index != scalars.endIndex {
            let scalar = scalars[index]
            let escape: String?
            switch scalar {
            case "\"": escape = "\\\""
            case "\\": escape = "\\\\"
            case "\n": escape = "\\n"
            case "\t": escape = "\\t"
            case "\r": escape = "\\r"
            default:
                escape = isControl(scalar) || isWhitespace(scalar) && scalar != " "
                    ? "\\u{" + String(scalar.value, radix: 16) + "}" : nil
            }
            if let escape {
                output += Substring(scalars[run..<index])
                output += escape
                run = scalars.index(after: index)
            }
            index = scalars.index(after: index)
        }
        output += Substring(scalars[run..<index])
        output += "\""
    }

    /// Writes `key=value` with the value quoted as needed.
    public static func pair(_ key: String, _ value: String, into output: inout String) {
        output += key
        output += "="
        quote(value, into: &output)
    }

    static func isSeparator(_ scalar: Unicode.Scalar) -> Bool { scalar == " " || scalar == "\t" }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    static func isBareSafe(_ scalar: Unicode.Scalar) -> Bool {
        !(scalar == "\"" || scalar == "\\" || scalar == "=" || isControl(scalar) || isWhitespace(scalar))
    }

    /// Unicode's White_Space property, from its short fixed list: the property lookup is slow,
    /// and every scalar of every value passes here (a test compares it with the lookup).
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    static func isKeyScalar(_ scalar: Unicode.Scalar, first: Bool) -> Bool {
        let value = scalar.value
        let letter = (0x61...0x7A).contains(value) || (0x41...0x5A).contains(value)
        if first { return letter }
        return letter || (0x30...0x39).contains(value) || scalar == "_" || scalar == "-"
    }

    static func hex(_ scalar: Unicode.Scalar) -> String {
        let digits = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
