import CasetrackCore

/// A small, fast, seeded generator (SplitMix64): the same seed gives the same data set.
public struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Invented people for tests and benchmarks: common Ukrainian name parts combined at random,
/// in Cyrillic with Latin spellings, so that no record names a real person.
public enum Synthetic {
    public static let surnames = [
        "Іваненко", "Коваленко", "Бондаренко", "Ткаченко", "Кравченко", "Олійник", "Шевчук", "Поліщук",
        "Мельник", "Бойко", "Ковальчук", "Савченко", "Руденко", "Мороз", "Лисенко", "Марченко", "Гнатюк",
        "Щербина", "Зґурський", "Юрченко", "Гребенюк", "Яценко", "Хоменко", "Жук",
    ]
    public static let givenNames = [
        "Петро", "Олександр", "Андрій", "Юлія", "Григорій", "Євген", "Оксана", "Ірина", "Дмитро", "Марія",
        "Тарас", "Богдан", "Наталія", "Сергій", "Олена", "Михайло", "Ганна", "Юрій",
    ]
    public static let patronymics = ["Олексійович", "Іванович", "Петрович", "Андріївна", "Григорович", "Миколаївна"]
    public static let units = ["12th brigade", "36th brigade", "Territorial defence 3", "Border guard 9", "Navy 501"]
    public static let tags = ["azov", "mariupol", "kherson", "exchange-list", "hospital", "medic"]

    /// Ukrainian national romanization (2010), written independently of the search code so that
    /// tests compare two implementations. `variant` 1 gives the older `-iy`/`ya` spellings
    /// (Yuliya, Hryhoriy) that lists also use.
    public static func romanize(_ text: String, variant: Int = 0) -> String {
        let table: [Character: String] = [
            "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "є": "ie", "ж": "zh",
            "з": "z", "и": "y", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n",
            "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
            "ч": "ch", "ш": "sh", "щ": "shch", "ь": "", "ю": "iu", "я": "ia", "'": "",
        ]
        let initial: [Character: String] = ["є": "ye", "ї": "yi", "й": "y", "ю": "yu", "я": "ya"]
        var output = ""
        var atWordStart = true
        for character in text {
            let lower = Character(character.lowercased())
            let isUpper = character != lower
            var mapped: String
            if let value = (atWordStart ? initial[lower] : nil) ?? table[lower] {
                mapped = value
                if variant == 1 {
                    if lower == "й" { mapped = "y" }
                    if lower == "я" { mapped = "ya" }
                }
            } else {
                mapped = String(character)
            }
            if isUpper, let first = mapped.first {
                mapped = first.uppercased() + mapped.dropFirst()
            }
            output += mapped
            atWordStart = !character.isLetter
        }
        return output
    }

    /// A new case drawn from `random`, detained or missing before `today`.
    public static func newCase(_ random: inout SeededRandom, today: Day) -> NewCase {
        let surname = surnames.randomElement(using: &random)!
        let given = givenNames.randomElement(using: &random)!
        let patronymic = patronymics.randomElement(using: &random)!
        let cyrillic = "\(surname) \(given) \(patronymic)"
        var names = [cyrillic, romanize("\(surname) \(given)")]
        if Bool.random(using: &random) { names.append(romanize("\(given) \(surname)", variant: 1)) }
        let daysAgo = Int.random(in: 1...(12 * 366), using: &random)
        let start = today.adding(days: -daysAgo)
        let since: PartialDate?
        switch Int.random(in: 0..<10, using: &random) {
        case 0: since = nil
        case 1: since = PartialDate(year: start.components.year)
        case 2: since = PartialDate(year: start.components.year, month: start.components.month)
        default: since = PartialDate(start)
        }
        let tagCount = Int.random(in: 0...2, using: &random)
        return NewCase(
            names: names,
            birth: PartialDate(year: Int.random(in: 1950...2004, using: &random)),
            category: Bool.random(using: &random) ? .military : .civilian,
            unit: Int.random(in: 0..<4, using: &random) == 0 ? nil : units.randomElement(using: &random),
            tags: Array(Set((0..<tagCount).map { _ in tags.randomElement(using: &random)! })).sorted(),
            status: Int.random(in: 0..<3, using: &random) == 0 ? .missing : .captive,
            since: since)
    }
}
