/// A token bucket: at most `rate` requests a second on average, with bursts of up to one
/// second's worth. Pure: the caller passes the time, so tests move it by hand.
public struct RequestRate: Hashable, Sendable {
    /// Requests a second; 0 means no limit.
    public var rate: Int
    private var tokens: Double
    private var last: Double?

    public init(rate: Int) {
        self.rate = rate
        self.tokens = Double(rate)
    }

    /// Takes one token at `now` (seconds on a monotonic clock); false when the bucket is empty.
    /// `rate` may change between calls (a reload): the bucket follows it.
    public mutating func take(now: Double, rate newRate: Int) -> Bool {
        if newRate != rate {
            // From no limit to a limit: a full burst; otherwise never more than the new burst.
            tokens = rate == 0 ? Double(newRate) : min(tokens, Double(newRate))
            rate = newRate
        }
        guard rate > 0 else { return true }
        if let last { tokens = min(Double(rate), tokens + max(0, now - last) * Double(rate)) }
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
