#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The most a pair's score can be, found without comparing names: what lets the search of a
/// whole register skip the pairs that cannot reach the threshold before it scores them.
///
/// In a register where a name is common, a block holds many namesakes born the same year, and
/// their pairs score low: the name says little and only agreement on the rarer fields (since,
/// unit, patronymic) could lift a pair over the threshold. Scoring a pair compares every
/// spelling of both names; this compares the other fields exactly, as
/// ``DuplicateScoring/score(_:_:frequencies:)`` weighs them, and takes for the names the most
/// either case's name can weigh against anyone (how common its own words are). It is an upper
/// bound, so skipping the pairs below the threshold changes no answer: the search finds the
/// same candidates with and without it (tested).
struct ScoreCeiling: Sendable {
    /// The most this case's names can weigh in any pair (never above 0: names alone never do
    /// better than even odds).
    let names: Double
    /// Its patronymics, numbered by the search's ``PatronymicAgreement``.
    let patronymics: [Int32]
    let birth: PartialDate?
    /// The weight of birth agreement to the year, month and day (0 where not known).
    let birthWeights: (Double, Double, Double)
    let since: PartialDate?
    /// The same for since.
    let sinceWeights: (Double, Double, Double)
    let sex: Sex?
    /// The unit as a number shared by the cases of one search, -1 when unknown.
    let unit: Int32
    let unitWeight: Double

    init(_ identity: PreparedIdentity, unit: Int32, patronymics: [Int32], frequencies: DuplicateFrequencies?) {
        var names = DuplicateScoring.namesDiffer
        for spelling in identity.spellings {
            let core = spelling.core
            // A match needs two words besides the patronymic, and can only weigh less than
            // the name's own words do: more namesakes, or a word one edit away.
            guard core.count >= 2 else { continue }
            names = max(names, DuplicateScoring.nameWeight(namesakes: frequencies?.namesakes(core)))
        }
        self.names = names
        self.patronymics = patronymics
        birth = identity.birth
        since = identity.since
        func weights(_ date: PartialDate?, _ field: DuplicateFrequencies.Field) -> (Double, Double, Double) {
            guard let date else { return (0, 0, 0) }
            func weight(_ precision: DateAgreement.Precision) -> Double {
                DuplicateScoring.dateAgreementWeight(field, date, precision, frequencies: frequencies)
            }
            return (weight(.year), date.month == nil ? 0 : weight(.month), date.day == nil ? 0 : weight(.day))
        }
        birthWeights = weights(identity.birth, .birth)
        sinceWeights = weights(identity.since, .since)
        sex = identity.sex
        self.unit = unit
        unitWeight = identity.unit.map { DuplicateScoring.unitWeight($0, frequencies: frequencies) } ?? 0
    }

    private static func weight(_ weights: (Double, Double, Double), _ precision: DateAgreement.Precision) -> Double {
        switch precision {
        case .year: weights.0
        case .month: weights.1
        case .day: weights.2
        }
    }

    /// The most the pair's weights can add up to; exact for every field but the names (and
    /// patronymics that may agree, which may also be left unpaired by the names).
    static func ceiling(_ x: ScoreCeiling, _ y: ScoreCeiling, patronymics: inout PatronymicAgreement) -> Double {
        var total = min(x.names, y.names)
        if !x.patronymics.isEmpty, !y.patronymics.isEmpty {
            total += patronymics.anyAgree(x.patronymics, y.patronymics)
                ? DuplicateScoring.patronymicAgrees : DuplicateScoring.patronymicDiffers
        }
        if let birthX = x.birth, let birthY = y.birth {
            switch DateAgreement(birthX, birthY) {
            case .agrees(let precision): total += weight(x.birthWeights, precision)
            case .differs(let precision): total += DuplicateScoring.birthDiffers(precision)
            }
        }
        if let sexX = x.sex, let sexY = y.sex, sexX != sexY { total += DuplicateScoring.sexDiffers }
        if x.unit >= 0, x.unit == y.unit { total += x.unitWeight }
        if let sinceX = x.since, let sinceY = y.since, case .agrees(let precision) = DateAgreement(sinceX, sinceY) {
            total += weight(x.sinceWeights, precision)
        }
        return total
    }

    /// The least sum of weights whose score reaches `threshold` (`-infinity` at 0), less a
    /// margin for the order in which the weights are added.
    static func needed(for threshold: Double) -> Double {
        if threshold <= 0 { return -.infinity }
        if threshold >= 1 { return .infinity }
        return -log10(1 / threshold - 1) - 1e-9
    }
}

/// The patronymics of one search, numbered, and which two agree (equal, or one edit apart, as
/// names compare them): a register has few patronymics and many pairs to ask about.
struct PatronymicAgreement {
    private var numbers: [String: Int32] = [:]
    private var words: [String] = []
    private var agreeing: [UInt64: Bool] = [:]

    mutating func numbers(of patronymics: [String]) -> [Int32] {
        patronymics.map { word in
            if let number = numbers[word] { return number }
            let number = Int32(words.count)
            numbers[word] = number
            words.append(word)
            return number
        }
    }

    /// Whether some patronymic of one agrees with some of the other: when none does, a pair
    /// gets ``DuplicateScoring/patronymicDiffers``, exactly as scoring decides it.
    mutating func anyAgree(_ x: [Int32], _ y: [Int32]) -> Bool {
        for a in x {
            for b in y where a == b || agree(a, b) { return true }
        }
        return false
    }

    private mutating func agree(_ a: Int32, _ b: Int32) -> Bool {
        let key = UInt64(UInt32(min(a, b))) << 32 | UInt64(UInt32(max(a, b)))
        if let known = agreeing[key] { return known }
        let answer = DuplicateScoring.oneEdit(words[Int(a)], words[Int(b)])
        agreeing[key] = answer
        return answer
    }
}
