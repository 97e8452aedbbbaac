/// An instant, in milliseconds since 1970-01-01T00:00:00Z: when an event was recorded.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let unixMilliseconds: Int64

    public init(unixMilliseconds: Int64) { self.unixMilliseconds = unixMilliseconds }

    public var day: Day { Day(unixMilliseconds: unixMilliseconds) }

    /// RFC 3339 in UTC with milliseconds: `2025-05-23T09:41:07.120Z`.
    public var description: String {
        let msOfDay = Int(unixMilliseconds - Int64(day.daysSinceEpoch) * 86_400_000)
        let seconds = msOfDay / 1000
        let (y, m, d) = day.components
        // Two of these in every answer with a record: written as bytes, not concatenated.
        if (0...9999).contains(y) {
            return String(unsafeUninitializedCapacity: 24) { buffer in
                Day.writeDate(y, m, d, into: buffer)
                buffer[10] = UInt8(ascii: "T")
                Day.writeDigits(seconds / 3600, width: 2, into: buffer, at: 11)
                buffer[13] = UInt8(ascii: ":")
                Day.writeDigits(seconds / 60 % 60, width: 2, into: buffer, at: 14)
                buffer[16] = UInt8(ascii: ":")
                Day.writeDigits(seconds % 60, width: 2, into: buffer, at: 17)
                buffer[19] = UInt8(ascii: ".")
                Day.writeDigits(msOfDay % 1000, width: 3, into: buffer, at: 20)
                buffer[23] = UInt8(ascii: "Z")
                return 24
            }
        }
        return day.description + "T" + Day.pad(seconds / 3600, 2) + ":" + Day.pad(seconds / 60 % 60, 2) + ":"
            + Day.pad(seconds % 60, 2) + "." + Day.pad(msOfDay % 1000, 3) + "Z"
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.unixMilliseconds < rhs.unixMilliseconds }

    /// Parses what ``description`` writes, with or without milliseconds, or a bare day
    /// (`YYYY-MM-DD`, meaning its start).
    public init?(_ text: String) {
        if let date = PartialDate(text), date.precision == .day {
            self.unixMilliseconds = Int64(date.firstDay.daysSinceEpoch) * 86_400_000
            return
        }
        let parts = text.split(separator: "T")
        guard parts.count == 2, let date = PartialDate(parts[0]), date.precision == .day,
              parts[1].hasSuffix("Z")
        else { return nil }
        let clock = parts[1].dropLast().split(separator: ":")
        guard clock.count == 3, let hours = Int(clock[0]), let minutes = Int(clock[1]),
              (0..<24).contains(hours), (0..<60).contains(minutes)
        else { return nil }
        let secondParts = clock[2].split(separator: ".")
        guard (1...2).contains(secondParts.count), let seconds = Int(secondParts[0]), (0..<60).contains(seconds)
        else { return nil }
        var millis = 0
        if secondParts.count == 2 {
            let fraction = secondParts[1]
            guard (1...3).contains(fraction.count), let value = Int(fraction) else { return nil }
            millis = value * [100, 10, 1][fraction.count - 1]
        }
        let ms = Int64(date.firstDay.daysSinceEpoch) * 86_400_000
            + Int64(((hours * 60 + minutes) * 60 + seconds) * 1000 + millis)
        self.unixMilliseconds = ms
    }
}
