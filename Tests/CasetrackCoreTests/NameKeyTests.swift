import CasetrackCore
import Foundation
import CasetrackTestSupport
import Testing

@Suite("Name search keys")
struct NameKeyTests {
    @Test("spellings of the same name meet", arguments: [
        ("Іваненко Петро Олексійович", "ivanenko"),
        ("Іваненко Петро Олексійович", "IVANENKO petro oleksiiovych"),
        ("Іваненко Петро Олексійович", "Ivanenko Petro Oleksiyovych"),
        ("Іваненко Петро Олексійович", "ivanenko petro oleksijovic"),
        ("Григорій Щербина", "Hryhorii Shcherbyna"),
        ("Григорій Щербина", "Hryhoriy Shcherbyna"),
        ("Григорій Щербина", "Grigoriy Scherbina"),
        ("Григорій Щербина", "grigorij ščerbina"),
        ("Юлія Євген Зґурський", "Yuliia Yevhen Zgurskyi"),
        ("Юлія Євген Зґурський", "Yuliya Yevhen Zgursʹkyy"),
        ("Юлія Євген Зґурський", "Julia Evgen Zgurskij"),
        ("Згурський", "zgurskyi"),
        ("Ivanenko Petro", "іваненко"),
        ("Михайло Жук", "Mykhailo Zhuk"),
        ("Михайло Жук", "mihail"),
        ("Ковальчук Юлія", "kovalch"),
        ("Мар'яна", "Mariana"),
        ("Мар’яна", "mar'yana"),
        // Cut short inside a folded spelling.
        ("Коваль Марія", "mari"), ("Коваль Марія", "Марі"), ("Юлія", "yuli"), ("Юлія", "Юлі"),
        ("Хоменко", "k"), ("Хоменко", "K"), ("Цибуля", "t"), ("Цибуля", "ts"),
    ])
    func meet(_ stored: String, _ query: String) {
        #expect(NameKey.matches(query: query, names: [stored]), "\(NameKey.words(of: stored)) vs \(NameKey.words(of: query))")
    }

    @Test("different names stay apart", arguments: [
        ("Іваненко Петро", "Коваленко"), ("Іваненко Петро", "ivanov"), ("Бойко Оксана", "Petro"),
        ("Ковальчук Юлія", "ivanenko"), ("Іваненко Петро", "petro ivanenkos"),
    ])
    func apart(_ stored: String, _ query: String) {
        #expect(!NameKey.matches(query: query, names: [stored]))
    }

    @Test("every generated Latin spelling finds its Cyrillic original")
    func generated() {
        for surname in Synthetic.surnames {
            for given in Synthetic.givenNames {
                let cyrillic = "\(surname) \(given)"
                for variant in 0...1 {
                    let latin = Synthetic.romanize(cyrillic, variant: variant)
                    #expect(NameKey.matches(query: latin, names: [cyrillic]), "\(latin) ~ \(cyrillic)")
                    #expect(NameKey.matches(query: cyrillic, names: [latin]), "\(cyrillic) ~ \(latin)")
                }
            }
        }
    }

    @Test("keys are ASCII and distinct")
    func keys() {
        let keys = NameKey.keys(for: ["Іваненко Петро", "Ivanenko Petro", "Петро-Іван"])
        #expect(keys == ["ivanenko", "petro", "ivan"])
        #expect(keys.allSatisfy { $0.allSatisfy(\.isASCII) })
        #expect(NameKey.words(of: "!!! ---").isEmpty)
    }

    /// The skeleton as first written, through Foundation's `replacingOccurrences`: the
    /// byte-level one must agree with it on every word.
    static func referenceSkeleton(_ word: String) -> String {
        let cyrillic: [Character: String] = [
            "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "є": "ie", "ж": "zh",
            "з": "z", "и": "y", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n",
            "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
            "ч": "ch", "ш": "sh", "щ": "shch", "ь": "", "ю": "iu", "я": "ia",
            "ы": "y", "э": "e", "ё": "io", "ъ": "", "ў": "u",
        ]
        let latinFolds: [Character: String] = [
            "á": "a", "à": "a", "â": "a", "ä": "a", "ã": "a", "å": "a", "ą": "a", "č": "ch", "ć": "c",
            "ç": "c", "ď": "d", "é": "e", "è": "e", "ê": "e", "ë": "e", "ě": "e", "ę": "e", "í": "i",
            "ì": "i", "î": "i", "ï": "i", "ı": "i", "ĺ": "l", "ľ": "l", "ł": "l", "ń": "n", "ň": "n",
            "ñ": "n", "ó": "o", "ò": "o", "ô": "o", "ö": "o", "õ": "o", "ø": "o", "ř": "r", "ŕ": "r",
            "š": "sh", "ś": "s", "ş": "s", "ť": "t", "ú": "u", "ù": "u", "û": "u", "ü": "u", "ů": "u",
            "ý": "y", "ÿ": "y", "ž": "zh", "ź": "z", "ż": "z", "ß": "ss",
        ]
        let digraphs: [(String, String)] = [
            ("g", "h"), ("shch", "sc"), ("sch", "sc"), ("ch", "c"), ("sh", "s"), ("zh", "z"),
            ("kh", "h"), ("ts", "c"), ("tz", "c"), ("ph", "f"), ("w", "v"), ("y", "i"), ("j", "i"),
            ("x", "ks"),
        ]
        var latin = ""
        for character in word.lowercased() {
            if ["'", "’", "ʼ", "ʹ", "`", "‘"].contains(character) { continue }
            if let mapped = cyrillic[character] ?? latinFolds[character] {
                latin += mapped
            } else if character.isASCII, character.isLetter || character.isNumber {
                latin.append(character)
            }
        }
        for (from, to) in digraphs where latin.contains(from) {
            latin = latin.replacingOccurrences(of: from, with: to)
        }
        var folded: [Character] = []
        for character in latin where folded.last != character { folded.append(character) }
        var result = ""
        for (index, character) in folded.enumerated() {
            if character == "i", index + 1 < folded.count, "aeou".contains(folded[index + 1]) { continue }
            result.append(character)
        }
        return result
    }

    @Test("the skeleton agrees with the first, Foundation-based one on every generated spelling")
    func sameSkeletons() {
        var words: [String] = ["Шевчукщенко", "Schtschukin", "Zghurskyi", "Kharkhiv", "Tsytsyk", "Philipp", "Wxyz", "Yuliia",
                               "Жжж", "ssshhh", "ggg", "Łukasz", "Škoda", "Müller", "Straße", "Ñandú", "Ołeksa", "Д'яченко", "Х123"]
        for surname in Synthetic.surnames {
            for given in Synthetic.givenNames {
                let cyrillic = "\(surname) \(given)"
                words += cyrillic.split(separator: " ").map(String.init)
                for variant in 0...1 { words += Synthetic.romanize(cyrillic, variant: variant).split(separator: " ").map(String.init) }
            }
        }
        #expect(words.count > 1_000)
        for word in words {
            #expect(NameKey.skeleton(word) == Self.referenceSkeleton(word), "\(word)")
        }
    }
}
