/// The newest link of the event chain: the hash that vouches for every event up to `seq`.
public struct ChainHead: Hashable, Sendable {
    /// The last event's sequence number (or, when retention removed every event, the last
    /// one removed).
    public var seq: Int64
    public var hash: String

    public init(seq: Int64, hash: String) {
        self.seq = seq
        self.hash = hash
    }
}

/// What `VERIFY` found.
public struct ChainReport: Sendable {
    public var events = 0
    public var head = String(repeating: "0", count: 64)
    public var firstSeq: Int64 = 0
    public var lastSeq: Int64 = 0
    /// Each problem: the event or case it is about, and what is wrong. Empty: all is well.
    public var problems: [(subject: String, message: String)] = []
    /// More problems than listed.
    public var unlisted = 0
    /// With a head kept elsewhere: whether the chain still leads to it (nil: none given).
    public var keptHead: Bool?
    /// Case rows with no event left to check them by (unchanged since retention removed
    /// their events).
    public var unchecked = 0
    static let listed = 100

    public init() {}

    public var ok: Bool { problems.isEmpty && unlisted == 0 }

    public mutating func problem(_ subject: String, _ message: String) {
        if problems.count < Self.listed { problems.append((subject, message)) } else { unlisted += 1 }
    }
}

