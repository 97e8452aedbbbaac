/// Reads the tokens of one line from its UTF-8 bytes (``LineCodec/tokenize(_:)``; the grammar
/// is there).
///
/// Every delimiter is ASCII, so the line is scanned byte by byte and a value is cut from it
/// as a slice; only a quoted value with escapes is assembled. An error names the position as
/// a count of Unicode scalars ("at character N"), as a person counts, not as bytes.
struct Tokenizer {
    let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    /// A quoted value with escapes, as it is assembled.
    private var scratch: [UInt8] = []

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func tokens() throws -> [Token] {
        var tokens: [Token] = []
        while true {
            while index < bytes.count, isSeparator(bytes[index]) { index += 1 }
            guard index < bytes.count else { break }
            if bytes[index] == quote {
                tokens.append(.value(try readQuoted()))
                continue
            }
            // A bare word is a key when it starts with a letter and reaches `=` over key chars.
            var probe = index
            while probe < bytes.count, Self.isKeyByte(bytes[probe], first: probe == index) { probe += 1 }
            if probe > index, probe < bytes.count, bytes[probe] == UInt8(ascii: "=") {
                let key = text(index..<probe)
                index = probe + 1
                let value = index < bytes.count && !isSeparator(bytes[index]) ? try readValue() : ""
                tokens.append(.pair(key: key, value: value))
            } else {
                tokens.append(.value(try readValue()))
            }
        }
        return tokens
    }

    private let quote = UInt8(ascii: "\"")
    private let backslash = UInt8(ascii: "\\")

    private func isSeparator(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

    private func text(_ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// The control character starting at `index`, if one does (ASCII, C1, U+2028, U+2029).
    private func control(at index: Int) -> Unicode.Scalar? {
        guard let scalar = LineCodec.special(bytes, at: index), LineCodec.isControl(scalar) else { return nil }
        return scalar
    }

    private func fail(_ message: String) -> CasetrackError {
        // Scalars before the position: every byte that does not continue a sequence.
        let scalars = bytes[..<min(index, bytes.count)].reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
        return CasetrackError(.badRequest, "\(message) at character \(scalars + 1)")
    }

    private mutating func readValue() throws -> String {
        if index < bytes.count, bytes[index] == quote { return try readQuoted() }
        let start = index
        while index < bytes.count, !isSeparator(bytes[index]) {
            let byte = bytes[index]
            if byte == quote { throw fail("a quote may only open a value") }
            if byte == backslash { throw fail("a backslash is only allowed inside quotes") }
            if let scalar = control(at: index) {
                throw fail("control character \(LineCodec.hex(scalar)); escape it inside quotes")
            }
            index += LineCodec.scalarLength(byte)
        }
        index = min(index, bytes.count)
        return text(start..<index)
    }

    private mutating func readQuoted() throws -> String {
        index += 1  // opening quote
        var run = index
        scratch.removeAll(keepingCapacity: true)
        var escaped = false
        while true {
            guard index < bytes.count else { throw fail("unterminated quoted value") }
            let byte = bytes[index]
            if byte == quote {
                let end = index
                index += 1
                if index < bytes.count, !isSeparator(bytes[index]) {
                    throw fail("a quoted value must be followed by a space or the end of the line")
                }
                guard escaped else { return text(run..<end) }
                scratch += UnsafeBufferPointer(rebasing: bytes[run..<end])
                return String(decoding: scratch, as: UTF8.self)
            }
            if byte == backslash {
                scratch += UnsafeBufferPointer(rebasing: bytes[run..<index])
                escaped = true
                index += 1
                try readEscape()
                run = index
                continue
            }
            let length = LineCodec.scalarLength(byte)
            if let scalar = control(at: index) {
                index += length
                throw fail("control character \(LineCodec.hex(scalar)) inside quotes; write it as \\u{…}")
            }
            index += length
        }
    }

    /// Reads what follows a backslash (at `index`) into `scratch`.
    private mutating func readEscape() throws {
        guard index < bytes.count else { throw fail("unterminated escape") }
        let byte = bytes[index]
        let length = LineCodec.scalarLength(byte)
        index += length
        switch byte {
        case quote, backslash: scratch.append(byte)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "u"):
            guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { throw fail("expected { after \\u") }
            index += 1
            // Characters are taken until the brace or a seventh, then checked: the position a
            // bad escape names is where the taking stopped (counted in characters, as people
            // see them, so a combining mark does not count on its own).
            let start = index
            var taken = ""
            while index < bytes.count, bytes[index] != UInt8(ascii: "}"), taken.count <= 6 {
                let length = LineCodec.scalarLength(bytes[index])
                taken += text(index..<min(index + length, bytes.count))
                index += length
            }
            index = min(index, bytes.count)
            let digits = bytes[start..<index]
            guard index < bytes.count, bytes[index] == UInt8(ascii: "}"), (1...6).contains(digits.count),
                  digits.allSatisfy({ Self.isHexDigit($0) }),
                  let code = UInt32(text(start..<index), radix: 16), let decoded = Unicode.Scalar(code)
            else { throw fail("bad \\u{…} escape: 1 to 6 hex digits naming a Unicode scalar") }
            index += 1
            scratch += UTF8.encode(decoded).map(Array.init) ?? []
        default:
            let escaped = text(index - length..<min(index, bytes.count))
            throw fail("unknown escape \\\(escaped); use \\\" \\\\ \\n \\t \\r or \\u{…}")
        }
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte)
    }

    private static func isKeyByte(_ byte: UInt8, first: Bool) -> Bool {
        let letter = (0x61...0x7A).contains(byte) || (0x41...0x5A).contains(byte)
        if first { return letter }
        return letter || (0x30...0x39).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
    }
}
