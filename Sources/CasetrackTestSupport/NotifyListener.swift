#if canImport(Glibc)
import Glibc
#endif
import CasetrackCore
import CasetrackPOSIX

/// A datagram socket standing in for systemd's `NOTIFY_SOCKET`: it receives what the daemon
/// tells the service manager (the systemd tests read it; the benchmark times READY=1 with it).
public final class NotifyListener {
    public let path: String
    private let fd: Int32

    public init(path: String) throws {
        self.path = path
        unlink(path)
        switch UnixSocket.bind(path: path, kind: .datagram) {
        case .success(let fd):
            self.fd = fd
        case .failure(.pathTooLong):
            throw CasetrackError(.internalError, "cannot bind \(path): too long for a Unix socket")
        case .failure(.system(_, let reason)):
            throw CasetrackError(.internalError, "cannot bind \(path): \(reason)")
        }
    }

    deinit { close(fd) }

    /// The next message, or nil after `timeout` seconds.
    public func next(timeout: Double = 20) -> String? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        // Never negative: poll(2) would wait for ever.
        guard poll(&poller, 1, Int32(max(0, timeout) * 1000)) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }

    /// Messages until one satisfies `wanted` (which is returned), skipping keep-alives unless asked.
    public func next(where wanted: (String) -> Bool, timeout: Double = 20) -> String? {
        let deadline = MonotonicClock.seconds() + timeout
        while MonotonicClock.seconds() < deadline {
            guard let message = next(timeout: deadline - MonotonicClock.seconds()) else { return nil }
            if wanted(message) { return message }
        }
        return nil
    }
}
