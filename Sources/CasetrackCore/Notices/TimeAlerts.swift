/// When the daemon records time alerts by itself: an open case that crosses a held duration,
/// an open case that had no update for a number of days, and an open case whose last proof of
/// life (or, without one, whose start) is that long ago.
///
/// Each alert is an event in the log (so a notice, with a sequence number) and is recorded at
/// most once: once per case and held threshold, once per case version for staleness (an update
/// starts the count again). A case that crossed several thresholds since the last look gets
/// one alert for the highest; the lower ones count as told.
public struct AlertPolicy: Hashable, Sendable {
    /// Held durations to alert on, shortest first. Empty: no held alerts.
    public var heldThresholds: [HeldDuration]
    /// Days without an update after which an open case is stale; `nil`: no stale alerts.
    public var staleAfterDays: Int?
    /// Ages of the last proof of life to alert on, shortest first. Empty: no proof alerts.
    public var proofThresholds: [HeldDuration] = []

    public static let defaultHeldThresholds = [HeldDuration(years: 1), HeldDuration(years: 5), HeldDuration(years: 8)]

    public init(heldThresholds: [HeldDuration] = AlertPolicy.defaultHeldThresholds, staleAfterDays: Int? = nil) {
        self.heldThresholds = heldThresholds.sorted { $0.rank < $1.rank }
        self.staleAfterDays = staleAfterDays
    }

    /// The held threshold to alert on for a case, if any: the longest one reached by `today`
    /// that ranks above `alreadyTold` (the rank of the last held alert recorded for it).
    public func heldAlert(for record: CaseRecord, alreadyTold: Int, today: Day) -> HeldDuration? {
        guard record.status.isOpen, let since = record.since else { return nil }
        return heldThresholds.last { threshold in
            threshold.rank > alreadyTold && threshold.isReached(from: since.firstDay, to: today)
        }
    }

    /// Whether an open case last changed at `updatedAt` is stale at `now`.
    public func isStale(_ record: CaseRecord, now: Timestamp) -> Bool {
        guard record.status.isOpen, let days = staleAfterDays else { return false }
        return now.unixMilliseconds - record.updatedAt.unixMilliseconds >= Int64(days) * 86_400_000
    }

    /// The proof threshold to alert on for a case, if any: the longest reached by `today`,
    /// counted from the last day its last proof of life may mean (without one, from the first
    /// day it went missing), that ranks above `alreadyTold` — the rank told for the same proof:
    /// `toldProofDay` is the proof day that rank was told for, and a newer proof starts the
    /// count again.
    public func proofAlert(for record: CaseRecord, alreadyTold: Int, toldProofDay: Int?, today: Day) -> HeldDuration? {
        guard record.status.isOpen, let from = record.proofOfLife?.on.lastDay ?? record.since?.firstDay else { return nil }
        let told = toldProofDay == record.proofOfLife?.on.lastDay.daysSinceEpoch ? alreadyTold : 0
        return proofThresholds.last { threshold in threshold.rank > told && threshold.isReached(from: from, to: today) }
    }

    /// The threshold text a stale alert carries (`90d`).
    public var staleThreshold: String? { staleAfterDays.map { "\($0)d" } }
}

extension HeldDuration {
    /// An order for thresholds: longer durations rank higher. A year counts as 12 of the
    /// longest months, so `12m` and `1y` rank the same (and a configuration may not list both).
    public var rank: Int { years * 372 + months * 31 + days }
}

/// How much of the event log the daemon keeps. Trimmed events are gone from case histories
/// too; a subscriber resuming from before the trimmed point gets an explicit gap answer.
public enum Retention: Hashable, Sendable, CustomStringConvertible {
    /// Keep every event (the default).
    case all
    /// Keep events recorded in the last this many days.
    case days(Int)
    /// Keep the newest this many events.
    case events(Int)

    public init?(_ text: String) {
        if text == "all" { self = .all; return }
        if text.hasSuffix("d"), let days = Int(text.dropLast()), (1...100_000).contains(days) { self = .days(days); return }
        if let count = Int(text), (1...Int(Int32.max)).contains(count) { self = .events(count); return }
        return nil
    }

    public var description: String {
        switch self {
        case .all: return "all"
        case .days(let days): return "\(days)d"
        case .events(let count): return String(count)
        }
    }
}
