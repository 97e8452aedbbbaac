import CasetrackCore
import Logging

/// What the server knows about one connection, kept by its ``Connection`` and handed to the
/// dispatcher with each request.
public struct Session: Sendable {
    /// The peer as the kernel reported it at connect time.
    public let peer: PeerIdentity
    /// The listener the connection came through (`socket`, or a systemd fd name).
    public let listener: String
    /// The most this connection may do, whatever its peer's role: set by its listener.
    public let cap: Role
    /// Carries the peer's uid and pid, so that every line logged for this connection names them.
    public let logger: Logger
    public var format: WireFormat = .text
    /// The running subscription, if any: the one place that says whether there is one.
    public internal(set) var subscription: Subscription?
    var rate = RequestRate(rate: 0)
    /// Refusals logged for this connection: past a few, the rest go unlogged, so that one
    /// client cannot flood the journal.
    var refusalsLogged = 0

    public init(peer: PeerIdentity, listener: String = "socket", cap: Role = .observer, logger: Logger) {
        self.peer = peer
        self.listener = listener
        self.cap = cap
        self.logger = Session.logger(logger, for: peer)
    }

    /// The peer's role under `access`, capped by its listener; nil: none.
    public func role(under access: AccessPolicy) -> Role? {
        access.role(of: peer).map { min($0, cap) }
    }

    /// `logger` with the peer's uid and pid as metadata.
    static func logger(_ logger: Logger, for peer: PeerIdentity) -> Logger {
        var logger = logger
        logger[metadataKey: "peer_uid"] = "\(peer.uid)"
        logger[metadataKey: "peer_pid"] = "\(peer.pid)"
        return logger
    }
}
