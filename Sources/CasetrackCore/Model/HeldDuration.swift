/// A length of time written as the protocol and `casectl` take it: `8y`, `18m`, `90d`, or a
/// combination such as `1y6m`.
///
/// "Held for at least D" means: the start date plus D is on or before the end date (today, for
/// an open case). Months and years are calendar months and years, so `1y` from 29 February
/// reaches 28 February.
public struct HeldDuration: Hashable, Sendable, CustomStringConvertible {
    public let years: Int
    public let months: Int
    public let days: Int

    public init(years: Int = 0, months: Int = 0, days: Int = 0) {
        self.years = years
        self.months = months
        self.days = days
    }

    public init?(_ text: String) {
        var years = 0, months = 0, days = 0
        var number = ""
        var seen = Set<Character>()
        for character in text.lowercased() {
            if character.isASCII, character.isNumber {
                number.append(character)
                guard number.count <= 5 else { return nil }
                continue
            }
            guard let value = Int(number), !seen.contains(character) else { return nil }
            seen.insert(character)
            number = ""
            switch character {
            case "y": years = value
            case "m": months = value
            case "d": days = value
            default: return nil
            }
        }
        guard number.isEmpty, !seen.isEmpty else { return nil }
        // Dates span 1900-2200: anything longer is a typing error, not a question.
        guard years <= 300, months <= 3_600, days <= 110_000 else { return nil }
        self.init(years: years, months: months, days: days)
    }

    public var description: String {
        var text = ""
        if years > 0 { text += "\(years)y" }
        if months > 0 { text += "\(months)m" }
        if days > 0 || text.isEmpty { text += "\(days)d" }
        return text
    }

    /// `start` plus this duration.
    public func after(_ start: Day) -> Day {
        start.adding(months: years * 12 + months).adding(days: days)
    }

    /// Whether someone held from `start` to `end` was held at least this long.
    public func isReached(from start: Day, to end: Day) -> Bool { after(start) <= end }

    /// The latest start from which this duration is reached by `end`: the cut-off an index
    /// can use for open cases. Exact, also around month ends, because it is checked against
    /// ``isReached(from:to:)`` itself.
    public func latestStart(reaching end: Day) -> Day {
        var start = end.adding(days: -days).adding(months: -(years * 12 + months))
        while !isReached(from: start, to: end) { start = start.adding(days: -1) }
        while isReached(from: start.adding(days: 1), to: end) { start = start.adding(days: 1) }
        return start
    }

    /// The time between two days in whole years, months and days, for people to read.
    public static func between(_ start: Day, _ end: Day) -> HeldDuration {
        guard start <= end else { return HeldDuration() }
        // The most whole months from `start` that still end on or before `end`: counted from
        // the calendar months between them, then corrected by one at a month's end. (Counted
        // one month at a time, a case held eight years cost a hundred date conversions on
        // every answer that showed it.)
        let (startYear, startMonth, _) = start.components
        let (endYear, endMonth, _) = end.components
        var months = max(0, (endYear - startYear) * 12 + endMonth - startMonth)
        while months > 0, start.adding(months: months) > end { months -= 1 }
        while start.adding(months: months + 1) <= end { months += 1 }
        let days = end.daysSinceEpoch - start.adding(months: months).daysSinceEpoch
        return HeldDuration(years: months / 12, months: months % 12, days: days)
    }

    static func parse(_ text: String, field: String) throws -> HeldDuration {
        guard let value = HeldDuration(text) else {
            throw CasetrackError.badArgument("\(field): '\(text)' is not a duration; write e.g. 8y, 18m, 90d or 1y6m")
        }
        return value
    }
}
