@testable import CasetrackCore
import Foundation
import CasetrackTestSupport
import Testing

@Suite("Line codec")
struct LineCodecTests {
    /// Characters chosen to break naive codecs: separators, quotes, escapes, line breaks,
    /// controls, `=`, non-ASCII letters, combining marks, emoji, Unicode line separators.
    static let alphabet: [Character] = [
        "a", "Z", "0", " ", "\t", "\n", "\r", "\r\n", "\"", "\\", "=", "'", "{", "}", "\u{0}", "\u{1}", "\u{7F}",
        "\u{85}", "\u{A0}", "\u{2028}", "\u{2029}", "Ї", "щ", "ґ", "é", "e\u{301}", "🇺🇦", "😀", "#", "u", "n",
    ]

    static func randomString(_ random: inout SeededRandom) -> String {
        String((0..<Int.random(in: 0...24, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
    }

    @Test("the fast white-space and composed-form checks agree with Unicode's own, for every scalar")
    func unicodeShortcuts() {
        var wrong: [UInt32] = []
        for value in UInt32(0)...0x10FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            if LineCodec.isWhitespace(scalar) != scalar.properties.isWhitespace { wrong.append(value) }
        }
        #expect(wrong.isEmpty, "\(wrong.prefix(10))")
        // The composed-form shortcut: a text it leaves alone is already NFC.
        for text in ["Ковальчук Юлія", "Zgurskyi Yuliia", "Йосип Ёлкін", "café", "cafe\u{301}", "Й"] {
            #expect(text.composed == text.precomposedStringWithCanonicalMapping, "\(text)")
        }
    }

    @Test("any value survives quote then tokenize, alone, as a key's value and among others")
    func roundTrip() throws {
        var random = SeededRandom(seed: 1)
        for _ in 0..<5_000 {
            let value = Self.randomString(&random)
            let other = Self.randomString(&random)
            let line = "VERB " + LineCodec.quote(value) + " key=" + LineCodec.quote(other) + "\t" + LineCodec.quote(value)
            let tokens = try LineCodec.tokenize(line)
            // Compared scalar by scalar: String == would forgive a codec that changed composed
            // into decomposed text.
            let scalars = tokens.map { token -> [Unicode.Scalar] in
                switch token {
                case .value(let text): return Array(text.unicodeScalars)
                case .pair(let key, let text): return Array((key + "=" + text).unicodeScalars)
                }
            }
            #expect(scalars == [Array("VERB".unicodeScalars), Array(value.unicodeScalars),
                                Array(("key=" + other).unicodeScalars), Array(value.unicodeScalars)],
                    "line: \(line.debugDescription)")
            #expect(!line.contains("\n") && !line.contains("\r"), "a quoted value never breaks the line")
        }
    }

    @Test("the byte-level codec quotes and splits exactly as the scalar-level reference")
    func sameAsReference() throws {
        // Every scalar, alone and inside a word.
        for value in UInt32(0)...0x10FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            for text in [String(scalar), "a" + String(scalar) + "b"] {
                let reference = ReferenceLineCodec.quote(text)
                #expect(LineCodec.quote(text) == reference, "U+\(String(value, radix: 16))")
                // Answers are written as bytes: the same quoting.
                var bytes: [UInt8] = [0x41]
                LineCodec.quote(text, into: &bytes)
                #expect(bytes.elementsEqual(("A" + reference).utf8), "U+\(String(value, radix: 16)) as bytes")
            }
        }
        // Random lines, well formed or not: the same tokens, or the same error message.
        var random = SeededRandom(seed: 3)
        let pieces = Self.alphabet.map(String.init) + ["\"\\u{", "}", "\\u{41}", "\\u{1F600}", "\\q", "k=", "\\", "ab"]
        var compared = 0, failed = 0
        for _ in 0..<20_000 {
            let line = (0..<Int.random(in: 0...12, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
            let reference = Result { try ReferenceLineCodec.tokenize(line) }
            let tokens = Result { try LineCodec.tokenize(line) }
            switch (reference, tokens) {
            case (.success(let expected), .success(let got)):
                #expect(got.map(Self.scalars) == expected.map(Self.scalars), "line: \(line.debugDescription)")
            case (.failure(let expected), .failure(let got)):
                failed += 1
                #expect("\(got)" == "\(expected)", "line: \(line.debugDescription)")
            default:
                Issue.record("line \(line.debugDescription): reference \(reference), byte-level \(tokens)")
            }
            compared += 1
        }
        // Both kinds were exercised.
        #expect(failed > 1_000 && failed < compared - 1_000, "\(failed) of \(compared) refused")
    }

    static func scalars(_ token: Token) -> [Unicode.Scalar] {
        switch token {
        case .value(let text): Array(("v:" + text).unicodeScalars)
        case .pair(let key, let text): Array(("p:" + key + "=" + text).unicodeScalars)
        }
    }

    @Test("requests survive line then parse")
    func requestRoundTrip() throws {
        var random = SeededRandom(seed: 2)
        for _ in 0..<2_000 {
            let positional = (0..<Int.random(in: 0...3, using: &random)).map { _ in Self.randomString(&random) }
            let options = (0..<Int.random(in: 0...3, using: &random)).map { index in
                (key: "k\(index)", value: Self.randomString(&random))
            }
            let request = Request(verb: "SET-STATUS", positional: positional, options: options)
            #expect(try Request(line: request.line) == request, "line: \(request.line.debugDescription)")
        }
    }

    @Test("bare words need no quotes", arguments: ["C-000001", "Іваненко", "2022-05-20", "a/b:c", "8y"])
    func bare(_ value: String) {
        #expect(LineCodec.quote(value) == value)
    }

    @Test("empty values and values with separators are quoted", arguments: ["", "a b", "a=b", "a\"b", "a\\b", "x\u{A0}y"])
    func quoted(_ value: String) {
        #expect(LineCodec.quote(value).hasPrefix("\""))
    }

    @Test("escapes decode", arguments: [
        (#"V "a\"b""#, "a\"b"), (#"V "a\\b""#, "a\\b"), (#"V "a\nb""#, "a\nb"), (#"V "a\tb""#, "a\tb"),
        (#"V "a\rb""#, "a\rb"), (#"V "\u{416}""#, "Ж"), (#"V "\u{1F600}""#, "😀"), (#"V """#, ""),
    ])
    func escapes(_ line: String, _ expected: String) throws {
        #expect(try LineCodec.tokenize(line) == [.value("V"), .value(expected)])
    }

    @Test("key=value pairs, empty values and values with = inside")
    func pairs() throws {
        #expect(try LineCodec.tokenize("V a= b=c=d c-d=\"x y\"") ==
                [.value("V"), .pair(key: "a", value: ""), .pair(key: "b", value: "c=d"), .pair(key: "c-d", value: "x y")])
        #expect(try LineCodec.tokenize("  V   x  ") == [.value("V"), .value("x")])
        #expect(try LineCodec.tokenize("") == [])
    }

    @Test("malformed lines are refused with a position", arguments: [
        "V \"abc", "V \"a\\", "V \"a\\q\"", "V \"\\u{}\"", "V \"\\u{110000}\"", "V \"\\u{D800}\"", "V \"\\u{1234567}\"",
        "V \"\\u1234\"", "V \"\\u{+41}\"", "V \"\\u{-1}\"", "V a\"b", "V \"a\"b", "V a\\b", "V a\u{1}b", "V \"a\u{7}b\"", "V \"a\nb\"", "V k=\"a\"b",
    ])
    func malformed(_ line: String) {
        #expect {
            try LineCodec.tokenize(line)
        } throws: { error in
            guard let error = error as? CasetrackError else { return false }
            return error.code == .badRequest && error.message.contains("at character")
        }
    }
}
