#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Small, blocking POSIX helpers shared by the client, the server and the executables.
public enum UnixSocket {
    /// The longest path a Unix socket address holds (107 bytes on Linux).
    public static let maximumPathLength = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    /// Why ``connect(to:)`` failed.
    public enum ConnectError: Error, Hashable, Sendable {
        /// The path does not fit a socket address.
        case pathTooLong
        /// `socket(2)` or `connect(2)` failed; the text is `strerror(errno)`.
        case system(errno: Int32, reason: String)
    }

    /// Opens a stream connection to the Unix socket at `path`; returns the file descriptor
    /// (close-on-exec).
    public static func connect(to path: String) -> Result<Int32, ConnectError> {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count <= maximumPathLength else { return .failure(.pathTooLong) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(lastError()) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let error = lastError()
            close(fd)
            return .failure(error)
        }
        return .success(fd)
    }

    static func lastError() -> ConnectError { .system(errno: errno, reason: String(cString: strerror(errno))) }
}

/// Unbuffered writes to a file descriptor: a supervisor or a pipe sees each line at once.
public enum FileDescriptorOutput {
    public static func write(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0, errno == EINTR { continue }
            if written <= 0 { return }
            offset += written
        }
    }
}
