import Foundation

/// Search keys that let every spelling of a name meet: `ivanenko` finds `Іваненко`,
/// `Hryhorii`, `Hryhoriy` and `Grigoriy` find each other, `Yuliia`, `Yulia` and `Julia` too.
///
/// A name is split into words; each word is transliterated from Cyrillic by the Ukrainian
/// national romanization (2010) without its position rules, then folded to a skeleton that
/// forgives what spellings disagree on: case, diacritics, apostrophes and soft signs,
/// `g`/`h`, `kh`/`h`, `y`/`i`/`j`, doubled letters and the `i` of `ia`/`iu`/`ie`/`io`. The
/// skeleton is for matching only; it is never shown.
public enum NameKey {
    /// The distinct word skeletons of all given spellings, in first-seen order.
    public static func keys(for names: [String]) -> [String] {
        var seen = Set<String>()
        var keys: [String] = []
        for name in names {
            for word in words(of: name) where seen.insert(word).inserted {
                keys.append(word)
            }
        }
        return keys
    }

    /// The skeletons of the words of one name or query.
    public static func words(of text: String) -> [String] {
        NameWords.split(text)
            .map { skeleton(String($0)) }
            .filter { !$0.isEmpty }
    }

    /// Whether a case with these names matches a name query: every query word must begin a
    /// word of some spelling.
    public static func matches(query: String, names: [String]) -> Bool {
        matches(queryWords: words(of: query), keys: keys(for: names))
    }

    /// The same test on skeletons computed beforehand (``words(of:)`` of the query,
    /// ``keys(for:)`` of the names).
    public static func matches(queryWords: [String], keys: [String]) -> Bool {
        guard !queryWords.isEmpty else { return false }
        return queryWords.allSatisfy { word in
            prefixes(of: word).contains { prefix in keys.contains { $0.hasPrefix(prefix) } }
        }
    }

    /// The prefixes a typed query word may stand for. A word cut short can end inside a
    /// spelling the skeleton folds: `mari` is on its way to `mariia` (skeleton `mara`), `k` to
    /// `kh` (`h`), `t` to `ts` (`c`). Each such end also tries the folded form.
    public static func prefixes(of word: String) -> [String] {
        var prefixes = [word]
        guard let last = word.last else { return prefixes }
        let stem = String(word.dropLast())
        switch last {
        case "i" where !stem.isEmpty: prefixes.append(stem)
        case "k": prefixes.append(stem + "h")
        case "t": prefixes.append(stem + "c")
        default: break
        }
        return prefixes
    }

    static let apostrophes: Set<Character> = ["'", "’", "ʼ", "ʹ", "`", "‘"]

    private static let cyrillic: [Character: String] = [
        "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "є": "ie", "ж": "zh",
        "з": "z", "и": "y", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n",
        "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
        "ч": "ch", "ш": "sh", "щ": "shch", "ь": "", "ю": "iu", "я": "ia",
        // Russian and Belarusian letters that appear in lists and documents.
        "ы": "y", "э": "e", "ё": "io", "ъ": "", "ў": "u",
    ]

    private static let latinFolds: [Character: String] = [
        "á": "a", "à": "a", "â": "a", "ä": "a", "ã": "a", "å": "a", "ą": "a", "č": "ch", "ć": "c",
        "ç": "c", "ď": "d", "é": "e", "è": "e", "ê": "e", "ë": "e", "ě": "e", "ę": "e", "í": "i",
        "ì": "i", "î": "i", "ï": "i", "ı": "i", "ĺ": "l", "ľ": "l", "ł": "l", "ń": "n", "ň": "n",
        "ñ": "n", "ó": "o", "ò": "o", "ô": "o", "ö": "o", "õ": "o", "ø": "o", "ř": "r", "ŕ": "r",
        "š": "sh", "ś": "s", "ş": "s", "ť": "t", "ú": "u", "ù": "u", "û": "u", "ü": "u", "ů": "u",
        "ý": "y", "ÿ": "y", "ž": "zh", "ź": "z", "ż": "z", "ß": "ss",
    ]

    private static let digraphs: [(String, String)] = [
        // g -> h first: Ukrainian г is h, Russian and older spellings write g, and a `zh` made
        // from `zg` must fold like the `zh` of `згурський`.
        ("g", "h"), ("shch", "sc"), ("sch", "sc"), ("ch", "c"), ("sh", "s"), ("zh", "z"),
        ("kh", "h"), ("ts", "c"), ("tz", "c"), ("ph", "f"), ("w", "v"), ("y", "i"), ("j", "i"),
        ("x", "ks"),
    ]

    /// The skeleton of one word.
    public static func skeleton(_ word: String) -> String {
        // Transliterated, the word is ASCII: the folds below work on its bytes. Through
        // Foundation's `replacingOccurrences`, one call per digraph, they were most of the cost
        // of a name's keys, and those keys are most of an import's and of VERIFY's work.
        var latin: [UInt8] = []
        latin.reserveCapacity(word.utf8.count)
        for character in word.lowercased() {
            if apostrophes.contains(character) { continue }
            if let mapped = cyrillic[character] ?? latinFolds[character] {
                latin.append(contentsOf: mapped.utf8)
            } else if character.isASCII, character.isLetter || character.isNumber, let byte = character.asciiValue {
                latin.append(byte)
            }
            // Anything else (other scripts' marks, symbols) carries no spelling information
            // that the other romanizations share, so it is dropped.
        }
        for (from, to) in digraphBytes { replace(from, with: to, in: &latin) }
        return NameWords.withoutDoublesAndGlides(latin)
    }

    private static let digraphBytes: [([UInt8], [UInt8])] = digraphs.map { (Array($0.0.utf8), Array($0.1.utf8)) }

    /// Replaces every occurrence of `pattern`, left to right and not overlapping, as
    /// `replacingOccurrences(of:with:)` does.
    static func replace(_ pattern: [UInt8], with replacement: [UInt8], in bytes: inout [UInt8]) {
        guard let first = pattern.first, bytes.count >= pattern.count, bytes.contains(first) else { return }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + 4)
        var index = 0
        var changed = false
        while index < bytes.count {
            if bytes[index] == first, index + pattern.count <= bytes.count,
               bytes[index..<(index + pattern.count)].elementsEqual(pattern) {
                output.append(contentsOf: replacement)
                index += pattern.count
                changed = true
            } else {
                output.append(bytes[index])
                index += 1
            }
        }
        if changed { bytes = output }
    }
}
