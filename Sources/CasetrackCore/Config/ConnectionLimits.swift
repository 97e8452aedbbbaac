/// What one client may take of the daemon. Every limit has a safe default; going past one gets
/// a clear error (or a final `BYE limit-exceeded` line and a disconnect), never a crash, a
/// hang or memory without bound.
public struct ConnectionLimits: Hashable, Sendable {
    /// Connections open at once, in all.
    public var maxConnections = 4_096
    /// Connections open at once from one uid (root and the daemon's own user included).
    public var maxConnectionsPerUID = 1_024
    /// Subscriptions running at once.
    public var maxSubscribers = 2_048
    /// Requests a second on one connection (bursts of one second's worth); 0: no limit.
    public var requestRate = 20_000
    /// Seconds a client may take to finish a line it began.
    public var lineTimeout = 30
    /// Seconds a client may leave an answer or notices unread before it is disconnected.
    public var sendTimeout = 60
    /// The largest answer, in bytes, the daemon queues for one connection; a bigger one is
    /// refused with a request to ask for less (a smaller LIST page).
    public var outputBuffer = 4 * 1_048_576

    public init() {}

    /// The configuration keys, all reloadable (they apply to what comes after the reload).
    public static let keys = ["max_connections", "max_connections_per_uid", "max_subscribers", "request_rate",
                              "line_timeout", "send_timeout", "output_buffer"]

    mutating func set(_ key: String, _ value: String, fail: (String) -> CasetrackError) throws {
        func number(_ range: ClosedRange<Int>, _ what: String) throws -> Int {
            guard let number = Int(value), range.contains(number) else {
                throw fail("\(key) must be \(what) from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }
        switch key {
        case "max_connections": maxConnections = try number(1...1_000_000, "a number of connections")
        case "max_connections_per_uid": maxConnectionsPerUID = try number(1...1_000_000, "a number of connections")
        case "max_subscribers": maxSubscribers = try number(0...1_000_000, "a number of subscriptions")
        case "request_rate":
            requestRate = value == "off" ? 0 : try number(1...100_000_000, "off or a number of requests a second")
        case "line_timeout": lineTimeout = try number(1...86_400, "a number of seconds")
        case "send_timeout": sendTimeout = try number(1...86_400, "a number of seconds")
        case "output_buffer": outputBuffer = try number(65_536...1_073_741_824, "a number of bytes")
        default: throw fail("unknown key '\(key)'")
        }
    }
}
