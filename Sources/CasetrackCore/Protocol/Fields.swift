/// A value in an answer: text, a whole number, or a list of texts.
public enum FieldValue: Hashable, Sendable {
    case string(String)
    case int(Int64)
    case list([String])
}

/// The ordered key/value content of one answer or notice line.
///
/// One structure, two encodings: text mode writes `key=value` tokens (a list as the same key
/// repeated), JSON mode writes one object (a list as an array). Records are converted to and
/// from `Fields` in one place each, so both modes always carry the same data.
public struct Fields: Hashable, Sendable, ExpressibleByDictionaryLiteral {
    public private(set) var items: [(key: String, value: FieldValue)]

    public init() { items = [] }

    /// Room for `capacity` items without growing (a record fills about twenty).
    public init(reservingCapacity capacity: Int) {
        items = []
        items.reserveCapacity(capacity)
    }

    public init(dictionaryLiteral elements: (String, FieldValue)...) {
        items = elements.map { (key: $0.0, value: $0.1) }
    }

    public static func == (lhs: Fields, rhs: Fields) -> Bool {
        lhs.items.count == rhs.items.count && zip(lhs.items, rhs.items).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for item in items {
            hasher.combine(item.key)
            hasher.combine(item.value)
        }
    }

    public var isEmpty: Bool { items.isEmpty }

    public mutating func append(_ key: String, _ value: FieldValue) { items.append((key, value)) }

    public mutating func append(_ key: String, _ value: String?) {
        if let value { items.append((key, .string(value))) }
    }

    public mutating func append(_ key: String, _ value: Int64) { items.append((key, .int(value))) }

    public mutating func append(_ key: String, _ value: Int) { items.append((key, .int(Int64(value)))) }

    /// Appends a list; in text mode an empty list writes nothing, in JSON `[]`.
    public mutating func append(_ key: String, list: [String]) { items.append((key, .list(list))) }

    /// The first value of `key` as text (numbers are written in decimal).
    public func string(_ key: String) -> String? {
        for item in items where item.key == key {
            switch item.value {
            case .string(let value): return value
            case .int(let value): return String(value)
            case .list(let values): return values.first
            }
        }
        return nil
    }

    /// Every value given for `key`: a list's elements, or repeated text values.
    public func strings(_ key: String) -> [String] {
        items.filter { $0.key == key }.flatMap { item -> [String] in
            switch item.value {
            case .string(let value): return [value]
            case .int(let value): return [String(value)]
            case .list(let values): return values
            }
        }
    }

    /// The keys, in order, each once.
    public var keys: [String] {
        var seen = Set<String>()
        return items.map(\.0).filter { seen.insert($0).inserted }
    }

    public func int(_ key: String) -> Int64? { string(key).flatMap { Int64($0) } }

    /// Every value as a `(key, text)` pair, lists spread into repeated keys: the form request
    /// options take.
    public var pairs: [(key: String, value: String)] {
        items.flatMap { item -> [(key: String, value: String)] in
            switch item.value {
            case .string(let value): return [(item.key, value)]
            case .int(let value): return [(item.key, String(value))]
            case .list(let values): return values.map { (item.key, $0) }
            }
        }
    }

    /// `key=value` tokens separated by single spaces.
    public var text: String {
        var output: [UInt8] = []
        output.reserveCapacity(items.count * 24)
        writeText(into: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// Appends ``text`` as UTF-8: answers are written this way, straight into the bytes that
    /// go to the socket (through `String` appends, rendering was a third of a GET's cost).
    public func writeText(into output: inout [UInt8]) {
        var first = true
        func separate(_ output: inout [UInt8]) {
            if first { first = false } else { output.append(UInt8(ascii: " ")) }
        }
        for item in items {
            switch item.value {
            case .string(let value):
                separate(&output)
                LineCodec.pair(item.key, value, into: &output)
            case .int(let value):
                separate(&output)
                output.append(contentsOf: item.key.utf8)
                output.append(UInt8(ascii: "="))
                Self.writeDecimal(value, into: &output)
            case .list(let values):
                for value in values {
                    separate(&output)
                    LineCodec.pair(item.key, value, into: &output)
                }
            }
        }
    }

    /// Appends `value` in decimal, as `String(value)` writes it.
    static func writeDecimal(_ value: Int64, into output: inout [UInt8]) {
        if value < 0 { output.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        // Room for the 20 digits of any UInt64, written from the end.
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { buffer in
            var start = buffer.count
            repeat {
                start -= 1
                buffer[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            output.append(contentsOf: buffer[start...])
        }
    }

    /// One JSON object on one line. Keys that repeat are gathered into one array.
    public var json: String {
        var output = "{"
        // Linear in the line: `output.count` (grapheme clusters, counted from the start) and a
        // filter over every item per key made a page of long records quadratic, on the loop.
        var repeats: [String: Int] = [:]
        for item in items { repeats[item.key, default: 0] += 1 }
        var written = Set<String>()
        for item in items where written.insert(item.key).inserted {
            if written.count > 1 { output += "," }
            JSON.string(item.key, into: &output)
            output += ":"
            if repeats[item.key, default: 0] > 1 {
                JSON.array(strings(item.key), into: &output)
                continue
            }
            switch item.value {
            case .string(let value): JSON.string(value, into: &output)
            case .int(let value): output += String(value)
            case .list(let values): JSON.array(values, into: &output)
            }
        }
        return output + "}"
    }

    /// Reads the text form back. Every value comes back as text; repeated keys stay repeated.
    public init(text: String) throws {
        self.init()
        for token in try LineCodec.tokenize(text) {
            guard case .pair(let key, let value) = token else {
                throw CasetrackError(.badRequest, "expected key=value, found a bare value")
            }
            append(key, .string(value))
        }
    }
}

/// The little JSON that answers need: strings, numbers and arrays of strings, always on one
/// line (control characters, U+2028 and U+2029 escaped).
public enum JSON {
    public static func string(_ value: String, into output: inout String) {
        output += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\t": output += "\\t"
            case "\r": output += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || scalar.value == 0x2028 || scalar.value == 0x2029 {
                    let digits = String(scalar.value, radix: 16)
                    output += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
        }
        output += "\""
    }

    public static func array(_ values: [String], into output: inout String) {
        output += "["
        for (index, value) in values.enumerated() {
            if index > 0 { output += "," }
            string(value, into: &output)
        }
        output += "]"
    }
}
