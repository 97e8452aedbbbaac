@testable import CasetrackCore

/// The line codec as it was first written, scalar by scalar: slow, but plainly the grammar.
/// ``LineCodec`` now works on UTF-8 bytes; the tests hold the two to the same tokens, the same
/// quoting and the same error messages.
enum ReferenceLineCodec {
    static func isSeparator(_ scalar: Unicode.Scalar) -> Bool { scalar == " " || scalar == "\t" }
    static func isControl(_ scalar: Unicode.Scalar) -> Bool { LineCodec.isControl(scalar) }
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool { LineCodec.isWhitespace(scalar) }
    static func hex(_ scalar: Unicode.Scalar) -> String { LineCodec.hex(scalar) }

    static func isBareSafe(_ scalar: Unicode.Scalar) -> Bool {
        !(scalar == "\"" || scalar == "\\" || scalar == "=" || isControl(scalar) || isWhitespace(scalar))
    }

    static func isKeyScalar(_ scalar: Unicode.Scalar, first: Bool) -> Bool {
        let value = scalar.value
        let letter = (0x61...0x7A).contains(value) || (0x41...0x5A).contains(value)
        if first { return letter }
        return letter || (0x30...0x39).contains(value) || scalar == "_" || scalar == "-"
    }

    /// Splits a line (without its line feed) into tokens.
    static func tokenize(_ line: String) throws -> [Token] {
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
    static func quote(_ value: String) -> String {
        var output = ""
        quote(value, into: &output)
        return output
    }

    /// Appends the quoted form of `value` to `output`.
    static func quote(_ value: String, into output: inout String) {
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
}
