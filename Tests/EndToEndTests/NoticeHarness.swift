import CasetrackClient
import CasetrackCore
import CasetrackPOSIX
import CasetrackTestSupport
import Foundation
import Synchronization

/// Many subscribed connections read at once by one thread with poll(2), as a daemon's
/// subscribers would be: each keeps the notice lines it received, in order.
final class SubscriberSwarm {
    private var fds: [Int32] = []
    private var pending: [[UInt8]] = []
    /// Per connection: every line after the SUBSCRIBE answer.
    private(set) var lines: [[String]] = []
    /// Per connection, per line: when it was read (monotonic nanoseconds).
    private(set) var arrivals: [[UInt64]] = []

    /// Connects `count` clients and sends each `subscribe` (a whole request line); returns once
    /// every one has its `OK`.
    init(socket: String, count: Int, subscribe: String) throws {
        for _ in 0..<count {
            guard case .success(let fd) = UnixSocket.connect(to: socket) else {
                throw CasetrackError(.internalError, "cannot connect to \(socket)")
            }
            fds.append(fd)
            pending.append([])
            lines.append([])
            arrivals.append([])
            let bytes = Array((subscribe + "\n").utf8)
            guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
                throw CasetrackError(.internalError, "cannot send SUBSCRIBE")
            }
        }
        // The greeting and the answer come first; the notices after them are what we keep.
        try collect(timeout: 60) { swarm in
            swarm.lines.allSatisfy { $0.contains { $0.hasPrefix("OK") || $0.hasPrefix("ERR") } }
        }
        for index in lines.indices {
            guard let answer = lines[index].firstIndex(where: { $0.hasPrefix("OK") }) else {
                throw CasetrackError(.internalError, "SUBSCRIBE refused: \(lines[index])")
            }
            lines[index].removeFirst(answer + 1)
            arrivals[index].removeFirst(answer + 1)
        }
    }

    deinit { fds.forEach { close($0) } }

    /// The sequence numbers of the notices connection `index` received, in order.
    func sequences(_ index: Int) -> [Int64] {
        lines[index].compactMap(SubscriberSwarm.sequence)
    }

    static func sequence(_ line: String) -> Int64? {
        guard line.hasPrefix("N seq=") else { return nil }
        return Int64(line.dropFirst(6).prefix { $0 != " " })
    }

    /// Reads until `done` holds or `timeout` seconds pass (then throws).
    func collect(timeout: Double, until done: (SubscriberSwarm) -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var polls = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        while !done(self) {
            guard Date() < deadline else {
                throw CasetrackError(.internalError, "subscribers did not receive everything within \(Int(timeout)) s")
            }
            let ready = poll(&polls, nfds_t(polls.count), 200)
            guard ready > 0 else { continue }
            for index in polls.indices where polls[index].revents != 0 {
                let count = chunk.withUnsafeMutableBytes { recv(fds[index], $0.baseAddress, $0.count, 0) }
                if count <= 0 {
                    polls[index].fd = -1  // closed: poll ignores it from now on
                    continue
                }
                pending[index] += chunk[0..<count]
                let now = MonotonicClock.nanoseconds()
                while let newline = pending[index].firstIndex(of: UInt8(ascii: "\n")) {
                    lines[index].append(String(decoding: pending[index][..<newline], as: UTF8.self))
                    arrivals[index].append(now)
                    pending[index].removeFirst(newline + 1)
                }
            }
        }
    }
}

/// Sequence numbers the daemon acknowledged, collected from several writer threads.
final class AcknowledgedSequences: Sendable {
    private let state = Mutex<[Int64]>([])

    func add(_ seq: Int64) { state.withLock { $0.append(seq) } }

    var all: [Int64] { state.withLock { $0 } }
}

extension Daemon {
    /// Opens `count` cases (missing, military, alternating tags) and returns their ids.
    func openCases(_ count: Int, prefix: String = "Коваленко Петро") throws -> [String] {
        let client = try client()
        var ids: [String] = []
        var sent = 0
        while sent < count {
            let round = min(200, count - sent)
            for index in sent..<(sent + round) {
                // No start date: no held alert joins the events the tests count.
                try client.send(Request(verb: "ADD", options: [("name", "\(prefix) \(index)"), ("category", "military"),
                                                               ("status", "missing")]))
            }
            for _ in 0..<round { ids.append(try client.receive().get().string("id") ?? "") }
            sent += round
        }
        return ids
    }

    /// Toggles each case between missing and captive `rounds` times over one pipelining
    /// connection; returns the acknowledged sequence numbers.
    static func toggle(socket: String, cases: [String], rounds: Int, into acknowledged: AcknowledgedSequences) throws {
        let client = try CasetrackClient(socketPath: socket)
        for round in 0..<rounds {
            let status = round % 2 == 0 ? "captive" : "missing"
            for id in cases { try client.send(Request(verb: "SET-STATUS", positional: [id, status])) }
            for _ in cases { acknowledged.add(try client.receive().get().int("seq") ?? -1) }
        }
    }
}
