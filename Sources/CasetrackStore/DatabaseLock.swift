#if canImport(Glibc)
import Glibc
#endif
import CasetrackCore

/// An exclusive `flock` on the database file: one daemon per database, whatever its socket.
final class DatabaseLock: Sendable {
    let fd: Int32

    init(path: String) throws {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw CasetrackError(.storageFailure, "cannot open the database \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            let reason = String(cString: strerror(errno))
            close(fd)
            throw CasetrackError(.storageFailure, busy
                ? "another casetrackd already uses the database \(path); stop it first"
                : "cannot lock the database \(path): \(reason)")
        }
    }

    deinit { close(fd) }
}
