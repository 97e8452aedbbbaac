// Over 400 lines: the evidence, its weights and the score are one model (Fellegi and Sunter);
// split, the weights would sit apart from the rules that use them.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One piece of evidence for or against two cases being one person.
public struct DuplicateReason: Hashable, Sendable {
    /// `same-service-number`, `same-reference`, `names`, `names-differ`, `patronymic`,
    /// `patronymic-differs`, `birth`, `birth-differs`, `sex-differs`, `unit`, `since`.
    public var code: String
    /// A short explanation naming the field, never its value.
    public var detail: String
    /// How much it moves the odds: log10 of a likelihood ratio, negative against.
    public var weight: Double

    public init(code: String, detail: String, weight: Double) {
        self.code = code
        self.detail = detail
        self.weight = weight
    }
}

/// Two cases, the lower id first.
public struct CasePair: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let a: CaseID
    public let b: CaseID

    public init(_ x: CaseID, _ y: CaseID) {
        if x < y {
            a = x
            b = y
        } else {
            a = y
            b = x
        }
    }

    public static func < (lhs: CasePair, rhs: CasePair) -> Bool {
        (lhs.a, lhs.b) < (rhs.a, rhs.b)
    }

    public var description: String { "\(a) \(b)" }
}

/// Two cases that are probably one person.
public struct DuplicateCandidate: Hashable, Sendable {
    /// The lower id.
    public var a: CaseID
    public var b: CaseID
    /// The estimated probability that the two cases are one person, 0...1; 1 when a shared
    /// number decides.
    public var score: Double
    /// The evidence, in a fixed order: numbers, names, birth, sex, unit, since.
    public var reasons: [DuplicateReason]

    public init(_ pair: CasePair, score: Double, reasons: [DuplicateReason]) {
        a = pair.a
        b = pair.b
        self.score = score
        self.reasons = reasons
    }

    public var pair: CasePair { CasePair(a, b) }
}

/// How likely two cases are one person, from the evidence in their ``Identity``.
///
/// The score is a probability built the way record linkage builds it (Fellegi and Sunter):
/// start from the odds that two cases sharing a name are one person, multiply by a likelihood
/// ratio for every further field that agrees or disagrees, and turn the odds into a
/// probability. Each reason's weight is its factor as a power of ten, so the weights add:
/// `score = 1 / (1 + 10^-(sum of weights))`.
///
/// - A shared service number or reference is decisive: score 1 whatever else says, even a
///   different birth year and sex (a number is issued to one person; a clerk who attached it
///   to the wrong case must see the two cases side by side to correct it).
/// - Names: the best pair of spellings, compared as sets of folded words (``NameFolding``), in
///   any order; a patronymic on one side only is ignored. At least two words (surname and given
///   name) must agree; a word agrees when it folds equal, or is one edit away (a letter
///   inserted, dropped, changed or two swapped) when one word has five letters and the other
///   four or more. The weight is the odds of a duplicate (5% of cases are assumed to have one)
///   against the namesakes expected for that name in the set: a rare name weighs more than a
///   common one, and the names alone never do better than even odds. Without a set
///   (``score(_:_:)``) one namesake is assumed.
/// - Birth, since and unit: agreement weighs more the rarer the value is in the set (a birth
///   day more than a birth year, a unit of ten cases more than one of a thousand); dates agree
///   to the coarser of the two precisions. Birth years that differ, and a different sex, are
///   strong evidence against.
///
/// A pair whose birth years and sex both differ scores below ``defaultThreshold`` even when
/// every other field agrees as strongly as it can: the two weights against (−3.5 each) outweigh
/// the most the names, patronymic, unit and since can add (0 + 1.2 + 2.5 + 3 = 6.7).
public enum DuplicateScoring {
    /// Candidates at or above it are more likely one person than two. On generated data (10,000
    /// cases, 5% planted duplicates) it finds about 95% of the planted pairs at a precision of
    /// about 99%.
    public static let defaultThreshold = 0.5

    /// The reasons that decide alone: a number issued to one person.
    public static let decisiveCodes: Set<String> = ["same-service-number", "same-reference"]

    /// The prior: the share of cases assumed to have a duplicate.
    static let duplicateShare = 0.05
    /// Fewest namesakes ever assumed for a name (the best the names alone can do is even odds).
    static let namesakesFloor = 0.05
    /// Namesakes assumed when a pair is scored without a set.
    static let namesakesWithoutSet = 1.0
    /// Each word that agrees only within one edit.
    static let fuzzyWord = -1.0
    static let patronymicAgrees = 1.2
    static let patronymicDiffers = -1.3
    /// Names that do not agree: the odds of two random cases.
    static let namesDiffer = -8.0
    static let birthYearDiffers = -3.5
    static let birthMonthDiffers = -1.3
    static let birthDayDiffers = -1.0
    static let sexDiffers = -3.5
    /// The weight shown for a decisive number (the score is 1 regardless).
    static let decisive = 10.0

    /// A date field's model: how often it agrees when both cases are one person (Fellegi and
    /// Sunter's m), at each precision; the most its agreement may weigh; and the share of cases
    /// assumed to have any one value when there is no set to count.
    struct DateModel: Sendable {
        let agrees: [DateAgreement.Precision: Double]
        let cap: Double
        let shareWithoutSet: [DateAgreement.Precision: Double]
    }

    static let birthModel = DateModel(
        agrees: [.day: 0.9, .month: 0.9, .year: 0.95], cap: 4.0,
        shareWithoutSet: [.day: 1.0 / 12000, .month: 1.0 / 400, .year: 1.0 / 35])
    static let sinceModel = DateModel(
        agrees: [.day: 0.5, .month: 0.6, .year: 0.8], cap: 3.0,
        shareWithoutSet: [.day: 1.0 / 300, .month: 1.0 / 40, .year: 1.0 / 5])
    /// The same for the unit: people move and sources name units differently, hence the low m.
    static let unitAgrees = 0.5
    static let unitCap = 2.5
    static let unitShareWithoutSet = 1.0 / 30

    /// Scores one pair on its own (no set to tell how common a name or a unit is); `nil` when
    /// there is no evidence at all.
    public static func score(_ x: Identity, _ y: Identity) -> DuplicateCandidate? {
        score(PreparedIdentity(x), PreparedIdentity(y), frequencies: nil)
    }

    /// The same, on identities prepared once.
    public static func score(_ x: PreparedIdentity, _ y: PreparedIdentity) -> DuplicateCandidate? {
        score(x, y, frequencies: nil)
    }

    static func score(_ x: PreparedIdentity, _ y: PreparedIdentity, frequencies: DuplicateFrequencies?) -> DuplicateCandidate? {
        var reasons: [DuplicateReason] = []
        if let service = x.service, service == y.service {
            reasons.append(DuplicateReason(code: "same-service-number", detail: "same service number (decisive)", weight: decisive))
        }
        if !x.references.isDisjoint(with: y.references) {
            reasons.append(DuplicateReason(code: "same-reference", detail: "a shared reference number (decisive)", weight: decisive))
        }
        let isDecided = !reasons.isEmpty

        let names = nameEvidence(x, y, frequencies: frequencies)
        if let names {
            reasons.append(DuplicateReason(code: "names", detail: names.detail, weight: names.weight))
            if names.patronymic {
                reasons.append(DuplicateReason(code: "patronymic", detail: "patronymics agree", weight: patronymicAgrees))
            }
        } else {
            reasons.append(DuplicateReason(code: "names-differ", detail: "names do not agree", weight: namesDiffer))
        }
        if !x.patronymics.isEmpty, !y.patronymics.isEmpty,
           !x.patronymics.contains(where: { p in y.patronymics.contains { $0 == p || oneEdit(p, $0) } }) {
            reasons.append(DuplicateReason(code: "patronymic-differs", detail: "patronymics differ", weight: patronymicDiffers))
        }
        if let birthX = x.birth, let birthY = y.birth {
            switch DateAgreement(birthX, birthY) {
            case .differs(let precision):
                reasons.append(DuplicateReason(code: "birth-differs", detail: "birth \(precision)s differ", weight: birthDiffers(precision)))
            case .agrees(let precision):
                let weight = dateAgreementWeight(.birth, birthX, precision, frequencies: frequencies)
                reasons.append(DuplicateReason(code: "birth", detail: "birth dates agree to the \(precision)", weight: weight))
            }
        }
        if let sexX = x.sex, let sexY = y.sex, sexX != sexY {
            reasons.append(DuplicateReason(code: "sex-differs", detail: "sex differs", weight: sexDiffers))
        }
        if let unit = x.unit, unit == y.unit {
            reasons.append(DuplicateReason(code: "unit", detail: "same unit", weight: unitWeight(unit, frequencies: frequencies)))
        }
        if let sinceX = x.since, let sinceY = y.since, case .agrees(let precision) = DateAgreement(sinceX, sinceY) {
            let weight = dateAgreementWeight(.since, sinceX, precision, frequencies: frequencies)
            reasons.append(DuplicateReason(code: "since", detail: "missing or detained since the same \(precision)", weight: weight))
        }

        let pair = CasePair(x.id, y.id)
        if isDecided { return DuplicateCandidate(pair, score: 1, reasons: reasons) }
        if names == nil, !reasons.contains(where: { $0.weight > 0 }) { return nil }
        var total = 0.0
        for reason in reasons { total += reason.weight }
        return DuplicateCandidate(pair, score: 1 / (1 + pow(10, -total)), reasons: reasons)
    }

    /// The weight of agreement on a value that `share` of the cases have, when one person's
    /// two cases agree with probability `agrees`: log10(agrees / share), from 0 to `cap`.
    static func agreementWeight(agrees: Double, cap: Double, share: Double) -> Double {
        min(cap, max(0, log10(agrees / share)))
    }

    /// The weight of two dates of `field` that agree to `precision`, one of them `date`.
    static func dateAgreementWeight(_ field: DuplicateFrequencies.Field, _ date: PartialDate,
                                    _ precision: DateAgreement.Precision, frequencies: DuplicateFrequencies?) -> Double {
        let model = field == .birth ? birthModel : sinceModel
        return agreementWeight(agrees: model.agrees[precision]!, cap: model.cap,
                               share: frequencies?.share(field, date, precision) ?? model.shareWithoutSet[precision]!)
    }

    static func birthDiffers(_ precision: DateAgreement.Precision) -> Double {
        switch precision {
        case .year: birthYearDiffers
        case .month: birthMonthDiffers
        case .day: birthDayDiffers
        }
    }

    static func unitWeight(_ unit: String, frequencies: DuplicateFrequencies?) -> Double {
        agreementWeight(agrees: unitAgrees, cap: unitCap, share: frequencies?.unitShare(unit) ?? unitShareWithoutSet)
    }

    /// What agreeing names weigh, given the namesakes expected for them (`nil`: no set to
    /// count, one namesake assumed), before any word that agrees only within one edit.
    static func nameWeight(namesakes: Double?) -> Double {
        log10(duplicateShare / max(namesakes ?? namesakesWithoutSet, namesakesFloor))
    }

    /// The best agreement of the two cases' spellings.
    static func nameEvidence(_ x: PreparedIdentity, _ y: PreparedIdentity, frequencies: DuplicateFrequencies?)
        -> (weight: Double, patronymic: Bool, detail: String)?
    {
        var best: (weight: Double, patronymic: Bool, detail: String)?
        for spellingX in x.spellings {
            for spellingY in y.spellings {
                guard let match = compare(spellingX, spellingY) else { continue }
                let namesakes = frequencies.map { counts in
                    max(counts.namesakes(match.core.map { $0.0 }), counts.namesakes(match.core.map { $0.1 }))
                } ?? namesakesWithoutSet
                let weight = nameWeight(namesakes: namesakes) + Double(match.fuzzy) * fuzzyWord
                if let current = best, !(weight > current.weight || (weight == current.weight && match.patronymic && !current.patronymic)) {
                    continue
                }
                var detail = match.fuzzy == 0
                    ? "names agree"
                    : "names agree but for one letter in \(match.fuzzy) word\(match.fuzzy == 1 ? "" : "s")"
                if frequencies != nil, namesakes >= 1 { detail += "; a common name" }
                best = (weight, match.patronymic, detail)
            }
        }
        return best
    }

    /// How two folded spellings agree: the pairs of non-patronymic words that match, how many
    /// of them only within one edit, and whether both patronymics are there and match; `nil`
    /// unless at least two other words match and every word left over is a patronymic (one
    /// side's missing patronymic is no evidence; two that differ are weighed apart, as
    /// `patronymic-differs`).
    static func compare(_ x: FoldedSpelling, _ y: FoldedSpelling) -> (core: [(String, String)], fuzzy: Int, patronymic: Bool)? {
        var used = [Bool](repeating: false, count: y.words.count)
        var match = [(index: Int, fuzzy: Bool)?](repeating: nil, count: x.words.count)
        // Equal words first, then words one edit apart among those left.
        for fuzzy in [false, true] {
            for i in x.words.indices where match[i] == nil {
                for j in y.words.indices where !used[j] {
                    if fuzzy ? oneEdit(x.words[i], y.words[j]) : x.words[i] == y.words[j] {
                        used[j] = true
                        match[i] = (j, fuzzy)
                        break
                    }
                }
            }
        }
        var core: [(String, String)] = []
        var fuzzyCount = 0
        var patronymic = false
        for (i, found) in match.enumerated() {
            guard let found else { continue }
            if i == x.patronymic || found.index == y.patronymic {
                if i == x.patronymic, found.index == y.patronymic { patronymic = true }
                continue
            }
            core.append((x.words[i], y.words[found.index]))
            if found.fuzzy { fuzzyCount += 1 }
        }
        var leftX = x.words.indices.filter { match[$0] == nil }
        var leftY = y.words.indices.filter { !used[$0] }
        // An initial ("Іваненко Петро О.") stands for a word left on the other side that
        // begins with it (its patronymic, most often): no evidence either way.
        func dropInitials(_ initials: inout [Int], _ words: [String], against others: inout [Int], _ otherWords: [String]) {
            for index in initials where words[index].utf8.count == 1 {
                guard let other = others.firstIndex(where: { otherWords[$0].utf8.count > 1 && otherWords[$0].hasPrefix(words[index]) })
                else { continue }
                others.remove(at: other)
                initials.removeAll { $0 == index }
            }
        }
        dropInitials(&leftX, x.words, against: &leftY, y.words)
        dropInitials(&leftY, y.words, against: &leftX, x.words)
        if leftX.contains(where: { $0 != x.patronymic }) || leftY.contains(where: { $0 != y.patronymic }) || core.count < 2 {
            return nil
        }
        return (core, fuzzyCount, patronymic)
    }

    /// Whether two folded words are exactly one edit apart (a letter inserted, dropped or
    /// changed, or two neighbours swapped), both having four letters or more and one five.
    static func oneEdit(_ a: String, _ b: String) -> Bool {
        // The lengths first: most pairs fail them, and copying the bytes was most of a score.
        let countA = a.utf8.count, countB = b.utf8.count
        guard min(countA, countB) >= 4, max(countA, countB) >= 5, abs(countA - countB) <= 1 else { return false }
        var shorter = Array(a.utf8)
        var longer = Array(b.utf8)
        if shorter.count == longer.count {
            let differ = shorter.indices.filter { shorter[$0] != longer[$0] }
            return differ.count == 1
                || (differ.count == 2 && differ[1] == differ[0] + 1
                    && shorter[differ[0]] == longer[differ[1]] && shorter[differ[1]] == longer[differ[0]])
        }
        if shorter.count > longer.count { swap(&shorter, &longer) }
        var i = 0
        while i < shorter.count, shorter[i] == longer[i] { i += 1 }
        return shorter[i...].elementsEqual(longer[(i + 1)...])
    }
}

/// How two partial dates agree: to the coarser of their precisions, or where they first
/// differ.
enum DateAgreement: Equatable, Sendable {
    enum Precision: String, Sendable, CustomStringConvertible {
        case day, month, year
        var description: String { rawValue }
    }

    case agrees(Precision)
    case differs(Precision)

    init(_ x: PartialDate, _ y: PartialDate) {
        if x.year != y.year {
            self = .differs(.year)
        } else if let monthX = x.month, let monthY = y.month {
            if monthX != monthY {
                self = .differs(.month)
            } else if let dayX = x.day, let dayY = y.day {
                self = dayX == dayY ? .agrees(.day) : .differs(.day)
            } else {
                self = .agrees(.month)
            }
        } else {
            self = .agrees(.year)
        }
    }
}

/// How common each name word, date and unit is in a set of cases: what makes agreement on a
/// rare value weigh more than on a common one.
struct DuplicateFrequencies: Sendable {
    /// The fewest cases whose counts say how common a name, unit or date is.
    static let minimumCases = 1_000

    enum Field: Int, Sendable { case birth = 0, since = 1 }

    private struct DateValue: Hashable, Sendable {
        let field: Field
        let precision: DateAgreement.Precision
        let value: Int
    }

    let count: Int
    private var words: [String: Int] = [:]
    private var dates: [DateValue: Int] = [:]
    private var datesKnown: [DateValue: Int] = [:]
    private var units: [String: Int] = [:]
    private var unitsKnown = 0

    init(_ identities: [PreparedIdentity]) {
        count = identities.count
        for identity in identities {
            for word in identity.coreWords { words[word, default: 0] += 1 }
            if let unit = identity.unit {
                units[unit, default: 0] += 1
                unitsKnown += 1
            }
            for (field, date) in [(Field.birth, identity.birth), (Field.since, identity.since)] {
                guard let date else { continue }
                for (precision, value) in Self.values(of: date) {
                    dates[DateValue(field: field, precision: precision, value: value), default: 0] += 1
                    datesKnown[DateValue(field: field, precision: precision, value: 0), default: 0] += 1
                }
            }
        }
    }

    /// A date at each precision it is known to.
    private static func values(of date: PartialDate) -> [(DateAgreement.Precision, Int)] {
        var values: [(DateAgreement.Precision, Int)] = [(.year, date.year)]
        if let month = date.month {
            values.append((.month, date.year * 100 + month))
            if let day = date.day { values.append((.day, (date.year * 100 + month) * 100 + day)) }
        }
        return values
    }

    /// Namesakes expected for a name made of these words (at least two): the other cases with
    /// the rarest word, times the share of cases with the next rarest.
    func namesakes(_ names: [String]) -> Double {
        let counts = names.map { words[$0] ?? 1 }.sorted()
        return Double((counts[0] - 1) * (counts[1] - 1)) / Double(count)
    }

    /// The share of the other cases that know `field` to `precision` and have this value; `nil`
    /// when too few know it.
    func share(_ field: Field, _ date: PartialDate, _ precision: DateAgreement.Precision) -> Double? {
        let known = datesKnown[DateValue(field: field, precision: precision, value: 0)] ?? 0
        guard known > 1 else { return nil }
        let value = Self.values(of: date).first { $0.0 == precision }!.1
        let same = dates[DateValue(field: field, precision: precision, value: value)] ?? 0
        return Double(max(same - 1, 1)) / Double(known - 1)
    }

    func unitShare(_ unit: String) -> Double? {
        guard unitsKnown > 1 else { return nil }
        return Double(max((units[unit] ?? 0) - 1, 1)) / Double(unitsKnown - 1)
    }
}
