#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CasetrackCore
import NIOCore

/// The layout of Linux's `struct ucred` (which Swift cannot see without `_GNU_SOURCE`).
struct UnixCredentials {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

enum PeerCredentials {
    /// `SO_PEERCRED` from `<asm-generic/socket.h>`: stable on every Linux architecture but
    /// PowerPC and MIPS, which casetrack does not target.
    static let optionName: Int32 = 17

    /// Reads who is on the other end of a Unix socket, as the kernel saw it at connect time.
    static func read(_ channel: any Channel) -> EventLoopFuture<Actor> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(
                CasetrackError(.internalError, "the channel cannot report peer credentials"))
        }
        return provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET),
                                              name: SocketOptionName(optionName))
            .map { (credentials: UnixCredentials) in Actor(uid: credentials.uid, pid: credentials.pid) }
    }
}
