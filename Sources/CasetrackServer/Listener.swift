/// Where the server accepts connections.
public enum Listener: Sendable, Hashable {
    /// A path the server binds itself: it replaces a stale socket left by a crash, sets the
    /// mode, and removes the socket when it stops.
    case path(String, mode: UInt32)
    /// A listening socket the service manager passed (socket activation), with its
    /// `FileDescriptorName=`. The manager owns the file: the server neither changes nor removes it.
    case inherited(fd: Int32, name: String)

    /// The name a connection's session records: the fd name, or `socket` for a bound path.
    /// (The roles layer maps names such as `ro` and `rw` to what a listener allows.)
    public var name: String {
        switch self {
        case .path: return "socket"
        case .inherited(_, let name): return name
        }
    }

    public var description: String {
        switch self {
        case .path(let path, _): return path
        case .inherited(let fd, let name): return "fd \(fd) (\(name), from systemd)"
        }
    }
}
