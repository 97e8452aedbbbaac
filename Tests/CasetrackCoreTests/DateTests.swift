@testable import CasetrackCore
import CasetrackTestSupport
import Testing

@Suite("Dates and durations")
struct DateTests {
    @Test("days convert to civil dates and back across four centuries")
    func civil() {
        var previous: (Int, Int, Int)?
        for number in stride(from: -25_000, through: 100_000, by: 1) {
            let day = Day(daysSinceEpoch: number)
            let (y, m, d) = day.components
            #expect(Day(year: y, month: m, day: d) == day)
            if let previous { #expect(previous < (y, m, d)) }
            previous = (y, m, d)
        }
        #expect(Day(year: 1970, month: 1, day: 1)?.daysSinceEpoch == 0)
        #expect(Day(year: 2024, month: 2, day: 29) != nil && Day(year: 2023, month: 2, day: 29) == nil)
        #expect(Day(year: 2000, month: 2, day: 29) != nil && Day(year: 1900, month: 2, day: 29) == nil)
    }

    @Test("months clamp to the end of the month")
    func months() {
        #expect(Day(year: 2024, month: 1, day: 31)!.adding(months: 1) == Day(year: 2024, month: 2, day: 29))
        #expect(Day(year: 2024, month: 2, day: 29)!.adding(months: 12) == Day(year: 2025, month: 2, day: 28))
        #expect(Day(year: 2024, month: 3, day: 31)!.adding(months: -1) == Day(year: 2024, month: 2, day: 29))
        #expect(Day(year: 2024, month: 1, day: 15)!.adding(months: -13) == Day(year: 2022, month: 12, day: 15))
    }

    @Test("partial dates", arguments: [
        ("2022", "year"), ("2022-05", "month"), ("2022-05-20", "day"),
    ])
    func partial(_ text: String, _ precision: String) throws {
        let date = try #require(PartialDate(text))
        #expect(date.precision.rawValue == precision)
        #expect(date.description == text)
    }

    @Test("not dates", arguments: ["22", "2022-5", "2022-05-5", "2022-00", "2022-13", "2023-02-29", "1899", "2201",
                                    "2022-05-20-1", "２０２２", "-2022", "2022/05", "", "unknown",
                                    "2022-", "2022-05-", "2022--05", "202-205", "12022", "2022-005", "2O22", "2022-05-2x"])
    func notDates(_ text: String) {
        #expect(PartialDate(text) == nil)
    }

    @Test("a partial date spans from its first to its last day")
    func span() {
        #expect(PartialDate("2024-02")!.firstDay == Day(year: 2024, month: 2, day: 1))
        #expect(PartialDate("2024-02")!.lastDay == Day(year: 2024, month: 2, day: 29))
        #expect(PartialDate("2024")!.lastDay == Day(year: 2024, month: 12, day: 31))
    }

    @Test("durations", arguments: [("8y", 8, 0, 0), ("18m", 0, 18, 0), ("90d", 0, 0, 90), ("1y6m", 1, 6, 0), ("2Y3M4D", 2, 3, 4)])
    func durations(_ text: String, _ y: Int, _ m: Int, _ d: Int) {
        #expect(HeldDuration(text) == HeldDuration(years: y, months: m, days: d))
    }

    @Test("not durations", arguments: ["", "8", "y", "8w", "8y8y", "1.5y", "-1y", "999999y", "301y", "8 y"])
    func notDurations(_ text: String) {
        #expect(HeldDuration(text) == nil)
    }

    @Test("the open-case cut-off is exact: a start reaches the duration iff it is on or before the cut-off")
    func cutOff() {
        var random = SeededRandom(seed: 3)
        let durations = [HeldDuration(years: 8), HeldDuration(months: 1), HeldDuration(months: 18),
                         HeldDuration(days: 90), HeldDuration(years: 1, months: 6, days: 3)]
        for _ in 0..<3_000 {
            let end = Day(daysSinceEpoch: Int.random(in: 15_000...21_000, using: &random))
            let duration = durations.randomElement(using: &random)!
            let cutOff = duration.latestStart(reaching: end)
            for offset in -3...3 {
                let start = cutOff.adding(days: offset)
                #expect(duration.isReached(from: start, to: end) == (start <= cutOff), "\(duration) \(start) \(end)")
            }
        }
    }

    @Test("held-for as people read it")
    func between() {
        let start = Day(year: 2022, month: 5, day: 20)!
        #expect(HeldDuration.between(start, Day(year: 2025, month: 5, day: 23)!) == HeldDuration(years: 3, days: 3))
        #expect(HeldDuration.between(start, start) == HeldDuration())
        #expect(HeldDuration.between(Day(year: 2024, month: 1, day: 31)!, Day(year: 2024, month: 3, day: 1)!) ==
                HeldDuration(months: 1, days: 1))
    }

    @Test("timestamps print and parse as RFC 3339 UTC")
    func timestamps() {
        let stamp = Timestamp(unixMilliseconds: 1_748_000_000_123)
        #expect(stamp.description == "2025-05-23T11:33:20.123Z")
        #expect(Timestamp(stamp.description) == stamp)
        #expect(Timestamp("2025-05-23") == Timestamp(unixMilliseconds: 1_747_958_400_000))
        #expect(Timestamp("2025-05-23T25:00:00Z") == nil)
        #expect(Timestamp(unixMilliseconds: -1).description == "1969-12-31T23:59:59.999Z")
    }

    @Test("fast forms agree with the plain ones: held-for against counting month by month, printed days and instants against concatenation")
    func fastFormsAgree() {
        var random = SeededRandom(seed: 7)
        // Every start in 1990-2031 against ends up to 40 years on, month ends and leap days included.
        for _ in 0..<200_000 {
            let start = Day(daysSinceEpoch: Int.random(in: 7_300...22_645, using: &random))
            let end = start.adding(days: Int.random(in: -40...14_700, using: &random))
            var months = 0
            if start <= end { while start.adding(months: months + 1) <= end { months += 1 } }
            let expected = start <= end
                ? HeldDuration(years: months / 12, months: months % 12, days: end.daysSinceEpoch - start.adding(months: months).daysSinceEpoch)
                : HeldDuration()
            #expect(HeldDuration.between(start, end) == expected, "\(start) to \(end)")
            let stamp = Timestamp(unixMilliseconds: Int64(start.daysSinceEpoch) * 86_400_000 + Int64.random(in: 0..<86_400_000, using: &random))
            let (y, m, d) = stamp.day.components
            let ms = Int(stamp.unixMilliseconds - Int64(stamp.day.daysSinceEpoch) * 86_400_000)
            let plain = Day.pad(y, 4) + "-" + Day.pad(m, 2) + "-" + Day.pad(d, 2) + "T" + Day.pad(ms / 3_600_000, 2) + ":"
                + Day.pad(ms / 60_000 % 60, 2) + ":" + Day.pad(ms / 1000 % 60, 2) + "." + Day.pad(ms % 1000, 3) + "Z"
            #expect(stamp.description == plain)
            #expect(start.description == String(plain.prefix(10)))
        }
    }
}
