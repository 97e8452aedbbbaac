import CasetrackCore
import CasetrackTestSupport
import Testing

@Suite("Duplicate detection")
struct DuplicateTests {
    /// 10,000 cases, 500 planted duplicates, 100 hard negatives (seed 19).
    static let planted = PlantedDuplicates.generate(count: 10_000)

    // MARK: Folding

    @Test("every spelling of a name word folds to one skeleton", arguments: [
        ["Hryhorii", "Hryhoriy", "Григорій", "Grigoriy", "Grigorij", "Hryhorij"],
        ["Yuliia", "Yulia", "Julia", "Юлія", "Yuliya", "Julija", "Ûlìâ"],
        ["Oleksii", "Oleksiy", "Олексій", "Oleksij", "Oleksìj"],
        ["Shevchenko", "Ševčenko", "Schewtschenko", "Шевченко", "Szewczenko", "Sevcenko", "SHEVCHENKO",
         "S\u{30C}evc\u{30C}enko"],
        ["Shcherbyna", "Щербина", "Ščerbyna", "Schtscherbyna", "Scerbyna", "Ŝerbina"],
        ["Zghurskyi", "Згурський", "Zgurskyi", "Zgurskij", "Zgurs'kyj"],
        ["Олексійович", "Oleksiiovych", "Oleksiyovych", "Oleksijowytsch", "Oleksijovyč"],
        ["Ковальчук", "Kovalchuk", "Koval'chuk", "Kowaltschuk", "Kovalčuk", "Kowalczuk"],
        ["Євген", "Yevhen", "Ievhen", "Jewhen", "Evgen", "Êvgen"],
        ["Братський", "Bratskyi", "Bratsʹkyy"],
        ["Зеленський", "Zelenskyi", "Selenskyj", "Zelens'kyy", "Zelenskiy"],
        ["Марія", "Mariia", "Mariya", "Maria", "Marija"],
        ["Михайло", "Mykhailo", "Mykhaylo", "Mihajlo"],
    ])
    func variantsFoldEqual(_ spellings: [String]) {
        let folded = spellings.map { NameFolding.fold($0) }
        let shown = zip(spellings, folded).map { $0.0 + "=" + $0.1 }.joined(separator: ", ")
        #expect(Set(folded).count == 1, "\(shown)")
        #expect(folded.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isASCII) })
    }

    @Test("different names stay different", arguments: [
        ("Ivanenko", "Ivanchenko"), ("Kovalenko", "Kovalchuk"), ("Petro", "Pavlo"), ("Олена", "Ольга"),
        ("Shevchenko", "Shevchuk"), ("Бойко", "Бойченко"),
    ])
    func differentStayApart(_ a: String, _ b: String) {
        #expect(NameFolding.fold(a) != NameFolding.fold(b))
    }

    @Test("skeletons, words and patronymics")
    func skeletons() {
        #expect(NameFolding.fold("Shevchenko") == "sevcenko")
        #expect(NameFolding.fold("Yuliia") == "ula")
        #expect(NameFolding.words(of: "Іваненко Петро Олексійович") == ["ivanenko", "petro", "oleksovic"])
        #expect(NameFolding.words(of: "  Petro-Ivan, 2 ---") == ["petro", "ivan"])
        for patronymic in ["Олексійович", "Андріївна", "Ілліч", "Petrovych", "Алексеевна", "Ивановна", "Ильинична"] {
            #expect(NameFolding.isPatronymic(NameFolding.fold(patronymic)), "\(patronymic)")
        }
        for name in ["Петро", "Ivanenko", "Юлія"] {
            #expect(!NameFolding.isPatronymic(NameFolding.fold(name)), "\(name)")
        }
        // A surname that ends like a patronymic is not taken for one in first position.
        #expect(NameFolding.patronymicIndex(in: NameFolding.words(of: "Карпович Петро Іванович")) == 2)
        #expect(NameFolding.patronymicIndex(in: NameFolding.words(of: "Петро Іванович Карпович")) == 1)
        #expect(NameFolding.patronymicIndex(in: NameFolding.words(of: "Петро Карпович")) == nil)
    }

    @Test("service numbers compare across keyboards and separators")
    func serviceKeys() {
        let keys = ["АА-123456", "aa 123456", "AA123456", "аа/123456", "Aa.123456"].map(Identity.serviceKey)
        #expect(Set(keys) == ["AA123456"])
        #expect(Identity.serviceKey("AB-123456") != Identity.serviceKey("AA-123456"))
    }

    // MARK: Scoring

    static func person(
        _ number: Int64, _ names: [String], born: String? = nil, sex: Sex? = nil, unit: String? = nil,
        since: String? = nil, service: String? = nil, references: [String] = []
    ) -> Identity {
        Identity(id: CaseID(number: number), names: names, birth: born.flatMap { PartialDate($0) }, sex: sex,
                 serviceNumber: service, unit: unit, since: since.flatMap { PartialDate($0) }, references: references)
    }

    @Test("the same person in Cyrillic and in the passport spelling, born the same day")
    func sameDay() throws {
        let candidate = try #require(DuplicateScoring.score(
            Self.person(1, ["Шевченко Григорій Олексійович"], born: "1985-03-14", sex: .male),
            Self.person(2, ["Shevchenko Hryhorii"], born: "1985-03-14", sex: .male)))
        #expect(candidate.reasons.map(\.code) == ["names", "birth"])
        #expect(candidate.reasons[1].detail == "birth dates agree to the day")
        #expect(abs(candidate.score - 0.998) < 0.001)
        #expect(candidate.score >= DuplicateScoring.defaultThreshold)
    }

    @Test("swapped order, no patronymic, another romanization, birth known to the month")
    func coarserBirth() throws {
        let candidate = try #require(DuplicateScoring.score(
            Self.person(2, ["Hryhoriy Shevchenko"], born: "1985-03"),
            Self.person(1, ["Шевченко Григорій Олексійович"], born: "1985-03-14")))
        #expect(candidate.a == CaseID(number: 1) && candidate.b == CaseID(number: 2))
        #expect(candidate.reasons.map(\.code) == ["names", "birth"])
        #expect(abs(candidate.score - 0.947) < 0.001)
    }

    @Test("an initial stands for the word it begins: a patronymic written as its first letter")
    func initials() throws {
        let candidate = try #require(DuplicateScoring.score(
            Self.person(1, ["Шевченко Григорій Олексійович"], born: "1985-03-14", sex: .male),
            Self.person(2, ["Шевченко Григорій О."], born: "1985-03-14", sex: .male)))
        #expect(candidate.reasons.map(\.code) == ["names", "birth"], "\(candidate.reasons)")
        #expect(candidate.score >= DuplicateScoring.defaultThreshold)
        // Another letter is another word, as before.
        let other = DuplicateScoring.score(
            Self.person(1, ["Шевченко Григорій Олексійович"], born: "1985-03-14", sex: .male),
            Self.person(2, ["Шевченко Григорій П."], born: "1985-03-14", sex: .male))
        #expect(other.map { $0.score < DuplicateScoring.defaultThreshold } ?? true, "\(String(describing: other))")
    }

    @Test("a typing error in one word still matches, with less weight")
    func typo() throws {
        let candidate = try #require(DuplicateScoring.score(
            Self.person(1, ["Kovalchuk Oleksandr"], born: "1990-07-01"),
            Self.person(2, ["Kowaltschuk Oleksadr"], born: "1990-07-01")))
        #expect(candidate.reasons[0].detail == "names agree but for one letter in 1 word")
        #expect(abs(candidate.score - 0.980) < 0.001)
    }

    @Test("a shared service number decides, whatever else differs")
    func serviceNumberDecides() throws {
        let candidate = try #require(DuplicateScoring.score(
            Self.person(1, ["Ivanenko Petro"], born: "1970-01-01", sex: .male, service: "АА-123456"),
            Self.person(2, ["Bondarenko Olena"], born: "1990-02-02", sex: .female, service: "aa 123456")))
        #expect(candidate.score == 1)
        #expect(candidate.reasons.map(\.code) == ["same-service-number", "names-differ", "birth-differs", "sex-differs"])
    }

    @Test("a shared reference decides")
    func referenceDecides() throws {
        let candidate = try #require(DuplicateScoring.score(
            Self.person(1, ["Ivanenko Petro"], references: ["ICRC-0001234"]),
            Self.person(2, ["Petro Ivanenko"], references: ["icrc 0001234"])))
        #expect(candidate.score == 1)
        #expect(candidate.reasons.first?.code == "same-reference")
    }

    @Test("weak or contrary evidence stays below the threshold")
    func weak() throws {
        // Names alone: without a set to tell how rare the name is, a namesake is as likely.
        let namesOnly = try #require(DuplicateScoring.score(
            Self.person(1, ["Ivanenko Petro"]), Self.person(2, ["Іваненко Петро"])))
        #expect(namesOnly.score < DuplicateScoring.defaultThreshold)
        // Different patronymics weigh against, but the names still agree.
        let fathers = try #require(DuplicateScoring.score(
            Self.person(1, ["Ivanenko Petro Ivanovych"], born: "1980-05-06"),
            Self.person(2, ["Іваненко Петро Андрійович"], born: "1980-05-06")))
        #expect(fathers.reasons.map(\.code) == ["names", "patronymic-differs", "birth"])
        // Nothing in common at all: no candidate.
        #expect(DuplicateScoring.score(Self.person(1, ["Ivanenko Petro"]), Self.person(2, ["Bondarenko Olena"])) == nil)
    }

    @Test("different birth year and sex: never a pair, even with everything else alike")
    func yearAndSexDiffer() {
        let a = Self.person(1, ["Зґурський Тарас Петрович"], born: "1980-05-05", sex: .male, unit: "12 brigade",
                            since: "2022-05-20")
        let b = Self.person(2, ["Зґурський Тарас Петрович"], born: "1983-05-05", sex: .female, unit: "12 brigade",
                            since: "2022-05-20")
        #expect((DuplicateScoring.score(a, b)?.score ?? 0) < DuplicateScoring.defaultThreshold)

        // In a set, where a unique unit and since date weigh the most they can.
        var set = PlantedDuplicates.generate(count: 400, duplicateShare: 0, hardNegativeShare: 0, seed: 7).identities
        var twin = a
        twin.id = CaseID(number: 1002)
        twin.unit = "unit seen nowhere else"
        twin.since = PartialDate("2019-07-13")
        var other = twin
        other.id = CaseID(number: 1003)
        other.birth = PartialDate("1983-05-05")
        other.sex = .female
        set += [twin, other]
        // (Different birth years share no blocking key either; the score above is the rule.)
        let apart = DuplicateBlocking.candidates(set).candidates.map(\.pair)
        #expect(!apart.contains(CasePair(twin.id, other.id)))
        // The same two with the same birth and sex are found: the test can tell.
        set[set.count - 1].birth = twin.birth
        set[set.count - 1].sex = twin.sex
        let together = DuplicateBlocking.candidates(set).candidates.map(\.pair)
        #expect(together.contains(CasePair(twin.id, other.id)))
    }

    // MARK: Blocking

    @Test("duplicates share a blocking key: another script, a typo, a birth date missing on one side")
    func sharedKeys() {
        let original = DuplicateBlocking.keys(for: Self.person(1, ["Шевченко Григорій Олексійович"], born: "1985-03-14"))
        for variant in [
            Self.person(2, ["Hryhoriy Shevchenko"], born: "1985"),
            Self.person(3, ["Shevchenko Hryhorii"]),
            Self.person(4, ["Shevchenko Hyrhorii"], born: "1985-03"),
            Self.person(5, ["Shecvhenko Hryhorii"], born: "1985-03-14"),
        ] {
            #expect(!original.isDisjoint(with: DuplicateBlocking.keys(for: variant)), "\(variant.names)")
        }
        let numbered = DuplicateBlocking.keys(for: Self.person(6, ["X Y"], service: "AA-1"))
        #expect(numbered.contains("s:AA1"))
    }

    @Test("the generator is the one the figures were measured on")
    func generatorMatchesModel() {
        let planted = Self.planted
        let first = planted.identities[0]
        #expect(first.names == ["Ґехак Олексій Васильович", "Gekhak Oleksii"])
        #expect(first.birth == PartialDate(year: 1978))
        #expect(first.unit == "2 brigade" && first.references == ["ICRC-0000001"] && first.sex == nil)
        #expect(planted.identities[9401].names == ["Schokalak Mychajlo"])
        #expect(planted.identities[9900].names == ["Мащенко Тарас Валерійович", "Mashchenko Taras"])
        #expect(planted.truePairs.count == 500 && planted.hardNegatives.count == 100)
        #expect(planted.truePairs.contains(CasePair(CaseID(number: 29), CaseID(number: 9648))))
        #expect(planted.identities.filter { $0.serviceNumber != nil }.count == 2920)
    }

    @Test("recall and precision on 10,000 generated cases with 5% planted duplicates")
    func plantedRecallAndPrecision() {
        let planted = Self.planted
        let search = DuplicateBlocking.candidates(planted.identities)
        let (recall, precision) = planted.measure(search.candidates)
        let allPairs = planted.identities.count * (planted.identities.count - 1) / 2
        print("duplicates: recall \(recall), precision \(precision), \(search.candidates.count) candidates; "
            + "\(search.comparisons) comparisons, \(search.scored) scored of \(allPairs) pairs; "
            + "largest block \(search.largestBlock), oversized \(search.oversizedBlocks)")
        #expect(recall >= 0.95)
        #expect(precision >= 0.95)
        #expect(planted.hardNegatives.isDisjoint(with: search.candidates.map(\.pair)))
        #expect(search.comparisons * 1_000 < allPairs)
        #expect(search.oversizedBlocks == 0)
        // Best first.
        #expect(zip(search.candidates, search.candidates.dropFirst()).allSatisfy { pair in pair.0.score >= pair.1.score })
    }

    @Test("skipping the pairs whose ceiling is below the threshold changes no answer", arguments: [0.2, 0.5, 0.9])
    func ceilingChangesNothing(threshold: Double) {
        // The planted set (rare names, many fields), and a register of few common names
        // (the benchmark's), where most pairs in a block are namesakes born the same year.
        var random = SeededRandom(seed: 7)
        let today = Day(year: 2026, month: 12, day: 1)!
        let common = (1...4_000).map { number in
            let new = Synthetic.newCase(&random, today: today)
            return Identity(id: CaseID(number: Int64(number)), names: new.names, birth: new.birth, unit: new.unit, since: new.since)
        }
        for identities in [Self.planted.identities, common] {
            let fast = DuplicateBlocking.candidates(identities, threshold: threshold)
            let full = DuplicateBlocking.candidates(identities, threshold: threshold, skipHopeless: false)
            #expect(fast.candidates == full.candidates)
            #expect(fast.scored + fast.skipped == full.scored && full.skipped == 0)
            if identities.count == common.count {
                // The test can tell: most pairs there are skipped.
                #expect(fast.skipped > fast.scored, "\(fast.skipped) skipped, \(fast.scored) scored")
                #expect(!fast.candidates.isEmpty)
            }
        }
    }

    @Test("excluded pairs are not proposed again")
    func excluding() {
        let planted = PlantedDuplicates.generate(count: 2_000)
        let first = DuplicateBlocking.candidates(planted.identities).candidates
        let judged = Set(first.prefix(10).map(\.pair))
        let again = DuplicateBlocking.candidates(planted.identities, excluding: judged).candidates
        #expect(again.count == first.count - judged.count)
        #expect(judged.isDisjoint(with: again.map(\.pair)))
    }
}
