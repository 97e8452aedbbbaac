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
    ///
    /// Works on the line's UTF-8 bytes: every delimiter is ASCII and a value is a slice of
    /// the line (copied only when it holds escapes), so a request or a stored list is read
    /// without decoding it scalar by scalar (that was a tenth of a point read's cost).
    public static func tokenize(_ line: String) throws -> [Token] {
        var line = line
        return try line.withUTF8 { bytes in
            var tokenizer = Tokenizer(bytes: bytes)
            return try tokenizer.tokens()
        }
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
        var value = value
        let quoted: String? = value.withUTF8 { bytes in
            guard bytes.isEmpty || Self.firstNotBareSafe(bytes) != nil else { return nil }
            var escaped: [UInt8] = []
            escaped.reserveCapacity(bytes.count + 8)
            appendQuoted(bytes, into: &escaped)
            return String(decoding: escaped, as: UTF8.self)
        }
        output += quoted ?? value
    }

    /// Appends the quoted form of `value` to `output`, as UTF-8.
    public static func quote(_ value: String, into output: inout [UInt8]) {
        var value = value
        value.withUTF8 { bytes in
            if bytes.isEmpty || Self.firstNotBareSafe(bytes) != nil {
                appendQuoted(bytes, into: &output)
            } else {
                output.append(contentsOf: bytes)
            }
        }
    }

    /// Appends `bytes` quoted and escaped. Runs of plain bytes are copied whole; only what
    /// needs an escape is decoded and written on its own (this runs for every field of every
    /// answer and import row that is not bare).
    private static func appendQuoted(_ bytes: UnsafeBufferPointer<UInt8>, into escaped: inout [UInt8]) {
        escaped.append(UInt8(ascii: "\""))
        var run = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            let escape: String?
            var length = 1
            switch byte {
            case UInt8(ascii: "\""): escape = "\\\""
            case UInt8(ascii: "\\"): escape = "\\\\"
            case 0x0A: escape = "\\n"
            case 0x09: escape = "\\t"
            case 0x0D: escape = "\\r"
            default:
                length = Self.scalarLength(byte)
                escape = Self.special(bytes, at: index).flatMap { $0 == " " ? nil : "\\u{" + String($0.value, radix: 16) + "}" }
            }
            if let escape {
                escaped += UnsafeBufferPointer(rebasing: bytes[run..<index])
                escaped += escape.utf8
                run = index + length
            }
            index += length
        }
        escaped += UnsafeBufferPointer(rebasing: bytes[run..<min(index, bytes.count)])
        escaped.append(UInt8(ascii: "\""))
    }

    /// Writes `key=value` with the value quoted as needed.
    public static func pair(_ key: String, _ value: String, into output: inout String) {
        output += key
        output += "="
        quote(value, into: &output)
    }

    /// Writes `key=value` with the value quoted as needed, as UTF-8.
    public static func pair(_ key: String, _ value: String, into output: inout [UInt8]) {
        output.append(contentsOf: key.utf8)
        output.append(UInt8(ascii: "="))
        quote(value, into: &output)
    }

    /// How many bytes the UTF-8 sequence that `lead` starts takes.
    static func scalarLength(_ lead: UInt8) -> Int {
        switch lead {
        case ..<0xC0: 1
        case ..<0xE0: 2
        case ..<0xF0: 3
        default: 4
        }
    }

    /// The scalar at `index` when it is a control character or white space (so never bare),
    /// else nil. Only a few lead bytes can start one: most text (Latin, Cyrillic) is passed
    /// over without decoding.
    static func special(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> Unicode.Scalar? {
        let byte = bytes[index]
        if byte < 0x80 {
            return byte < 0x20 || byte == 0x20 || byte == 0x7F ? Unicode.Scalar(byte) : nil
        }
        guard byte == 0xC2 || byte == 0xE1 || byte == 0xE2 || byte == 0xE3 else { return nil }
        let length = scalarLength(byte)
        guard index + length <= bytes.count else { return nil }
        var value = UInt32(byte) & (length == 2 ? 0x1F : 0x0F)
        for offset in 1..<length { value = value << 6 | UInt32(bytes[index + offset] & 0x3F) }
        guard let scalar = Unicode.Scalar(value), isControl(scalar) || isWhitespace(scalar) else { return nil }
        return scalar
    }

    /// The offset of the first byte that keeps `bytes` from being written bare, if any.
    static func firstNotBareSafe(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        // Every value of every answer passes here: one table look-up a byte, and a scalar
        // decoded only after the few lead bytes that can start white space or a control.
        bareClasses.withUnsafeBufferPointer { classes in
            for index in bytes.indices {
                switch classes[Int(bytes[index])] {
                case .bare: continue
                case .never: return index
                case .look: if special(bytes, at: index) != nil { return index }
                }
            }
            return nil
        }
    }

    enum BareClass: UInt8 {
        /// The byte never stops a value from being bare.
        case bare
        /// It always does: `"`, `\`, `=`, an ASCII control or space, DEL.
        case never
        /// It starts a scalar that may be white space or a control (``special(_:at:)``).
        case look
    }

    static let bareClasses: [BareClass] = (0...255).map { byte -> BareClass in
        switch byte {
        case 0x22, 0x5C, 0x3D, 0x00...0x20, 0x7F: .never
        case 0xC2, 0xE1, 0xE2, 0xE3: .look
        default: .bare
        }
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    /// Unicode's White_Space property, from its short fixed list: the property lookup is slow,
    /// and every scalar of every value passes here (a test compares it with the lookup).
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    static func hex(_ scalar: Unicode.Scalar) -> String {
        let digits = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
