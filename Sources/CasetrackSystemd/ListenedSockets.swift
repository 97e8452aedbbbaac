#if canImport(Glibc)
import Glibc
#endif
import CasetrackCore
import CSystemd

/// A listening socket the service manager passed (socket activation), with the name its unit
/// gave it (`FileDescriptorName=`).
public struct ListenedSocket: Hashable, Sendable {
    public let fd: Int32
    public let name: String
}

extension ListenedSocket {
    /// The sockets of `LISTEN_FDS`/`LISTEN_FDNAMES`, checked to be meant for this process
    /// (`LISTEN_PID`) and to be listening Unix stream sockets. Empty when none were passed.
    /// The variables are removed, so that no child process takes the sockets for its own.
    public static func fromEnvironment() throws -> [ListenedSocket] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = sd_listen_fds_with_names(1, &names)
        guard count >= 0 else {
            throw CasetrackError(.internalError, "cannot read the sockets systemd passed: \(String(cString: strerror(-count)))")
        }
        defer {
            if let names {
                for index in 0..<Int(count) { free(names[index]) }
                free(names)
            }
        }
        var sockets: [ListenedSocket] = []
        for index in 0..<Int(count) {
            let fd = SD_LISTEN_FDS_START + Int32(index)
            let name = names?[index].map { String(cString: $0) } ?? "unknown"
            guard sd_is_socket_unix(fd, Int32(SOCK_STREAM.rawValue), 1, nil, 0) > 0 else {
                throw CasetrackError(.internalError,
                    "systemd passed fd \(fd) (\(name)) that is not a listening Unix stream socket; check ListenStream= in the .socket unit")
            }
            // Not inherited by hooks or anything else the daemon may start.
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            sockets.append(ListenedSocket(fd: fd, name: name))
        }
        return sockets
    }
}
