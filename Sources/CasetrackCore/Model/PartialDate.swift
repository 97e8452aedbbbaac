/// A date known to a day, a month or only a year: `2022-05-20`, `2022-05`, `2022`.
///
/// Families and statements often know only the month or the year a person went missing; the
/// record keeps exactly what is known. An unknown date is the absence of a `PartialDate`
/// (written `unknown` on the wire).
public struct PartialDate: Hashable, Sendable, CustomStringConvertible {
    /// How much of the date is known.
    public enum Precision: String, Sendable, CaseIterable {
        case day, month, year, unknown
    }

    public let year: Int
    public let month: Int?
    public let day: Int?

    /// Years a date may have: anything earlier or later is a typing error.
    public static let validYears = 1900...2200

    public init?(year: Int, month: Int? = nil, day: Int? = nil) {
        guard PartialDate.validYears.contains(year) else { return nil }
        if let month {
            guard (1...12).contains(month) else { return nil }
            if let day { guard Day(year: year, month: month, day: day) != nil else { return nil } }
        } else if day != nil {
            return nil
        }
        self.year = year
        self.month = month
        self.day = day
    }

    public init(_ day: Day) {
        let (y, m, d) = day.components
        self.year = y
        self.month = m
        self.day = d
    }

    /// Parses `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (ASCII digits only).
    public init?(_ text: some StringProtocol) {
        // By bytes: every record read decodes up to three dates, and splitting into
        // substrings and checking characters cost more than the rest of the read.
        var parts = (0, 0, 0)
        var part = 0
        var digits = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: "-") {
                guard digits == (part == 0 ? 4 : 2), part < 2 else { return nil }
                part += 1
                digits = 0
                continue
            }
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10, digits < (part == 0 ? 4 : 2) else { return nil }
            digits += 1
            switch part {
            case 0: parts.0 = parts.0 * 10 + Int(digit)
            case 1: parts.1 = parts.1 * 10 + Int(digit)
            default: parts.2 = parts.2 * 10 + Int(digit)
            }
        }
        guard digits == (part == 0 ? 4 : 2) else { return nil }
        self.init(year: parts.0, month: part >= 1 ? parts.1 : nil, day: part == 2 ? parts.2 : nil)
    }

    public var precision: Precision { day != nil ? .day : month != nil ? .month : .year }

    /// The first day the date can mean. casetrack counts durations from it, so a person whose
    /// detention is known only as "2016" counts as held from 2016-01-01.
    public var firstDay: Day {
        Day(year: year, month: month ?? 1, day: day ?? 1) ?? Day(daysSinceEpoch: 0)
    }

    /// The last day the date can mean.
    public var lastDay: Day {
        let month = self.month ?? 12
        return Day(year: year, month: month, day: day ?? Day.daysIn(year: year, month: month)) ?? firstDay
    }

    public var description: String {
        var text = Day.pad(year, 4)
        if let month { text += "-" + Day.pad(month, 2) }
        if let day { text += "-" + Day.pad(day, 2) }
        return text
    }

    /// Parses a wire value: a partial date, or `unknown` for none. `today` (the UTC day) bounds
    /// it: casetrack records what has happened, so a date after today is refused. After today's
    /// UTC day by one: east of Greenwich the next day has begun (in Kyiv from 21:00 or 22:00
    /// UTC), and an office there recording what happened today was told it lay in the future.
    static func parse(_ text: String, field: String, today: Day) throws -> PartialDate? {
        if text.lowercased() == "unknown" { return nil }
        guard let date = PartialDate(text) else {
            throw CasetrackError.badArgument(
                "\(field): '\(text)' is not a date; write YYYY-MM-DD, YYYY-MM, YYYY or unknown (years \(validYears.lowerBound)-\(validYears.upperBound))")
        }
        guard date.firstDay <= today.adding(days: 1) else {
            throw CasetrackError.badArgument("\(field): \(text) is in the future (today is \(today), UTC)")
        }
        return date
    }
}
