#if canImport(Glibc)
import Glibc
#endif
import CasetrackPOSIX
import Foundation
import Histogram
import Synchronization

// The same jobs on the two servers an office would otherwise build this on: PostgreSQL (an
// UPDATE whose trigger NOTIFYs, listeners on LISTEN) and Redis (HSET plus XADD with
// `appendfsync always`; pub/sub for notices). Each speaks its own wire protocol over a Unix
// socket, written here in the few lines the benchmark needs.

/// A blocking Unix stream connection with a read buffer. (Unchecked Sendable: each is used
/// by one thread at a time, handed over at start.)
final class Wire: @unchecked Sendable {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0

    init(path: String) throws {
        guard case .success(let fd) = UnixSocket.connect(to: path) else { throw BenchError("cannot connect to \(path)") }
        self.fd = fd
    }

    deinit { close(fd) }

    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw BenchError("write failed: \(String(cString: strerror(errno)))") }
            offset += count
        }
    }

    private func fill() throws {
        if start > 0, start == buffer.count { buffer.removeAll(keepingCapacity: true); start = 0 }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { throw BenchError("the server closed the connection") }
        buffer += chunk[0..<count]
    }

    func bytes(_ count: Int) throws -> ArraySlice<UInt8> {
        while buffer.count - start < count { try fill() }
        defer { start += count }
        return buffer[start..<start + count]
    }

    func byte() throws -> UInt8 { try bytes(1).first ?? 0 }

    /// Up to LF (casetrack's line protocol), without it.
    func textLine() throws -> String {
        while true {
            if let end = buffer[start...].firstIndex(of: 10) {
                defer { start = end + 1 }
                return String(decoding: buffer[start..<end], as: UTF8.self)
            }
            try fill()
        }
    }

    /// Up to CR LF (Redis), without it.
    func line() throws -> String {
        while true {
            if let end = buffer[start...].firstIndex(of: 13), end + 1 < buffer.count {
                defer { start = end + 2 }
                return String(decoding: buffer[start..<end], as: UTF8.self)
            }
            try fill()
        }
    }
}

/// RESP, the Redis protocol: commands as arrays of bulk strings.
final class Redis: @unchecked Sendable {
    let wire: Wire

    init(path: String) throws { wire = try Wire(path: path) }

    static func encode(_ command: [String]) -> [UInt8] {
        var out = "*\(command.count)\r\n"
        for part in command { out += "$\(part.utf8.count)\r\n\(part)\r\n" }
        return Array(out.utf8)
    }

    /// Sends commands in one write.
    func send(_ commands: [[String]]) throws { try wire.write(commands.flatMap(Redis.encode)) }

    /// Reads one reply (nested arrays read whole); an error reply throws.
    @discardableResult
    func reply() throws -> String {
        let line = try wire.line()
        guard let kind = line.first else { throw BenchError("empty Redis reply") }
        let rest = String(line.dropFirst())
        switch kind {
        case "+", ":": return rest
        case "-": throw BenchError("Redis: \(rest)")
        case "$":
            guard let length = Int(rest), length >= 0 else { return "" }
            let value = String(decoding: try wire.bytes(length), as: UTF8.self)
            _ = try wire.bytes(2)
            return value
        case "*":
            let count = Int(rest) ?? 0
            var parts: [String] = []
            for _ in 0..<max(0, count) { parts.append(try reply()) }
            return parts.joined(separator: " ")
        default: throw BenchError("unexpected Redis reply \(line.prefix(40))")
        }
    }

    func call(_ command: String...) throws -> String {
        try send([command])
        return try reply()
    }
}

/// The PostgreSQL frontend/backend protocol, version 3: startup with trust authentication,
/// then simple queries; notifications are skipped by whoever reads results.
final class Postgres: @unchecked Sendable {
    let wire: Wire

    init(path: String, user: String) throws {
        wire = try Wire(path: path)
        var body: [UInt8] = []
        append32(196_608, to: &body)
        for text in ["user", user, "database", "postgres"] { body += Array(text.utf8) + [0] }
        body.append(0)
        var message: [UInt8] = []
        append32(Int32(body.count + 4), to: &message)
        try wire.write(message + body)
        try result()
    }

    private func append32(_ value: Int32, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes += $0 }
    }

    static func query(_ sql: String) -> [UInt8] {
        let text = Array(sql.utf8) + [0]
        let length = Int32(text.count + 4).bigEndian
        return [UInt8(ascii: "Q")] + withUnsafeBytes(of: length) { Array($0) } + text
    }

    /// Sends queries in one write (the server answers them in order).
    func send(_ sqls: [String]) throws { try wire.write(sqls.flatMap(Postgres.query)) }

    /// Reads to ReadyForQuery; returns the rows' first columns. An error throws.
    @discardableResult
    func result() throws -> [String] {
        var rows: [String] = []
        var failure: String?
        while true {
            let kind = try wire.byte()
            let lengthBytes = try wire.bytes(4)
            let length = lengthBytes.reduce(0) { $0 << 8 | Int($1) } - 4
            let body = Array(try wire.bytes(length))
            switch kind {
            case UInt8(ascii: "Z"):
                if let failure { throw BenchError("PostgreSQL: \(failure)") }
                return rows
            case UInt8(ascii: "E"): failure = String(decoding: body.split(separator: 0).first { $0.first == UInt8(ascii: "M") }?.dropFirst() ?? [], as: UTF8.self)
            case UInt8(ascii: "D"):
                // Field count, then the first field's length and bytes.
                guard body.count >= 6 else { continue }
                let fieldLength = body[2..<6].reduce(0) { $0 << 8 | Int($1) }
                rows.append(fieldLength > 0 ? String(decoding: body[6..<6 + fieldLength], as: UTF8.self) : "")
            case UInt8(ascii: "R"):
                if body.count >= 4, body[0..<4].reduce(0, { $0 << 8 | Int($1) }) != 0 {
                    throw BenchError("PostgreSQL asks for a password; the benchmark's cluster uses trust")
                }
            default: continue
            }
        }
    }

    func run(_ sql: String) throws -> [String] {
        try send([sql])
        return try result()
    }
}

/// Listeners that tell notices apart by a token in the payload, `K<id>:<version>;`, whatever
/// the framing around it.
final class TokenSwarm {
    private let reader: SocketReader
    private(set) var arrivals = Arrivals()

    /// Tokens received so far, over all connections.
    var count: Int { arrivals.count }

    init(fds: [Int32]) throws { reader = try SocketReader(fds: fds) }

    /// Reads on until `expected` tokens arrived in all or `seconds` passed: a notice that
    /// arrives after the run still counts.
    func drain(expected: Int, within seconds: Double) {
        collect(until: now() + UInt64(seconds * 1_000_000), expected: expected)
    }

    func collect(until deadline: UInt64, expected: Int = .max) {
        reader.read(until: deadline, stop: { count >= expected }) { _, bytes, time in
            var cursor = 0
            while cursor < bytes.count {
                guard bytes[cursor] == UInt8(ascii: "K") else { cursor += 1; continue }
                // Only digits and a colon between K and ;: a K byte in the binary framing (a
                // backend's pid) is not a token.
                let (first, colon) = bytes.number(at: cursor + 1, to: bytes.count)
                guard colon < bytes.count else { return cursor }
                guard colon > cursor + 1, bytes[colon] == UInt8(ascii: ":") else { cursor += 1; continue }
                let (version, end) = bytes.number(at: colon + 1, to: bytes.count)
                guard end < bytes.count else { return cursor }
                guard end > colon + 1, bytes[end] == UInt8(ascii: ";") else { cursor += 1; continue }
                arrivals.append(noticeKey(first, version), at: time)
                cursor = end + 1
            }
            return cursor
        }
    }
}

/// Sends `change(index)` `rate` times a second until stopped, noting when each was sent and
/// acknowledged, by its token.
final class SteadyWriter: Sendable {
    let stopped = Atomic<Bool>(false)
    let times = Mutex<[UInt64: (UInt64, UInt64)]>([:])
    let interval: UInt64

    init(rate: Int = 500) { interval = UInt64(1_000_000 / max(1, rate)) }

    func run(for seconds: Double, while collecting: () -> Void, _ change: @escaping @Sendable (Int) throws -> UInt64) {
        let interval = self.interval
        let thread = Thread { [self] in
            var next = now()
            var index = 0
            while !stopped.load(ordering: .relaxed) {
                while now() < next { usleep(100) }
                next += interval
                let send = now()
                guard let token = try? change(index) else { return }
                let ack = now()
                times.withLock { $0[token] = (send, ack) }
                index += 1
            }
        }
        thread.start()
        collecting()
        stopped.store(true, ordering: .relaxed)
        while !thread.isFinished { usleep(5_000) }
    }
}

func latencies(_ arrivals: Arrivals, _ times: [UInt64: (UInt64, UInt64)]) -> (String, String) {
    var fromSend = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    var fromAck = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    var early = 0
    for (token, received) in arrivals.byKey() {
        guard let (send, ack) = times[token] else { continue }
        for time in received {
            _ = fromSend.record(time > send ? time - send : 0)
            if time >= ack { _ = fromAck.record(time - ack) } else { early += 1 }
        }
    }
    return (percentiles(fromSend) + " (\(fromSend.totalCount) notices)", percentiles(fromAck) + " (\(early) before the ack)")
}
