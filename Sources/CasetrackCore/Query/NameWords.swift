/// The words of a name: runs of letters, digits and apostrophes, as both the search keys
/// (``NameKey``) and duplicate matching (``NameFolding``) read a name; and the last folds both
/// make of a word.
///
/// Splitting a `String` by `Character` asks for grapheme breaks and for each character's
/// Unicode properties: in an import that was a seventh of the writer's time. Names are almost
/// always Latin and Cyrillic letters, spaces and hyphens, and in those scripts (below U+0300,
/// and Cyrillic, U+0400-U+052F, but for its combining marks) every scalar is a character of
/// its own and is looked up in a table built from the same properties. A name with any other
/// scalar (the apostrophe ’, say) is split by characters, as before: the answer is the same
/// either way (`NameWordsTests`).
public enum NameWords {
    public static func split(_ text: String) -> [Substring] {
        if let words = splitSimple(text) { return words }
        return splitByCharacters(text)
    }

    /// The rule itself, over grapheme clusters.
    static func splitByCharacters(_ text: String) -> [Substring] {
        text.split(whereSeparator: { !($0.isLetter || $0.isNumber || NameKey.apostrophes.contains($0)) })
    }

    /// The same split by scalars, or `nil` when a scalar falls outside the table (a combining
    /// accent, another script), where scalars and characters may differ.
    static func splitSimple(_ text: String) -> [Substring]? {
        var words: [Substring] = []
        let scalars = text.unicodeScalars
        var start: String.Index?
        var index = scalars.startIndex
        while index != scalars.endIndex {
            let value = Int(scalars[index].value)
            guard value < scalarKinds.count else { return nil }
            let kind = scalarKinds[value]
            guard kind != .elsewhere else { return nil }
            let inWord = kind == .word
            if inWord, start == nil { start = index }
            if !inWord, let first = start {
                words.append(text[first..<index])
                start = nil
            }
            index = scalars.index(after: index)
        }
        if let first = start { words.append(text[first..<scalars.endIndex]) }
        return words
    }

    /// The last folds of both skeletons, on ASCII letters: a doubled letter is one (Hanna ~
    /// Hana, the ii of Hryhorii), then the glide `i` before a vowel goes (ia, iu, ie, io:
    /// Yuliia ~ Yulia ~ Julia, Yevhen ~ Ievhen ~ Evgen).
    static func withoutDoublesAndGlides(_ letters: [UInt8]) -> String {
        var single: [UInt8] = []
        single.reserveCapacity(letters.count)
        for byte in letters where single.last != byte { single.append(byte) }
        var result: [UInt8] = []
        result.reserveCapacity(single.count)
        for (index, byte) in single.enumerated() {
            if byte == UInt8(ascii: "i"), index + 1 < single.count, vowels.contains(single[index + 1]) { continue }
            result.append(byte)
        }
        return String(decoding: result, as: UTF8.self)
    }

    private static let vowels: Set<UInt8> = Set("aeou".utf8)

    enum ScalarKind: UInt8 {
        case word, separator
        /// A combining mark or a script the table leaves to the character rule.
        case elsewhere
    }

    /// Each scalar up to the end of Cyrillic Supplement (U+052F) as
    /// ``splitByCharacters(_:)``'s rule reads it as a character of its own. Combining marks
    /// (U+0300-U+036F, Cyrillic's U+0483-U+0489) join the scalar before them into one
    /// character; Greek (U+0370-U+03FF) is left to the character rule rather than checked.
    static let scalarKinds: [ScalarKind] = (0..<0x0530).map { value in
        guard !(0x0300..<0x0400).contains(value), !(0x0483..<0x048A).contains(value),
              let scalar = Unicode.Scalar(value) else { return .elsewhere }
        let character = Character(scalar)
        return character.isLetter || character.isNumber || NameKey.apostrophes.contains(character) ? .word : .separator
    }
}
