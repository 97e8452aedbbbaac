import CasetrackCore
import CasetrackStore
import CasetrackTestSupport
import Testing
import TestThreads

/// Filters, counts and statistics on 10,000 generated cases, checked against the core's
/// reference meaning of each filter applied to the same records in memory.
@Suite("Queries on 10,000 cases", .blocking)
struct QueryTests {
    static let caseCount = 10_000

    /// Opens the cases, then moves some of them along the lifecycle with backdated events,
    /// returning every record as the store acknowledged it last.
    ///
    /// Writes run 500 at a time, so which case gets which id varies between runs; everything
    /// else is decided by the generation index and the seed, so the data set is the same.
    static func populate(_ store: SQLiteCaseStore) async throws -> [CaseID: CaseRecord] {
        var random = SeededRandom(seed: 42)
        let cases = (0..<caseCount).map { _ in Synthetic.newCase(&random, today: testToday) }
        // A third come home or die: at a day, a month or only a year after they went missing
        // (a year may start before a precise start), or at an unknown date.
        let closing: [Int: (Status, EventDetails)] = Dictionary(uniqueKeysWithValues: cases.indices
            .filter { $0 % 3 == 0 }
            .map { index in
                let start = cases[index].since?.lastDay ?? testToday.adding(days: -4_000)
                let span = max(0, testToday.daysSinceEpoch - start.daysSinceEpoch)
                let end = PartialDate(start.adding(days: Int.random(in: 0...span, using: &random)))
                let details: EventDetails
                switch index % 4 {
                case 0: details = EventDetails(occurredOn: PartialDate(year: end.year))
                case 1: details = EventDetails(occurredOn: PartialDate(year: end.year, month: end.month))
                case 2 where index % 5 == 0: details = EventDetails(occurredUnknown: true)
                default: details = EventDetails(occurredOn: end)
                }
                return (index, (index % 15 == 0 ? .deceased : .returned, details))
            })
        var opened: [Int: CaseID] = [:]
        var records: [CaseID: CaseRecord] = [:]
        for batch in stride(from: 0, to: cases.count, by: 500) {
            let changes = try await withThrowingTaskGroup(of: (Int, CaseChange).self) { group in
                for index in batch..<min(batch + 500, cases.count) {
                    let new = cases[index]
                    group.addTask {
                        (index, try await store.add(new, details: EventDetails(), actor: testActor,
                                                    clock: clock(Int64(index) * 1_000)))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for (index, change) in changes {
                opened[index] = change.record.id
                records[change.record.id] = change.record
            }
        }
        let closed = try await withThrowingTaskGroup(of: CaseChange.self) { group in
            for (index, (status, details)) in closing {
                guard let id = opened[index] else { continue }
                group.addTask {
                    try await store.setStatus(id, to: status, details: details, actor: testActor, expectVersion: nil,
                                              correction: false, clock: clock(20_000_000 + Int64(index)))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for change in closed { records[change.record.id] = change.record }
        // Half the cases get captivity events: a transfer to one of a few places, and one or
        // two proofs of life, dated to the day, the month or the year, some of them recent.
        let places = ["Колонія №3", "СІЗО-2", "Табір Північ", "Лікарня №1"]
        let ids = records.keys.sorted()
        for (index, id) in ids.enumerated() where index % 2 == 0 {
            var details: [(CaptivityEventType, CaptivityDetails, PartialDate)] = []
            if index % 6 == 0 { details.append((.transfer, CaptivityDetails(to: places[index / 6 % places.count]), PartialDate(year: 2021)!)) }
            for proof in 0..<(1 + index % 4 / 3) {
                let day = testToday.adding(days: -Int.random(in: 0...2_500, using: &random) - proof * 30)
                let (year, month, _) = day.components
                let date = index % 5 == 0 ? PartialDate(year: year)! : index % 5 == 1 ? PartialDate(year: year, month: month)!
                    : PartialDate(day)
                details.append((proof % 2 == 0 ? .sighting : .communication, CaptivityDetails(proof: .letter), date))
            }
            for (type, captivity, found) in details {
                // A closed case's signs of life come before its end.
                var date = found
                if let record = records[id], !record.status.isOpen, let ended = record.endedOn, date.firstDay > ended.lastDay { date = ended }
                let change = try await store.recordEvent(id, type, captivity, details: EventDetails(occurredOn: date), actor: testActor,
                                                         expectVersion: nil, clock: clock(30_000_000 + Int64(index)))
                records[id] = change.record
            }
        }
        return records
    }

    static func filters(_ random: inout SeededRandom) -> [CaseFilter] {
        var fixed: [CaseFilter] = []
        func filter(_ build: (inout CaseFilter) -> Void) { var f = CaseFilter(); build(&f); fixed.append(f) }
        filter { _ in }
        filter { $0.categories = [.civilian]; $0.statuses = [.captive]; $0.heldMin = HeldDuration(years: 8) }
        filter { $0.heldMin = HeldDuration(years: 1) }
        filter { $0.heldMin = HeldDuration(months: 18); $0.statuses = [.returned, .deceased] }
        filter { $0.heldMin = HeldDuration(days: 90) }
        // Open statuses held some time and nothing else: counted from the span counts.
        filter { $0.statuses = [.captive, .missing]; $0.heldMin = HeldDuration(years: 3) }
        filter { $0.statuses = [.missing]; $0.categories = [.military]; $0.heldMin = HeldDuration(years: 1, months: 6, days: 17) }
        filter { $0.statuses = [.captive]; $0.heldMin = HeldDuration(days: 0) }
        filter { $0.statuses = [.captive, .missing]; $0.categories = [.civilian, .military]; $0.heldMin = HeldDuration(years: 30) }
        for days in stride(from: 1, through: 64, by: 7) {
            filter { $0.statuses = [.captive]; $0.categories = [.civilian]; $0.heldMin = HeldDuration(years: 5, days: days) }
        }
        filter { $0.tags = ["azov"]; $0.statuses = [.captive] }
        filter { $0.tags = ["azov", "medic"] }
        filter { $0.unit = "12TH  Brigade" }
        filter { $0.sinceFrom = Day(year: 2020, month: 1, day: 1); $0.sinceBefore = Day(year: 2022, month: 3, day: 1) }
        filter { $0.updatedSince = clock(20_000_000).now }
        filter { $0.name = "ivanenko" }
        filter { $0.name = "Іваненко Петро" }
        filter { $0.name = "yulia kovalchuk" }
        filter { $0.name = "hryhoriy" }
        filter { $0.name = "grigorij scherbina"; $0.categories = [.military] }
        filter { $0.name = "zgursk" }
        filter { $0.name = "yuli" }
        filter { $0.name = "k" }
        filter { $0.name = "hryhori t" }
        filter { $0.endedFrom = Day(year: 2020, month: 1, day: 1) }
        filter { $0.endedBefore = Day(year: 2024, month: 6, day: 1); $0.statuses = [.returned] }
        // The counted fast path of open cases held N years, with a proof condition beside it.
        filter { $0.statuses = [.captive, .missing]; $0.heldMin = HeldDuration(years: 1); $0.noProof = true }
        filter { $0.statuses = [.captive]; $0.categories = [.civilian]; $0.heldMin = HeldDuration(years: 2)
            $0.proofOlder = HeldDuration(months: 6) }
        for _ in 0..<150 {
            var f = CaseFilter()
            if Bool.random(using: &random) { f.statuses = Set(Status.allCases.filter { _ in Bool.random(using: &random) }) }
            if Int.random(in: 0..<3, using: &random) == 0 { f.categories = [Category.allCases.randomElement(using: &random)!] }
            if Int.random(in: 0..<3, using: &random) == 0 { f.tags = [Synthetic.tags.randomElement(using: &random)!] }
            if Int.random(in: 0..<4, using: &random) == 0 { f.unit = Synthetic.units.randomElement(using: &random) }
            if Int.random(in: 0..<3, using: &random) == 0 {
                f.heldMin = HeldDuration(years: Int.random(in: 0...9, using: &random), months: Int.random(in: 0...11, using: &random),
                                         days: Int.random(in: 0...40, using: &random))
            }
            if Int.random(in: 0..<4, using: &random) == 0 { f.sinceFrom = testToday.adding(days: -Int.random(in: 0...4_000, using: &random)) }
            if Int.random(in: 0..<4, using: &random) == 0 { f.sinceBefore = testToday.adding(days: -Int.random(in: 0...4_000, using: &random)) }
            if Int.random(in: 0..<5, using: &random) == 0 { f.endedFrom = testToday.adding(days: -Int.random(in: 0...4_000, using: &random)) }
            if Int.random(in: 0..<5, using: &random) == 0 { f.endedBefore = testToday.adding(days: -Int.random(in: 0...4_000, using: &random)) }
            switch Int.random(in: 0..<8, using: &random) {
            case 0: f.noProof = true
            case 1, 2:
                f.proofOlder = HeldDuration(years: Int.random(in: 0...5, using: &random), months: Int.random(in: 0...11, using: &random),
                                            days: Int.random(in: 0...40, using: &random))
            default: break
            }
            if Int.random(in: 0..<4, using: &random) == 0 {
                let surname = Synthetic.surnames.randomElement(using: &random)!
                f.name = Bool.random(using: &random) ? surname : Synthetic.romanize(surname, variant: Int.random(in: 0...1, using: &random))
            }
            fixed.append(f)
        }
        return fixed
    }

    @Test("list, count and statistics agree with the reference filter", arguments: StoreKind.all)
    func agree(_ kind: StoreKind) async throws {
        try await withStore(kind) { store, _ in
            let records = try await Self.populate(store)
            #expect(records.count == Self.caseCount)
            let keys = records.mapValues { NameKey.keys(for: $0.names) }
            var random = SeededRandom(seed: 7)
            var nonEmpty = 0
            for (index, filter) in Self.filters(&random).enumerated() {
                let matching = records.values.filter { filter.matches($0, today: testToday, nameKeys: keys[$0.id] ?? []) }
                let expected = matching.map(\.id).sorted()
                if !expected.isEmpty { nonEmpty += 1 }
                #expect(try await store.count(filter, today: testToday) == expected.count, "count \(filter)")
                // Page through with a small page to exercise `after`.
                var listed: [CaseID] = []
                var after: CaseID?
                repeat {
                    let page = try await store.list(filter, today: testToday, limit: 997, after: after)
                    listed += page.map(\.id)
                    after = page.count == 997 ? page.last?.id : nil
                } while after != nil
                // Compared as a Bool so that a failure names the first differences, not 10,000 ids.
                let sameList = listed == expected
                #expect(sameList, """
                    list \(filter): missing \(Set(expected).subtracting(listed).sorted().prefix(5)), \
                    extra \(Set(listed).subtracting(expected).sorted().prefix(5))
                    """)
                let statistics = try await store.statistics(filter, today: testToday)
                #expect(statistics.total == expected.count)
                for status in Status.allCases {
                    for category in Category.allCases {
                        let count = matching.filter { $0.status == status && $0.category == category }.count
                        #expect(statistics.count(status, category) == count)
                    }
                }
                // Every breakdown for a third of the filters: enough variety, a third of the time.
                if index % 3 == 0 { try await Self.checkBreakdowns(store, filter, matching) }
            }
            #expect(nonEmpty > 100, "the generated filters mostly select something")
            let stored = try await store.list(CaseFilter(), today: testToday, limit: Self.caseCount, after: nil)
            let sameRecords = stored == records.values.sorted { $0.id < $1.id }
            #expect(sameRecords, "every record reads back as acknowledged")
        }
    }

    /// Every `STATS by=` table, figure by figure, against the same records grouped in memory.
    static func checkBreakdowns(_ store: SQLiteCaseStore, _ filter: CaseFilter, _ matching: [CaseRecord]) async throws {
        func table(_ breakdown: Breakdown, from: Day? = nil, to: Day? = nil) async throws -> StatisticsTable {
            let table = try await store.statistics(StatisticsQuery(filter: filter, breakdown: breakdown, from: from, to: to), today: testToday)
            #expect(table.final.int("total") == Int64(matching.count), "\(breakdown) total")
            return table
        }
        let categories = [Category.military, .civilian]
        // Grouped once per filter (the lines are compared against dictionaries, not rescans).
        var buckets: [String: Int] = [:]
        var unitCounts: [String: [Status: Int]] = [:]
        var tagCounts: [String: [Status: Int]] = [:]
        var dayCounts: [String: Int] = [:]
        for record in matching {
            buckets["\(record.category)/\(HeldBucket.of(record, today: testToday).rawValue)", default: 0] += 1
            if let unit = record.unit { unitCounts[CaseFilter.unitKey(unit), default: [:]][record.status, default: 0] += 1 }
            for tag in record.tags { tagCounts[tag, default: [:]][record.status, default: 0] += 1 }
            if record.status == .returned, let end = record.endedOn?.firstDay { dayCounts["\(end)/\(record.category)", default: 0] += 1 }
        }
        let held = try await table(.held)
        #expect(held.lines.count == categories.count * HeldBucket.allCases.count)
        for line in held.lines {
            let expected = buckets["\(line.string("category") ?? "")/\(line.string("bucket") ?? "")"] ?? 0
            #expect(line.int("count") == Int64(expected), "held \(line) for \(filter)")
        }
        let units = try await table(.unit)
        #expect(units.lines.count == unitCounts.count)
        #expect(units.final.int("without_unit") == Int64(matching.filter { $0.unit == nil }.count))
        for line in units.lines {
            let group = unitCounts[CaseFilter.unitKey(line.string("unit") ?? "")] ?? [:]
            for status in Status.allCases { #expect(line.int(status.rawValue) == Int64(group[status] ?? 0), "unit \(line)") }
            #expect(line.int("count") == Int64(group.values.reduce(0, +)))
        }
        let tags = try await table(.tag)
        #expect(tags.lines.compactMap { $0.string("tag") } == tagCounts.keys.sorted())
        for line in tags.lines {
            let group = tagCounts[line.string("tag") ?? ""] ?? [:]
            for status in Status.allCases { #expect(line.int(status.rawValue) == Int64(group[status] ?? 0), "tag \(line)") }
        }
        var proofCounts: [String: Int] = [:]
        var placeCounts: [String: [Status: Int]] = [:]
        for record in matching {
            if record.status.isOpen { proofCounts["\(record.category)/\(ProofBucket.of(record, today: testToday).rawValue)", default: 0] += 1 }
            if let place = record.detentionPlace { placeCounts[place, default: [:]][record.status, default: 0] += 1 }
        }
        let proofs = try await table(.proof)
        #expect(proofs.lines.count == categories.count * ProofBucket.allCases.count)
        for line in proofs.lines {
            let expected = proofCounts["\(line.string("category") ?? "")/\(line.string("bucket") ?? "")"] ?? 0
            #expect(line.int("count") == Int64(expected), "proof \(line) for \(filter)")
        }
        #expect(proofs.final.int("closed") == Int64(matching.filter { !$0.status.isOpen }.count))
        let placeTable = try await table(.place)
        #expect(placeTable.lines.compactMap { $0.string("place") } == placeCounts.keys.sorted())
        #expect(placeTable.final.int("without_place") == Int64(matching.filter { $0.detentionPlace == nil }.count))
        for line in placeTable.lines {
            let group = placeCounts[line.string("place") ?? ""] ?? [:]
            for status in Status.allCases { #expect(line.int(status.rawValue) == Int64(group[status] ?? 0), "place \(line)") }
        }
        let from = testToday.adding(days: -1_500), to = testToday.adding(days: -1_000)
        let days = try await table(.day, from: from, to: to)
        #expect(days.lines.count == 501)
        var returned = 0
        for line in days.lines {
            for category in categories {
                let expected = dayCounts["\(line.string("day") ?? "")/\(category)"] ?? 0
                #expect(line.int(category.rawValue) == Int64(expected), "day \(line)")
                returned += expected
            }
        }
        #expect(days.final.int("returned") == Int64(returned))
    }
}
