#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CasetrackCore
import CasetrackPOSIX

/// Why the client could not get an answer.
public struct ClientError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        /// Nothing listens on the socket, or it may not be opened.
        public static let unreachable = Code("unreachable")
        /// The daemon closed the connection or it broke mid-answer.
        public static let connectionLost = Code("connection-lost")
        /// The daemon sent something this client does not understand.
        public static let protocolError = Code("protocol-error")
        /// Nothing arrived within the receive timeout the caller set.
        public static let timedOut = Code("timed-out")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// A blocking connection that sends lines and reads lines: the transport under ``CasetrackClient``.
final class LineConnection {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0
    static let maximumLine = 64 << 20

    init(socketPath: String) throws {
        switch UnixSocket.connect(to: socketPath) {
        case .success(let fd):
            self.fd = fd
        case .failure(.pathTooLong):
            throw ClientError(.unreachable, "socket path \(socketPath) is too long for a Unix socket")
        case .failure(.system(_, let reason)):
            throw ClientError(.unreachable,
                "cannot reach casetrackd at \(socketPath): \(reason). Is the daemon running? Set --socket or CASETRACK_SOCKET")
        }
    }

    deinit { close(fd) }

    /// Makes a send or receive that blocks longer than `seconds` fail instead of waiting on.
    func setTimeout(seconds: Int) {
        var value = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Makes a receive that waits longer than `milliseconds` throw ``ClientError/Code/timedOut``;
    /// `nil` waits for ever.
    func setReceiveTimeout(milliseconds: Int?) {
        let total = max(1, milliseconds ?? 0)
        var value = milliseconds == nil ? timeval() : timeval(tv_sec: total / 1000, tv_usec: (total % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Closes the sending half: the daemon sees end of input but can still answer.
    func shutdownWrite() {
        shutdown(fd, Int32(SHUT_WR))
    }

    func send(_ line: String) throws {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        try send(bytes: bytes)
    }

    /// Sends bytes as they are (tests use it to send what no well-behaved client would).
    func send(bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw ClientError(.connectionLost, "the connection to casetrackd broke: \(LineConnection.lastError())")
            }
            offset += written
        }
    }

    /// The next line without its line feed; `nil` at the end of the stream.
    func readLine() throws -> String? {
        var searched = start
        while true {
            if let newline = buffer[searched...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[start..<newline]
                start = newline + 1
                if start > 65_536, start * 2 > buffer.count {
                    buffer.removeFirst(start)
                    start = 0
                }
                guard let text = String(validating: line, as: UTF8.self) else {
                    throw ClientError(.protocolError, "casetrackd sent a line that is not UTF-8")
                }
                return text
            }
            searched = buffer.count
            guard buffer.count - start < LineConnection.maximumLine else {
                throw ClientError(.protocolError, "casetrackd sent a line longer than \(LineConnection.maximumLine) bytes")
            }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    throw ClientError(.timedOut, "nothing arrived from casetrackd in time")
                }
                throw ClientError(.connectionLost, "the connection to casetrackd broke: \(LineConnection.lastError())")
            }
            if count == 0 { return nil }
            buffer.append(contentsOf: chunk[0..<count])
        }
    }

    static func lastError() -> String { String(cString: strerror(errno)) }
}
