@testable import CasetrackCore
import CasetrackTestSupport
import Testing

@Suite("Name words")
struct NameWordsTests {
    /// The table's fast path must give the words the character rule gives, whatever the text.
    /// Strings are drawn from scalars the table reads and scalars it must leave to the rule
    /// (combining accents, Cyrillic's combining marks, Greek, emoji with joiners, CR LF).
    @Test("splitting by the table agrees with splitting by characters")
    func agreesWithCharacters() {
        var random = SeededRandom(seed: 20261207)
        let pieces: [String] = [
            "Коваль", "Іваненко", "Ґудзь", "Мар'яна", "Мар’яна", "Ševčenko", "O'Neil", "ß", "Øster", " ", "  ", "-", ",", ".",
            "\t", "\r\n", "\n", "1", "42", "²", "½", "ʼ", "`", "‘", "ʹ", "\u{00AD}", "\u{00A0}", "Ѐ", "ѹ", "Ԫ", "\u{0482}",
            "e\u{0301}", "\u{0301}", "И\u{0306}", "\u{0483}", "а\u{0489}", "Ω", "λ", "中", "👩‍👩‍👧", "🇺🇦", "\u{200D}", "Å", "Ǆ",
        ]
        for _ in 0..<20_000 {
            var text = ""
            for _ in 0..<Int.random(in: 0...8, using: &random) { text += pieces[Int.random(in: pieces.indices, using: &random)] }
            #expect(NameWords.split(text) == NameWords.splitByCharacters(text), "\(text.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    /// What lets the table stand for characters: no scalar it reads joins a neighbour into one
    /// character (CR LF excepted, both separators).
    @Test("every scalar the table reads is a character of its own")
    func scalarsAreCharacters() {
        for (value, kind) in NameWords.scalarKinds.enumerated() where kind != .elsewhere {
            guard let scalar = Unicode.Scalar(value), value != 0x0D, value != 0x0A else { continue }
            for neighbour in ["a", "я", "1", " "] as [Unicode.Scalar] {
                var before = String.UnicodeScalarView(), after = String.UnicodeScalarView()
                before.append(contentsOf: [scalar, neighbour])
                after.append(contentsOf: [neighbour, scalar])
                #expect(String(before).count == 2 && String(after).count == 2, "U+\(String(value, radix: 16))")
            }
        }
        #expect(NameWords.splitSimple("Коваль Ґудзь-Олена") == ["Коваль", "Ґудзь", "Олена"])
        #expect(NameWords.splitSimple("Ковал\u{0301}ь") == nil)
    }
}

@Suite("Name folding's fast path")
struct NameFoldingFastPathTests {
    /// Words of ASCII, both cases of the Ukrainian and Russian alphabets, apostrophes, digits,
    /// the тс rule's neighbours, and scalars that must send the word the slow way.
    @Test("folding by the table agrees with folding by the rules")
    func agreesWithRules() {
        var random = SeededRandom(seed: 7)
        var alphabet: [String] = (0x41...0x5A).map { String(UnicodeScalar($0)!) } + (0x61...0x7A).map { String(UnicodeScalar($0)!) }
        alphabet += (0x400...0x45F).map { String(UnicodeScalar($0)!) } + ["Ґ", "ґ", "Ѡ", "ѡ", "Ҋ"]
        alphabet += ["т", "с", "Т", "С", "ь", "ъ", "'", "`", "’", "ʼ", "1", "-", "š", "Č", "ß", "e\u{0301}", "İ", "Σ", "sch", "shch", "ts"]
        for _ in 0..<50_000 {
            var word = ""
            for _ in 0..<Int.random(in: 0...10, using: &random) { word += alphabet[Int.random(in: alphabet.indices, using: &random)] }
            #expect(NameFolding.fold(word) == NameFolding.foldByRules(word), "\(word)")
        }
        #expect(NameFolding.fold("Братський") == "bracki")
        #expect(NameFolding.fold("Шевченко") == NameFolding.fold("Schewtschenko"))
    }
}

@Suite("Unit and number keys' fast paths")
struct IdentityKeyFastPathTests {
    /// ASCII takes the byte path; anything else the rule as written. Both must agree on text
    /// that mixes ASCII with what only the rule handles.
    @Test("unit and service keys by bytes agree with the rules")
    func agreesWithRules() {
        var random = SeededRandom(seed: 11)
        let pieces = ["12th", "Brigade", "brigade", " ", "  ", "-", "/", ".", "\t", "\n", "\u{0B}", "\u{0C}", "\r", "_", "#", "a", "Z",
                      "0", "9", "~", "АА", "аа", "Х", "ß", "é", "\u{00A0}", "\u{2009}", "Ⅻ", "²", "ǅ", "İ"]
        for _ in 0..<30_000 {
            var text = ""
            for _ in 0..<Int.random(in: 0...7, using: &random) { text += pieces[Int.random(in: pieces.indices, using: &random)] }
            #expect(Identity.unitKey(text) == Identity.unitKeyByRules(text), "\(text.unicodeScalars.map { String($0.value, radix: 16) })")
            #expect(Identity.serviceKey(text) == Identity.serviceKeyByRules(text), "\(text.unicodeScalars.map { String($0.value, radix: 16) })")
        }
        #expect(Identity.unitKey("  12th  Brigade-3 ") == "12th brigade 3")
        #expect(Identity.serviceKey("aa 123-45/6.7") == "AA1234567")
    }
}
