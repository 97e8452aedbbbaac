#if canImport(Glibc)
import Glibc
#endif
import CasetrackCore
import Synchronization

/// An exclusive `flock` on the database file: one daemon per database, whatever its socket.
final class DatabaseLock: Sendable {
    /// The locked descriptor; -1 once released.
    private let fd: Atomic<Int32>

    init(path: String) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
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
        self.fd = Atomic(fd)
    }

    /// Lets another store open the file. Called when the store is closed: the store object
    /// itself may live on a moment in a thread that is still ending (the writer's), and the
    /// file must be free when `close()` returns, not when the last reference goes.
    func release() {
        let fd = self.fd.exchange(-1, ordering: .acquiringAndReleasing)
        if fd >= 0 { close(fd) }
    }

    deinit { release() }
}
