/// How `STATS` splits the cases it counts.
public enum Breakdown: String, Sendable, CaseIterable {
    /// By status and category (the default).
    case status
    /// By held duration bucket, per category.
    case held
    /// By unit, per status.
    case unit
    /// By tag, per status.
    case tag
    /// By exchange and phase: listed and returned, per category.
    case exchange
    /// Returned per day of return, per category, over `from=`…`to=`.
    case day
    /// Open cases by the age of their last proof of life, per category.
    case proof
    /// By current place of detention, per status.
    case place

    /// Units, tags and places say who a group of people is, or where: the reader role sees them.
    public var revealsPersonalData: Bool { self == .unit || self == .tag || self == .place }
}

/// What a `STATS` request asks for.
public struct StatisticsQuery: Hashable, Sendable {
    public var filter: CaseFilter
    public var breakdown: Breakdown
    /// The first and last day of `by=day` (both included).
    public var from: Day?
    public var to: Day?
    /// Counts as the register stood at the end of this day, from the history (`by=status`,
    /// filtered by status and category only).
    public var asOf: Day?

    /// The longest range `by=day` answers, in days (ten years).
    public static let maximumDays = 3_660

    public init(filter: CaseFilter = CaseFilter(), breakdown: Breakdown = .status, from: Day? = nil, to: Day? = nil,
                asOf: Day? = nil) {
        self.filter = filter
        self.breakdown = breakdown
        self.from = from
        self.to = to
        self.asOf = asOf
    }

    public var revealsPersonalData: Bool { filter.revealsPersonalData || breakdown.revealsPersonalData }

    /// The days `by=day` counts: `from` to `to` (default today).
    public func days(today: Day) -> ClosedRange<Day>? {
        guard breakdown == .day, let from else { return nil }
        return from...(to ?? today)
    }

    func validate(today: Day) throws {
        if asOf != nil {
            guard breakdown == .status else { throw CasetrackError.badArgument("as_of= counts by status and category only (by=status)") }
            var rest = filter
            rest.statuses = []
            rest.categories = []
            guard rest.isEmpty else {
                throw CasetrackError.badArgument("as_of= counts from the history, which knows each case's status and category: it takes status= and category= only")
            }
        }
        guard breakdown == .day else {
            if from != nil || to != nil { throw CasetrackError.badArgument("from= and to= go with by=day") }
            return
        }
        guard let from else { throw CasetrackError.badArgument("by=day needs from=DATE (and to=DATE, default today)") }
        let to = self.to ?? today
        guard from <= to else { throw CasetrackError.badArgument("from=\(from) is after to=\(to)") }
        guard to.daysSinceEpoch - from.daysSinceEpoch < StatisticsQuery.maximumDays else {
            throw CasetrackError.badArgument("by=day answers at most \(StatisticsQuery.maximumDays) days; narrow from= and to=")
        }
    }
}

/// The held-duration buckets of `STATS by=held`. Each is "reached the lower bound and not the
/// upper one", with bounds meaning what `held_min=` means, so that a bucket is the
/// difference of two counts: `1y-3y` = `COUNT held_min=1y` − `COUNT held_min=3y`.
public enum HeldBucket: String, Sendable, CaseIterable {
    case under1y = "under-1y"
    case from1to3y = "1y-3y"
    case from3to5y = "3y-5y"
    case from5to8y = "5y-8y"
    case from8y = "8y-plus"
    /// The start, or the end of a closed case, is not known.
    case unknown

    /// The `held_min` each bucket starts at, in order.
    public static let thresholds: [(HeldBucket, HeldDuration)] = [
        (.from8y, HeldDuration(years: 8)), (.from5to8y, HeldDuration(years: 5)),
        (.from3to5y, HeldDuration(years: 3)), (.from1to3y, HeldDuration(years: 1)),
    ]

    /// The bucket of one case on `today` (the same arithmetic as ``CaseFilter/heldMin``).
    public static func of(start: Day?, end: Day?) -> HeldBucket {
        guard let start, let end else { return .unknown }
        for (bucket, threshold) in thresholds where threshold.isReached(from: start, to: end) { return bucket }
        return .under1y
    }

    public static func of(_ record: CaseRecord, today: Day) -> HeldBucket {
        of(start: record.since?.firstDay, end: record.heldEnd(today: today))
    }
}

/// How long ago the last proof of life of an open case was (`STATS by=proof`). Each bucket is
/// "reached the lower bound and not the upper one", with bounds meaning what `proof_older=`
/// means, so that a bucket is the difference of two counts: `1y-3y` = `COUNT proof_older=1y`
/// − `COUNT proof_older=3y`; `never` is `COUNT no_proof=yes`.
public enum ProofBucket: String, Sendable, CaseIterable {
    case under3m = "under-3m"
    case from3to12m = "3m-12m"
    case from1to3y = "1y-3y"
    case from3y = "3y-plus"
    case never

    public static let thresholds: [(ProofBucket, HeldDuration)] = [
        (.from3y, HeldDuration(years: 3)), (.from1to3y, HeldDuration(years: 1)), (.from3to12m, HeldDuration(months: 3)),
    ]

    /// The bucket of a proof whose date may mean a day as late as `last` (nil: none).
    public static func of(last: Day?, today: Day) -> ProofBucket {
        guard let last else { return .never }
        for (bucket, threshold) in thresholds where threshold.isReached(from: last, to: today) { return bucket }
        return .under3m
    }

    public static func of(_ record: CaseRecord, today: Day) -> ProofBucket {
        of(last: record.proofOfLife?.on.lastDay, today: today)
    }
}

/// A `STATS` answer: its data lines and the fields of its final line.
public struct StatisticsTable: Hashable, Sendable {
    public var lines: [Fields]
    public var final: Fields

    public init(lines: [Fields] = [], final: Fields = Fields()) {
        self.lines = lines
        self.final = final
    }
}
