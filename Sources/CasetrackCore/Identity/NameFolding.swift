/// One skeleton for every spelling of a name word, for duplicate detection.
///
/// The same person reaches the office as `Шевченко`, `Shevchenko` (passport, BGN), `Ševčenko`
/// (scholarly), `Sevcenko` (the same with its accents lost), `Schewtschenko` (German) and
/// `Szewczenko` (Polish); all fold to `sevcenko`. The skeleton keeps the letters every spelling
/// agrees on and merges the sounds they write differently:
///
/// - `г ґ х`, `h g kh gh` → `h` (Ukrainian г is h, Russian and older spellings write g);
/// - `с з ш ж`, `s z sh zh š ž sz sch` → `s` (accents get lost, German writes з as s and ж
///   as sh);
/// - `ц ч`, `ts c ch č cz tsch tz` → `c` (ч and ц merge for the same reasons);
/// - `щ`, `shch šč ŝ szcz schtsch` → `sc`;
/// - `и і ї й`, `y i j` → `i`; a doubled letter → one; the glide `i` before a vowel goes
///   (`Yuliia`, `Yulia`, `Julia`, `Юлія` → `ula`; `Hryhorii`, `Hryhoriy`, `Grigorij` → `hrihori`).
///
/// It is coarser than ``NameKey`` (the search keys), because here other evidence (birth,
/// unit, dates) decides; and it is never shown to anyone. What it cannot fold (German `ch` for
/// х, German `z` for ц, a typing error) is left to the one-letter tolerance of
/// ``DuplicateScoring``.
public enum NameFolding {
    /// The skeleton of one word: lowercase ASCII, possibly empty (a word with no letters).
    public static func fold(_ word: some StringProtocol) -> String {
        var skeleton: [UInt8] = []
        var latin: [UInt8] = []
        if !foldPlain(word, into: &skeleton, latin: &latin) {
            skeleton.removeAll()
            latin.removeAll()
            foldAny(word, into: &skeleton, latin: &latin)
        }
        return finish(&skeleton, latin: &latin)
    }

    /// ``fold(_:)`` without its fast path, for the test that both agree.
    static func foldByRules(_ word: some StringProtocol) -> String {
        var skeleton: [UInt8] = []
        var latin: [UInt8] = []
        foldAny(word, into: &skeleton, latin: &latin)
        return finish(&skeleton, latin: &latin)
    }

    private static func finish(_ skeleton: inout [UInt8], latin: inout [UInt8]) -> String {
        appendLatin(&latin, to: &skeleton)
        return NameWords.withoutDoublesAndGlides(skeleton)
    }

    /// ``foldAny(_:into:latin:)`` for a word of ASCII and the Ukrainian and Russian alphabets,
    /// the words nearly every name has, without lowercasing a copy or hashing each letter:
    /// those were most of the cost of folding, and folding most of preparing an identity.
    /// Returns false, having folded part of it, at the first scalar outside them.
    private static func foldPlain(_ word: some StringProtocol, into skeleton: inout [UInt8], latin: inout [UInt8]) -> Bool {
        var previousCyrillic: UInt32 = 0
        for scalar in word.unicodeScalars {
            var value = scalar.value
            if value < 0x80 {
                if value >= 0x41, value <= 0x5A { value += 0x20 }
                if value >= 0x61, value <= 0x7A {
                    latin.append(UInt8(value))
                    previousCyrillic = 0
                }
                // Apostrophes, digits and the rest add nothing and, as in foldAny, leave the
                // letter before them as the previous one.
                continue
            }
            // Capitals to small letters: А-Я, then Ѐ-Џ, then Ґ.
            if value >= 0x410, value <= 0x42F { value += 0x20 } else if value >= 0x400, value <= 0x40F { value += 0x50 } else if value == 0x490 { value = 0x491 }
            guard value >= plainCyrillicBase, value < plainCyrillicBase + UInt32(plainCyrillic.count) else { return false }
            guard let mapped = plainCyrillic[Int(value - plainCyrillicBase)] else { continue }
            appendLatin(&latin, to: &skeleton)
            if value == 0x441, previousCyrillic == 0x442 {
                // тс: see foldAny.
                skeleton.removeLast()
                skeleton.append(UInt8(ascii: "c"))
            } else {
                skeleton.append(contentsOf: mapped)
            }
            if value != 0x44C { previousCyrillic = value }
        }
        return true
    }

    private static let plainCyrillicBase: UInt32 = 0x430
    /// ``cyrillicBytes`` by scalar from U+0430 (а) to U+0491 (ґ); `nil` for a scalar it lacks.
    private static let plainCyrillic: [[UInt8]?] = (plainCyrillicBase...0x491).map { value in
        Unicode.Scalar(value).flatMap { cyrillicBytes[$0] }
    }

    /// Folding by the rules as written, for any word.
    private static func foldAny(_ word: some StringProtocol, into skeleton: inout [UInt8], latin: inout [UInt8]) {
        var previousCyrillic: Unicode.Scalar?
        for scalar in word.lowercased().unicodeScalars {
            if apostrophes.contains(scalar) { continue }
            if let mapped = cyrillicBytes[scalar] {
                appendLatin(&latin, to: &skeleton)
                if scalar == "с", previousCyrillic == "т" {
                    // тс sounds like ц and is romanized ts, which folds to c: `Братський`
                    // must meet `Bratskyi`.
                    skeleton.removeLast()
                    skeleton.append(contentsOf: cyrillicBytes["ц"]!)
                } else {
                    skeleton.append(contentsOf: mapped)
                }
                if scalar != "ь" { previousCyrillic = scalar }
            } else if let plain = diacritics[scalar] {
                latin.append(contentsOf: plain.utf8)
                previousCyrillic = nil
            } else if scalar.value >= 0x61, scalar.value <= 0x7A {
                latin.append(UInt8(scalar.value))
                previousCyrillic = nil
            }
            // Anything else (digits, other scripts, combining accents of decomposed letters)
            // carries nothing the other spellings share.
        }
    }

    /// The skeletons of the words of a name, in their order; words that fold to nothing are left
    /// out. Words are split as ``NameKey`` splits them (``NameWords``).
    public static func words(of name: String) -> [String] {
        NameWords.split(name)
            .map { fold($0) }
            .filter { !$0.isEmpty }
    }

    /// Whether a skeleton looks like a patronymic: Ukrainian `-ович/-евич`, `-івна`, Russian
    /// `-ович/-евич`, `-овна/-евна`, `-ична`, and the short `-ич` ones (Ілліч, Кузьмич).
    ///
    /// Some surnames end like a patronymic (Karpovych); ``patronymicIndex(in:)`` therefore only
    /// looks after a name's first word.
    public static func isPatronymic(_ folded: String) -> Bool {
        if shortPatronymics.contains(folded) { return true }
        return folded.utf8.count >= 6 && patronymicEndings.contains { folded.hasSuffix($0) }
    }

    /// The position of the patronymic in the folded words of one name: the first word after
    /// the first that looks like one, in a name of three or more words (`Surname Given
    /// Patronymic` or `Given Patronymic Surname`); `nil` otherwise. A two-word name is taken to
    /// have none.
    public static func patronymicIndex(in words: [String]) -> Int? {
        guard words.count >= 3 else { return nil }
        return words.indices.dropFirst().first { isPatronymic(words[$0]) }
    }

    static let patronymicEndings = ["ovic", "evic", "ivna", "ovna", "evna", "icna"]
    static let shortPatronymics: Set<String> = ["ilic", "kusmic", "lukic", "fomic", "savic", "nikitic"]

    private static let apostrophes: Set<Unicode.Scalar> = ["'", "’", "ʼ", "ʹ", "`", "‘"]

    /// Cyrillic letters straight to skeleton letters. They are not read again by the Latin
    /// rules: з followed by г must not turn into the Latin digraph zh.
    private static let cyrillic: [Unicode.Scalar: String] = [
        "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "h", "д": "d", "е": "e", "є": "ie", "ж": "s",
        "з": "s", "и": "i", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n",
        "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "c",
        "ч": "c", "ш": "s", "щ": "sc", "ь": "", "ю": "iu", "я": "ia",
        // Russian and Belarusian letters that appear in lists and documents.
        "ы": "i", "э": "e", "ё": "io", "ъ": "", "ў": "u",
    ]
    private static let cyrillicBytes: [Unicode.Scalar: [UInt8]] = cyrillic.mapValues { Array($0.utf8) }

    /// Latin letters with accents to plain letters, which the Latin rules then read (`š` is
    /// `s`, `č` is `c`: the scholarly spelling meets the same spelling with its accents lost).
    private static let diacritics: [Unicode.Scalar: String] = [
        "á": "a", "à": "a", "â": "a", "ä": "a", "ã": "a", "å": "a", "ą": "a", "č": "c", "ć": "c",
        "ç": "c", "ď": "d", "é": "e", "è": "e", "ê": "e", "ë": "e", "ě": "e", "ę": "e", "í": "i",
        "ì": "i", "î": "i", "ï": "i", "ı": "i", "ĭ": "i", "ĺ": "l", "ľ": "l", "ł": "l", "ń": "n",
        "ň": "n", "ñ": "n", "ó": "o", "ò": "o", "ô": "o", "ö": "o", "õ": "o", "ø": "o", "ř": "r",
        "ŕ": "r", "š": "s", "ś": "s", "ş": "s", "ť": "t", "ú": "u", "ù": "u", "û": "u", "ü": "u",
        "ů": "u", "ý": "y", "ÿ": "y", "ž": "z", "ź": "z", "ż": "z", "ß": "ss", "ǵ": "g", "ğ": "g",
        // ISO 9 writes щ as ŝ.
        "ŝ": "shch",
    ]

    struct Rule: Sendable {
        let spelling: [UInt8]
        let fold: [UInt8]
        init(_ spelling: String, _ fold: String) {
            self.spelling = Array(spelling.utf8)
            self.fold = Array(fold.utf8)
        }
    }

    /// Latin spellings and their skeleton. At each position the longest spelling that matches
    /// wins; a letter no rule names stands for itself.
    static let latinRules: [Rule] = [
        Rule("schtsch", "sc"),  // щ, German
        Rule("shch", "sc"),     // щ, national 2010 and BGN/PCGN
        Rule("szcz", "sc"),     // щ, Polish
        Rule("tsch", "c"),      // ч, German (Schewtschenko)
        Rule("sch", "s"),       // ш, German; also the older English щ (one letter short of sc)
        Rule("tch", "c"),       // ч after a vowel in English (Tkatchenko)
        Rule("sh", "s"),        // ш
        Rule("zh", "s"),        // ж: merged with з, с and ш (German writes ж as sh, з as s)
        Rule("sz", "s"),        // ш, Polish
        Rule("cz", "c"),        // ч, Polish
        Rule("ch", "c"),        // ч; German and Polish write х so too: one letter from kh
        Rule("ts", "c"),        // ц
        Rule("tz", "c"),        // ц, German after a vowel
        Rule("kh", "h"),        // х
        Rule("gh", "h"),        // г after з in the national romanization (Zghurskyi)
        Rule("ph", "f"),
        Rule("c", "c"),         // ц, scholarly and Polish; č with its accent lost
        Rule("z", "s"),         // з (German z for ц is left one letter off)
        Rule("g", "h"),         // Russian and older spellings of г (Grigoriy)
        Rule("w", "v"),         // German and Polish в
        Rule("y", "i"),         // и, й and the y of ye, yi, yu, ya
        Rule("j", "i"),         // й and the j of je, ji, ju, ja (German, scholarly)
        Rule("x", "ks"),
        Rule("q", "k"),
    ]

    /// ``latinRules`` by their first letter, longest first.
    private static let rulesByFirstLetter: [[Rule]] = {
        var table = [[Rule]](repeating: [], count: 128)
        for rule in latinRules { table[Int(rule.spelling[0])].append(rule) }
        return table.map { rules in rules.sorted { $0.spelling.count > $1.spelling.count } }
    }()

    /// Folds the pending run of plain Latin letters onto the skeleton and empties it.
    private static func appendLatin(_ latin: inout [UInt8], to skeleton: inout [UInt8]) {
        var index = 0
        while index < latin.count {
            let byte = latin[index]
            var matched = false
            for rule in rulesByFirstLetter[Int(byte)] where index + rule.spelling.count <= latin.count {
                if latin[index..<(index + rule.spelling.count)].elementsEqual(rule.spelling) {
                    skeleton.append(contentsOf: rule.fold)
                    index += rule.spelling.count
                    matched = true
                    break
                }
            }
            if !matched {
                skeleton.append(byte)
                index += 1
            }
        }
        latin.removeAll(keepingCapacity: true)
    }
}
