// Over 400 lines: the data set, its seeded generator of invented people and the ways a
// re-entry differs (typos, coarser dates, four romanizations) are one thing to read and keep
// in step.
import CasetrackCore

/// A seeded set of invented people, some entered twice, to measure duplicate detection.
///
/// Surnames are built from invented roots and common Ukrainian endings (-енко, -чук, -юк,
/// -ович, -ський, -ко, -ець, -ук, -ак); a few roots are common and most rare, so namesakes
/// happen about as often as among real Ukrainian names. Given names and fathers' names come
/// from a weighted list of common ones. Combined at random with random dates, no record names a
/// real person.
///
/// A planted duplicate is the same person entered again by another source: in another script or
/// romanization (Cyrillic, national 2010 "passport", BGN/PCGN, common English, German, ISO 9
/// with and without its accents), with or without the patronymic, in another order, sometimes
/// with a typing error; a birth date the same, coarser or missing; sex sometimes unknown; unit
/// and since date the same, coarser, missing or different; the service number sometimes, a
/// reference rarely. A hard negative is a different person with the same spellings, another
/// birth year and the other sex: it must never be paired.
///
/// Every random draw goes through ``SeededRandom/next()`` with plain arithmetic, so a model of
/// the same draws in another language produces the same cases.
public struct PlantedDuplicates: Sendable {
    public var identities: [Identity]
    /// The planted pairs (original, re-entry).
    public var truePairs: Set<CasePair>
    /// Pairs that must not be found: same spellings, another birth year, the other sex.
    public var hardNegatives: Set<CasePair>

    /// `count` cases in all, of which `duplicateShare` re-entries of another case and
    /// `hardNegativeShare` hard negatives; ids `C-000001` upwards.
    public static func generate(
        count: Int, duplicateShare: Double = 0.05, hardNegativeShare: Double = 0.01, seed: UInt64 = 19
    ) -> PlantedDuplicates {
        var generator = Generator(seed: seed)
        let duplicates = Int((Double(count) * duplicateShare + 0.5).rounded(.down))
        let hard = Int((Double(count) * hardNegativeShare + 0.5).rounded(.down))
        let originals = count - duplicates - hard
        let people = (0..<originals).map { _ in generator.person() }
        var identities: [Identity] = []
        identities.reserveCapacity(count)
        for (index, person) in people.enumerated() {
            let service = person.service.map { generator.serviceText($0) }
            identities.append(Identity(
                id: CaseID(number: Int64(index + 1)), names: person.names, birth: person.birth, sex: person.sex,
                serviceNumber: service, unit: person.unit, since: person.since, references: person.references))
        }

        // The re-entered people: a partial Fisher-Yates shuffle of the originals.
        var order = Array(0..<originals)
        for i in 0..<duplicates {
            let j = i + generator.random.below(originals - i)
            order.swapAt(i, j)
        }
        var truePairs = Set<CasePair>()
        for source in order.prefix(duplicates) {
            let person = people[source]
            var x = generator.random.unit()
            let birth: PartialDate? = x < 0.5 ? person.birth : x < 0.85 ? generator.coarser(person.birth) : nil
            let sex: Sex? = generator.random.chance(0.85) ? person.sex : nil
            x = generator.random.unit()
            let weights = generator.unitWeights
            let unit: String? = x < 0.5 ? person.unit : x < 0.85 ? nil : generator.random.weighted(weights)
            x = generator.random.unit()
            let since: PartialDate?
            if x < 0.5 {
                since = person.since
            } else if x < 0.65 {
                since = generator.coarser(person.since)
            } else if x < 0.9 {
                since = nil
            } else {
                since = generator.randomSince()
            }
            let service: String? = person.service != nil && generator.random.chance(0.4)
                ? generator.serviceText(person.service!) : nil
            let references: [String] = !person.references.isEmpty && generator.random.chance(0.05) ? person.references : []
            let names = generator.reentryNames(person)
            let id = CaseID(number: Int64(identities.count + 1))
            identities.append(Identity(
                id: id, names: names, birth: birth, sex: sex, serviceNumber: service, unit: unit, since: since,
                references: references))
            truePairs.insert(CasePair(CaseID(number: Int64(source + 1)), id))
        }

        // Hard negatives, from originals not re-entered whose birth and sex are known.
        let taken = Set(order.prefix(duplicates))
        var eligible = (0..<originals).filter { !taken.contains($0) && people[$0].birth != nil && people[$0].sex != nil }
        var hardNegatives = Set<CasePair>()
        for i in 0..<min(hard, eligible.count) {
            let j = i + generator.random.below(eligible.count - i)
            eligible.swapAt(i, j)
            let person = people[eligible[i]]
            let shift = generator.random.pick([-7, -4, -2, -1, 1, 2, 3, 5, 9])
            let month = 1 + generator.random.below(12)
            let day = 1 + generator.random.below(28)
            let birth = PartialDate(year: person.birth!.year + shift, month: month, day: day)!
            let sex: Sex = person.sex == .female ? .male : .female
            let id = CaseID(number: Int64(identities.count + 1))
            identities.append(Identity(
                id: id, names: person.names, birth: birth, sex: sex, serviceNumber: nil, unit: person.unit,
                since: person.since, references: []))
            hardNegatives.insert(CasePair(CaseID(number: Int64(eligible[i] + 1)), id))
        }
        return PlantedDuplicates(identities: identities, truePairs: truePairs, hardNegatives: hardNegatives)
    }

    /// Recall and precision of `found` against the planted pairs.
    public func measure(_ found: [DuplicateCandidate]) -> (recall: Double, precision: Double) {
        let pairs = Set(found.map(\.pair))
        let hits = pairs.intersection(truePairs).count
        return (Double(hits) / Double(max(truePairs.count, 1)), Double(hits) / Double(max(pairs.count, 1)))
    }
}

// MARK: - Draws

extension SeededRandom {
    /// An integer in 0..<n (the modulo bias is below 1e-12 for the small n used here).
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }

    /// A number in 0..<1 with 53 random bits.
    mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    mutating func chance(_ probability: Double) -> Bool { unit() < probability }

    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    mutating func weighted<T>(_ items: [(T, Double)]) -> T {
        var total = 0.0
        for (_, weight) in items { total += weight }
        var x = unit() * total
        for (item, weight) in items {
            x -= weight
            if x < 0 { return item }
        }
        return items[items.count - 1].0
    }

    /// About normal, mean 0, deviation 1: the sum of twelve uniform draws less 6.
    mutating func normal() -> Double {
        var sum = 0.0
        for _ in 0..<12 { sum += unit() }
        return sum - 6
    }
}

private struct Person {
    var female = false
    var military = false
    var given = ""
    var patronymic = ""
    var surname = ""
    var birth: PartialDate?
    var since: PartialDate?
    var unit: String?
    var service: String?
    var sex: Sex?
    var references: [String] = []
    var names: [String] = []
}

private struct Generator {
    var random: SeededRandom
    var roots: [String] = []
    var rootWeights: [Double] = []
    let unitWeights: [(String, Double)]
    var issued = Set<String>()
    var nextReference = 0

    static let onsets = [
        "б", "в", "г", "д", "ж", "з", "к", "л", "м", "н", "п", "р", "с", "т", "ф", "х", "ц", "ч", "ш",
        "бр", "гр", "др", "кр", "пр", "тр", "ст", "сл", "гл", "кл", "пл", "хм", "шв", "дз", "ґ", "бл", "зв",
    ]
    static let vowels = ["а", "е", "и", "і", "о", "у"]
    static let codas = [
        "б", "в", "д", "ж", "з", "к", "л", "м", "н", "р", "с", "т", "х", "ч", "ш", "ль", "рт", "нд", "ст",
        "рч", "вч", "щ", "ц", "й",
    ]
    static let secondSyllable = ["б", "в", "д", "к", "л", "м", "н", "р", "с", "т"]
    static let suffixes: [(String, Double)] = [
        ("енко", 30), ("чук", 12), ("юк", 10), ("ович", 6), ("ський", 12), ("ко", 9), ("ець", 7), ("ук", 8), ("ак", 6),
    ]
    static let male: [(String, Double)] = [
        ("Олександр", 10), ("Сергій", 8), ("Андрій", 7), ("Володимир", 6), ("Дмитро", 6), ("Олексій", 5),
        ("Микола", 5), ("Іван", 5), ("Василь", 4), ("Юрій", 4), ("Михайло", 4), ("Віктор", 4), ("Петро", 3),
        ("Ігор", 3), ("Віталій", 3), ("Тарас", 3), ("Богдан", 3), ("Григорій", 2), ("Євген", 3), ("Роман", 3),
        ("Максим", 4), ("Денис", 3), ("Артем", 3), ("Руслан", 2), ("Олег", 3), ("Степан", 1), ("Анатолій", 2),
        ("Валерій", 1), ("Ілля", 2), ("Ярослав", 2), ("Вадим", 2),
    ]
    static let female: [(String, Double)] = [
        ("Олена", 6), ("Наталія", 5), ("Тетяна", 5), ("Ірина", 5), ("Оксана", 5), ("Юлія", 4), ("Марія", 4),
        ("Світлана", 4), ("Ганна", 3), ("Людмила", 3), ("Катерина", 3), ("Вікторія", 3), ("Галина", 3),
        ("Ольга", 4), ("Анастасія", 2),
    ]
    /// Days on which many were captured at once (the since dates cluster).
    static let events: [(Int, Int, Int)] = [
        (2022, 5, 20), (2022, 3, 16), (2022, 2, 24), (2022, 4, 12), (2014, 8, 29), (2015, 2, 18),
        (2022, 3, 1), (2022, 9, 30), (2023, 5, 20), (2024, 2, 17), (2022, 6, 25), (2022, 7, 3),
    ]
    static let serviceLetters = Array("АВЕКМНОРСТХ")
    static let rootCount = 20_000
    /// Zipf-like root weights 1/(rank + 40): the commonest surname is about 0.1% of people.
    static let rootOffset = 40.0

    init(seed: UInt64) {
        var units: [String] = (1..<160).map { "\($0) brigade" }
        units += (1..<120).map { "\($0) battalion" }
        units += (1..<30).map { "border detachment \($0)" }
        unitWeights = units.enumerated().map { ($0.element, 1.0 / Double($0.offset + 3)) }
        random = SeededRandom(seed: seed)
        var seen = Set<String>()
        while roots.count < Self.rootCount {
            var root = random.pick(Self.onsets) + random.pick(Self.vowels) + random.pick(Self.codas)
            if random.chance(0.35) { root += random.pick(Self.vowels) + random.pick(Self.secondSyllable) }
            if seen.insert(root).inserted { roots.append(root) }
        }
        var total = 0.0
        for rank in 0..<Self.rootCount {
            total += 1.0 / (Double(rank) + Self.rootOffset)
            rootWeights.append(total)
        }
    }

    mutating func root() -> String {
        let x = random.unit() * rootWeights[rootWeights.count - 1]
        var low = 0
        var high = rootWeights.count
        while low < high {  // the first root whose cumulative weight exceeds x
            let middle = (low + high) / 2
            if rootWeights[middle] > x { high = middle } else { low = middle + 1 }
        }
        return roots[min(low, roots.count - 1)]
    }

    mutating func serviceNumber() -> String {
        while true {
            let letters = String([random.pick(Self.serviceLetters), random.pick(Self.serviceLetters)])
            let number = letters + Self.padded(random.below(1_000_000), 6)
            if issued.insert(number).inserted { return number }
        }
    }

    /// A service number as a clerk typed it: Cyrillic or look-alike Latin letters, either case,
    /// with or without a separator.
    mutating func serviceText(_ number: String) -> String {
        var letters = String(number.prefix(2))
        let digits = String(number.dropFirst(2))
        if random.chance(0.5) {
            let latin: [Character: Character] = [
                "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
                "Т": "T", "Х": "X",
            ]
            letters = String(letters.map { latin[$0]! })
        }
        if random.chance(0.3) { letters = letters.lowercased() }
        return letters + random.pick(["", "-", " ", "/"]) + digits
    }

    mutating func randomSince() -> PartialDate {
        let year = 2014 + random.below(12)
        let month = 1 + random.below(12)
        let day = 1 + random.below(28)
        return PartialDate(year: year, month: month, day: day)!
    }

    /// The same date, or coarser: a day becomes a month (40%) or a year, a month a year.
    mutating func coarser(_ date: PartialDate?) -> PartialDate? {
        guard let date else { return nil }
        if date.day != nil, random.chance(0.4) { return PartialDate(year: date.year, month: date.month) }
        return PartialDate(year: date.year)
    }

    mutating func person() -> Person {
        var person = Person()
        person.female = random.chance(0.15)
        person.military = random.chance(person.female ? 0.3 : 0.75)
        person.given = random.weighted(person.female ? Self.female : Self.male)
        person.patronymic = Self.patronymic(of: random.weighted(Self.male), female: person.female)
        let surnameRoot = self.root()
        person.surname = Self.surname(surnameRoot, random.weighted(Self.suffixes), female: person.female)
        let year = min(2006, max(1950, Int(1987.0 + 10.0 * random.normal())))
        let month = 1 + random.below(12)
        let day = 1 + random.below(28)
        var x = random.unit()
        person.birth = x < 0.65 ? PartialDate(year: year, month: month, day: day)
            : x < 0.73 ? PartialDate(year: year, month: month)
            : x < 0.9 ? PartialDate(year: year) : nil
        let since: (Int, Int, Int)
        if random.chance(0.35) {
            since = random.pick(Self.events)
        } else {
            let year = 2014 + random.below(12)
            let month = 1 + random.below(12)
            since = (year, month, 1 + random.below(28))
        }
        x = random.unit()
        person.since = x < 0.6 ? PartialDate(year: since.0, month: since.1, day: since.2)
            : x < 0.8 ? PartialDate(year: since.0, month: since.1)
            : x < 0.9 ? PartialDate(year: since.0) : nil
        let weights = unitWeights
        person.unit = person.military && random.chance(0.9) ? random.weighted(weights) : nil
        person.service = person.military && random.chance(0.45) ? serviceNumber() : nil
        person.sex = random.chance(0.1) ? nil : (person.female ? Sex.female : Sex.male)
        if random.chance(0.2) {
            nextReference += 1
            person.references = ["ICRC-" + Self.padded(nextReference, 7)]
        }
        if random.chance(0.9) { person.names.append("\(person.surname) \(person.given) \(person.patronymic)") }
        if person.names.isEmpty || random.chance(0.5) {
            person.names.append(Romanization.passport.spell("\(person.surname) \(person.given)"))
        }
        if random.chance(0.15) { person.names.append(Romanization.english.spell("\(person.given) \(person.surname)")) }
        return person
    }

    /// One or two spellings of `person` as another source writes them.
    mutating func reentryNames(_ person: Person) -> [String] {
        var names: [String] = []
        for _ in 0..<(random.chance(0.7) ? 1 : 2) {
            let system = random.weighted(Romanization.shares)
            let withPatronymic = random.chance(0.4)
            let order = random.weighted([("sgp", 60.0), ("gs", 30.0), ("gps", 10.0)])
            let middle = withPatronymic ? [person.patronymic] : []
            let words = order == "sgp"
                ? [person.surname, person.given] + middle
                : [person.given] + middle + [person.surname]
            var text = system.spell(words.joined(separator: " "))
            if random.chance(0.15) {
                var parts = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
                let k = random.below(parts.count)
                parts[k] = typo(parts[k])
                text = parts.joined(separator: " ")
            }
            names.append(text)
        }
        return names
    }

    /// One random edit of a word, never of its first letter.
    mutating func typo(_ word: String) -> String {
        var letters = Array(word)
        guard letters.count >= 3 else { return word }
        let cyrillic = letters.contains { letter in
            guard let scalar = letter.lowercased().unicodeScalars.first else { return false }
            return (0x430...0x44F).contains(scalar.value) || "іїєґ".unicodeScalars.contains(scalar)
        }
        let alphabet = Array(cyrillic ? "абвгдеєжзиіїйклмнопрстуфхцчшщюяь" : "abcdefghijklmnoprstuvyz")
        let i = 1 + random.below(letters.count - 1)
        let operation = random.below(4)
        if operation == 0 {
            letters[i] = random.pick(alphabet)
        } else if operation == 1 {
            letters.insert(random.pick(alphabet), at: i)
        } else if operation == 2, letters.count > 4 {
            letters.remove(at: i)
        } else if i + 1 < letters.count {
            letters.swapAt(i, i + 1)
        } else {
            letters[i] = random.pick(alphabet)
        }
        return String(letters)
    }

    static func patronymic(of father: String, female: Bool) -> String {
        switch father {
        case "Микола": return female ? "Миколаївна" : "Миколайович"
        case "Ілля": return female ? "Іллівна" : "Ілліч"
        case "Григорій": return female ? "Григорівна" : "Григорович"
        default: break
        }
        if father.hasSuffix("ій") { return String(father.dropLast(2)) + (female ? "іївна" : "ійович") }
        if father.hasSuffix("о") { return String(father.dropLast()) + (female ? "івна" : "ович") }
        if father.hasSuffix("ь") { return female ? String(father.dropLast()) + "івна" : father + "ович" }
        return father + (female ? "івна" : "ович")
    }

    static func surname(_ root: String, _ suffix: String, female: Bool) -> String {
        var root = root
        var suffix = suffix == "ський" && female ? "ська" : suffix
        if root.hasSuffix("й"), suffix == "енко" || suffix == "ко" { root.removeLast() }
        if root.last == suffix.first { suffix.removeFirst() }
        let name = root + suffix
        return name.prefix(1).uppercased() + name.dropFirst()
    }

    static func padded(_ number: Int, _ width: Int) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

/// The spellings sources use for Ukrainian names, written independently of the folding code so
/// that tests compare two implementations.
enum Romanization: Sendable {
    case cyrillic, passport, bgn, english, german, iso9, iso9ASCII

    /// How often a re-entry uses each.
    static let shares: [(Romanization, Double)] = [
        (.cyrillic, 30), (.passport, 25), (.bgn, 12), (.english, 12), (.german, 8), (.iso9, 6), (.iso9ASCII, 7),
    ]

    static let base: [Character: String] = [
        "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "ж": "zh", "з": "z", "и": "y",
        "і": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
        "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ь": "", "'": "",
    ]
    /// є ї й ю я: at a word's start, and elsewhere.
    static let iotated: [Character: (String, String)] = [
        "є": ("ye", "ie"), "ї": ("yi", "i"), "й": ("y", "i"), "ю": ("yu", "iu"), "я": ("ya", "ia"),
    ]
    static let germanLetters: [Character: String] = [
        "в": "w", "ж": "sh", "з": "s", "й": "j", "х": "ch", "ц": "z", "ч": "tsch", "ш": "sch", "щ": "schtsch",
        "є": "je", "ї": "ji", "ю": "ju", "я": "ja", "ь": "",
    ]
    static let iso9Letters: [Character: String] = [
        "г": "g", "ґ": "g", "ж": "ž", "и": "i", "і": "ì", "ї": "ï", "й": "j", "х": "h", "ц": "c", "ч": "č",
        "ш": "š", "щ": "ŝ", "є": "ê", "ю": "û", "я": "â", "ь": "ʹ", "'": "ʼ",
    ]
    static let iso9Plain: [String: String] = [
        "ž": "z", "ì": "i", "ï": "i", "č": "c", "š": "s", "ŝ": "s", "ê": "e", "û": "u", "â": "a", "ʹ": "", "ʼ": "",
    ]
    static let vowelLetters: Set<Character> = Set("аеєиіїоуюя")

    func spell(_ text: String) -> String {
        if self == .cyrillic { return text }
        var output = ""
        var previous: Character?  // the previous lowercase letter of the word
        for character in text {
            let lower = Character(character.lowercased())
            guard lower.isLetter || lower == "'" else {
                output.append(character)
                previous = nil
                continue
            }
            var mapped: String
            switch self {
            case .passport:
                if let forms = Self.iotated[lower] {
                    mapped = previous == nil ? forms.0 : forms.1
                } else if lower == "г", previous == "з" {
                    mapped = "gh"
                } else {
                    mapped = Self.base[lower] ?? String(lower)
                }
            case .bgn, .english:
                let afterVowel = previous.map { Self.vowelLetters.contains($0) || $0 == "ь" || $0 == "'" } ?? true
                if lower == "й" {
                    mapped = "y"
                } else if let forms = Self.iotated[lower] {
                    mapped = afterVowel ? forms.0 : forms.1
                    if self == .english, lower == "я", previous == "і" { mapped = "a" }
                } else if lower == "ь" {
                    mapped = self == .bgn ? "ʹ" : ""
                } else {
                    mapped = Self.base[lower] ?? String(lower)
                }
            case .german:
                mapped = Self.germanLetters[lower] ?? Self.base[lower] ?? String(lower)
            case .iso9, .iso9ASCII:
                mapped = Self.iso9Letters[lower] ?? Self.base[lower] ?? String(lower)
                if self == .iso9ASCII { mapped = Self.iso9Plain[mapped] ?? mapped }
            case .cyrillic:
                mapped = String(lower)
            }
            if character != lower, !mapped.isEmpty {
                mapped = mapped.prefix(1).uppercased() + mapped.dropFirst()
            }
            output += mapped
            previous = lower
        }
        return output
    }
}
