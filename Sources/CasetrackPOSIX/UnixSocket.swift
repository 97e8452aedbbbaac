#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Small, blocking POSIX helpers shared by the client, the server and the executables.
public enum UnixSocket {
    /// The longest path a Unix socket address holds (107 bytes on Linux).
    public static let maximumPathLength = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    /// Why a socket could not be opened, bound or connected (the name predates binding).
    public enum ConnectError: Error, Hashable, Sendable {
        /// The path does not fit a socket address.
        case pathTooLong
        /// `socket(2)`, `bind(2)` or `connect(2)` failed; the text is `strerror(errno)`.
        case system(errno: Int32, reason: String)
    }

    /// The kinds of Unix socket callers open: the daemon's line protocol is a stream;
    /// sd_notify and journald use datagrams.
    public enum Kind: Sendable {
        case stream
        case datagram

        var socketType: Int32 { Int32(self == .stream ? SOCK_STREAM.rawValue : SOCK_DGRAM.rawValue) }
    }

    /// Calls `body` with the address of the Unix socket at `path`, as the `sockaddr` pointer
    /// and length that `bind(2)` and `connect(2)` take. The one place a `sockaddr_un` is
    /// filled: a path that does not fit is refused here instead of silently cut short.
    public static func withAddress<Value>(
        of path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Value
    ) -> Result<Value, ConnectError> {
        let bytes = Array(path.utf8)
        guard bytes.count <= maximumPathLength else { return .failure(.pathTooLong) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let value = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return .success(value)
    }

    /// Opens a connection to the Unix socket at `path`; returns the file descriptor
    /// (close-on-exec).
    public static func connect(to path: String, kind: Kind = .stream) -> Result<Int32, ConnectError> {
        openSocket(path, kind) { fd, address, length in Glibc.connect(fd, address, length) }
    }

    /// Opens a socket listening at `path` (which must not exist: callers unlink a stale one);
    /// returns the file descriptor (close-on-exec). A stream socket still needs `listen(2)`.
    public static func bind(path: String, kind: Kind) -> Result<Int32, ConnectError> {
        openSocket(path, kind) { fd, address, length in Glibc.bind(fd, address, length) }
    }

    /// A new socket of `kind` on which `call` (bind or connect) succeeded at `path`; closed
    /// again when it failed.
    private static func openSocket(
        _ path: String, _ kind: Kind, _ call: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32
    ) -> Result<Int32, ConnectError> {
        withAddress(of: path) { address, length -> Result<Int32, ConnectError> in
            let fd = socket(AF_UNIX, kind.socketType | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { return .failure(UnixSocket.lastError()) }
            guard call(fd, address, length) == 0 else {
                let error = UnixSocket.lastError()
                close(fd)
                return .failure(error)
            }
            return .success(fd)
        }.flatMap { $0 }
    }

    static func lastError() -> ConnectError { .system(errno: errno, reason: String(cString: strerror(errno))) }
}

/// Unbuffered writes to a file descriptor: a supervisor or a pipe sees each line at once.
public enum FileDescriptorOutput {
    /// False when not all of `text` was written (a full disk, a closed pipe).
    @discardableResult
    public static func write(_ fd: Int32, _ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0, errno == EINTR { continue }
            if written <= 0 { return false }
            offset += written
        }
        return true
    }

    /// Puts `text` in place of `path` whole or not at all: written beside it, synced, then
    /// renamed over it. Nil when done; otherwise why not (the system's own words, taken
    /// when the call failed, not after the cleanup's calls), and `path` is as it was.
    public static func replaceFile(_ path: String, with text: String, mode: mode_t) -> String? {
        let temporary = "\(path).part-\(getpid())"
        let fd = Glibc.open(temporary, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        var failure: String?
        if !write(fd, text) || fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        if Glibc.close(fd) != 0, failure == nil { failure = String(cString: strerror(errno)) }
        if failure == nil, rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        if failure != nil { unlink(temporary) }
        return failure
    }
}
