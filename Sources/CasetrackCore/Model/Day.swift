/// A calendar day in the proleptic Gregorian calendar, counted from 1970-01-01.
///
/// casetrack does its date arithmetic on whole days in UTC: what matters for a family is the
/// day a person was detained or came home, not the hour.
public struct Day: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let daysSinceEpoch: Int

    public init(daysSinceEpoch: Int) { self.daysSinceEpoch = daysSinceEpoch }

    /// The day that contains the given instant (UTC).
    public init(unixMilliseconds: Int64) {
        self.daysSinceEpoch = Int((unixMilliseconds >= 0 ? unixMilliseconds : unixMilliseconds - 86_399_999) / 86_400_000)
    }

    /// Builds a day from its civil components; `nil` when the components name no real day.
    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), day >= 1, day <= Day.daysIn(year: year, month: month) else { return nil }
        // Howard Hinnant's days_from_civil.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        self.daysSinceEpoch = era * 146_097 + doe - 719_468
    }

    /// The civil year, month and day.
    public var components: (year: Int, month: Int, day: Int) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// `YYYY-MM-DD`.
    public var description: String {
        let (y, m, d) = components
        // Years outside 0-9999 never come from a parsed date; they keep the general form.
        guard (0...9999).contains(y) else { return Day.pad(y, 4) + "-" + Day.pad(m, 2) + "-" + Day.pad(d, 2) }
        return String(unsafeUninitializedCapacity: 10) { buffer in
            Day.writeDate(y, m, d, into: buffer)
            return 10
        }
    }

    /// `YYYY-MM-DD` into the first 10 bytes of `buffer` (the year within 0-9999).
    static func writeDate(_ y: Int, _ m: Int, _ d: Int, into buffer: UnsafeMutableBufferPointer<UInt8>) {
        writeDigits(y, width: 4, into: buffer, at: 0)
        buffer[4] = UInt8(ascii: "-")
        writeDigits(m, width: 2, into: buffer, at: 5)
        buffer[7] = UInt8(ascii: "-")
        writeDigits(d, width: 2, into: buffer, at: 8)
    }

    public static func < (lhs: Day, rhs: Day) -> Bool { lhs.daysSinceEpoch < rhs.daysSinceEpoch }

    public func adding(days: Int) -> Day { Day(daysSinceEpoch: daysSinceEpoch + days) }

    /// Adds whole months; a day that does not exist in the target month becomes that month's
    /// last day (31 January + 1 month = 28 or 29 February).
    public func adding(months: Int) -> Day {
        let (y, m, d) = components
        let total = y * 12 + (m - 1) + months
        let year = total >= 0 ? total / 12 : (total - 11) / 12
        let month = total - year * 12 + 1
        // Components always name a real day here, so the initialiser cannot fail.
        return Day(year: year, month: month, day: min(d, Day.daysIn(year: year, month: month)))
            ?? self
    }

    public static func daysIn(year: Int, month: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// Writes `value` (not negative, fewer than `width` + 1 digits) as exactly `width` ASCII
    /// digits at `offset`, zero-padded on the left.
    static func writeDigits(_ value: Int, width: Int, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        var rest = value
        for position in stride(from: offset + width - 1, through: offset, by: -1) {
            buffer[position] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        }
    }
}
