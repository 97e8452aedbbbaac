/// What a peer may do, from least to most. Each verb names the least role it needs (the verb
/// table); the access policy gives each peer one.
public enum Role: String, Sendable, CaseIterable, Comparable {
    /// Notices and statistics, no personal data.
    case observer
    /// Full records and history.
    case reader
    /// Create and change cases.
    case writer
    /// Exchanges, corrections, backup, configuration.
    case admin

    private var rank: Int {
        switch self {
        case .observer: return 0
        case .reader: return 1
        case .writer: return 2
        case .admin: return 3
        }
    }

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }
}
