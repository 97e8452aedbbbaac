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

/// Room for 256 supplementary groups, the answer to `SO_PEERGROUPS`. NIO's option reader
/// takes a fixed-size value and zero-fills it first.
struct PeerGroupList {
    var a = SIMD64<UInt32>(), b = SIMD64<UInt32>(), c = SIMD64<UInt32>(), d = SIMD64<UInt32>()

    /// The groups. The kernel hands them sorted ascending, so the zero fill after the last one
    /// shows where they end (a group 0 can only come first, and counts only if more follow:
    /// a peer whose one supplementary group is root's group is read as having none, which
    /// grants less, never more).
    var groups: [UInt32] {
        var all: [UInt32] = []
        for vector in [a, b, c, d] { for index in vector.indices { all.append(vector[index]) } }
        var result: [UInt32] = []
        for (index, gid) in all.enumerated() {
            if gid == 0, index > 0 { break }
            if gid == 0, index + 1 < all.count, all[index + 1] == 0 { break }
            result.append(gid)
        }
        return result
    }
}

enum PeerCredentials {
    /// `SO_PEERCRED` and `SO_PEERGROUPS` from `<asm-generic/socket.h>`: stable on every Linux
    /// architecture but PowerPC and MIPS, which casetrack does not target.
    static let credentialsOption: Int32 = 17
    static let groupsOption: Int32 = 59

    /// Reads who is on the other end of a Unix socket, as the kernel saw it at connect time:
    /// uid, gid and pid, then the supplementary groups (none if the peer has more than 256,
    /// which grants less, never more).
    static func read(_ channel: any Channel) -> EventLoopFuture<PeerIdentity> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(
                CasetrackError(.internalError, "the channel cannot report peer credentials"))
        }
        return provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(credentialsOption))
            .flatMap { (credentials: UnixCredentials) in
                provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(groupsOption))
                    .map { (list: PeerGroupList) in list.groups }
                    .recover { _ in [] }
                    .map { groups in
                        PeerIdentity(uid: credentials.uid, gid: credentials.gid, groups: groups, pid: credentials.pid)
                    }
            }
    }
}
