#if canImport(Glibc)
import Glibc
#endif
import CasetrackClient
import CasetrackCore
import CasetrackPOSIX
import Foundation
import Histogram
import Synchronization

enum Workloads {
    /// `writers` connections, each changing its own cases' status back and forth, one request
    /// at a time (each answered after its commit). Returns acknowledged changes a second.
    static func statusChanges(socket: String, writers: Int, cases: Int, seconds: Double, window: ChangeCost? = nil) throws -> Double {
        try statusChanges(sockets: [socket], writers: writers, cases: cases, seconds: seconds, window: window)
    }

    /// The same, writer `n` on socket `n % sockets.count` (offices of one register: each
    /// writer keeps cases of its own, whichever office it writes through).
    static func statusChanges(sockets: [String], writers: Int, cases: Int, seconds: Double,
                              window: ChangeCost? = nil) throws -> Double {
        throughput(threads: writers, seconds: seconds, window: window) { writer in
            let client = try CasetrackClient(socketPath: sockets[writer % sockets.count])
            // Cases of its own, spread over the data set; their status as the daemon says.
            let own = Array(Set((0..<16).map { CaseID(number: Int64(1 + (writer * 7_919 + $0 * 104_729) % cases)) }))
            var statuses: [CaseID: Status] = [:]
            for id in own { statuses[id] = try client.get(id)?.status }
            let open = own.filter { statuses[$0]?.isOpen == true }
            guard !open.isEmpty else { throw BenchError("writer \(writer) found no open case") }
            var index = 0
            // One acknowledged change per call.
            return {
                let id = open[index % open.count]
                index += 1
                let next: Status = statuses[id] == .captive ? .missing : .captive
                _ = try client.request(Request(verb: "SET-STATUS", positional: [id.description, next.rawValue])).get()
                statuses[id] = next
            }
        }
    }

    struct Latency {
        var fromSend: String
        var fromAck: String
        var memory: Int
        /// The daemon's and the listeners' CPU time per notice line.
        var cost: String
        /// p99 from the writer's send, in milliseconds.
        var p99: Double
    }

    /// `subscribers` connections subscribed to every status change, and one writer changing
    /// statuses at a steady `rate` a second: the time from the writer's send (and from its
    /// acknowledgement) to each subscriber's reading of the notice line.
    /// With `writerSocket`, the writer writes through another daemon (another office of the
    /// register) than the one the subscribers listen to.
    static func noticeLatency(socket: String, subscribers: Int, cases: Int, rate: Int = 500, seconds: Double, daemon: Daemon,
                              writerSocket: String? = nil) throws -> Latency {
        let swarm = try Swarm(socket: socket, count: subscribers, subscribe: "SUBSCRIBE kind=status")
        let sent = Mutex<[UInt64: (send: UInt64, ack: UInt64)]>([:])
        let stop = Atomic<Bool>(false)
        let cost = LineCost(server: daemon.pid)
        let writer = Thread {
            guard let client = try? CasetrackClient(socketPath: writerSocket ?? socket) else { return }
            var own = (0..<64).map { CaseID(number: Int64(1 + (500_009 + $0 * 15_485_863) % cases)) }
            own = Array(Set(own))
            var records: [CaseID: CaseRecord] = [:]
            for id in own { records[id] = (try? client.get(id)) ?? nil }
            var index = 0
            let interval = UInt64(1_000_000 / max(1, rate))
            var next = now()
            while !stop.load(ordering: .relaxed) {
                let id = own[index % own.count]
                index += 1
                guard let record = records[id], record.status.isOpen else { continue }
                while now() < next { usleep(100) }
                next += interval
                let status: Status = record.status == .captive ? .missing : .captive
                let key = noticeKey(UInt64(id.number), UInt64(record.version + 1))
                let send = now()
                sent.withLock { $0[key] = (send, 0) }
                guard let answer = try? client.request(Request(verb: "SET-STATUS", positional: [id.description, status.rawValue])),
                      let fields = answer.data.first, let updated = try? CaseRecord(fields: fields)
                else { return }
                let ack = now()
                sent.withLock { $0[key] = (send, ack) }
                records[id] = updated
            }
        }
        writer.start()
        let deadline = now() + UInt64(seconds * 1_000_000)
        var memory = 0
        swarm.collect(until: deadline) { if memory == 0, now() > deadline - UInt64(seconds * 500_000) { memory = daemon.residentMegabytes() } }
        stop.store(true, ordering: .relaxed)
        while !writer.isFinished { usleep(5_000) }
        // Every notice counts, also those that reach a subscriber after the run: a late
        // notice left out would flatter the figures of whoever falls furthest behind.
        let inRun = swarm.count
        swarm.drain(expected: sent.withLock { $0.count } * subscribers, within: 30)
        var fromSend = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var fromAck = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var early = 0
        let times = sent.withLock { $0 }
        for (key, received) in swarm.arrivals.byKey() {
            guard let (send, ack) = times[key] else { continue }
            for time in received {
                _ = fromSend.record(time > send ? time - send : 0)
                if ack > 0, time >= ack { _ = fromAck.record(time - ack) } else { early += 1 }
            }
        }
        let total = fromSend.totalCount
        return Latency(fromSend: percentiles(fromSend) + " (\(total) notices, \(Int(total) - inRun) after the run)",
                       fromAck: percentiles(fromAck) + " (\(early) before the ack)", memory: memory,
                       cost: cost.text(lines: swarm.count),
                       p99: Double(fromSend.valueAtPercentile(99)) / 1000)
    }

    /// GET by random id for `seconds`, `window` requests in flight (sent in one write). The
    /// answers are read as lines, the way the Redis and PostgreSQL clients here read theirs
    /// (a string per line, no field parsing), so that the client is not what is measured.
    /// Returns reads a second.
    static func reads(socket: String, cases: Int, seconds: Double, window: Int) throws -> Double {
        let wire = try Wire(path: socket)
        guard try wire.textLine().hasPrefix("HELLO") else { throw BenchError("no greeting from casetrackd") }
        var random = SystemRandomNumberGenerator()
        var done = 0
        let started = now()
        let end = started + UInt64(seconds * 1_000_000)
        var text = ""
        while now() < end {
            text.removeAll(keepingCapacity: true)
            for _ in 0..<window {
                text += "GET \(CaseID(number: Int64.random(in: 1...Int64(cases), using: &random)))\n"
            }
            try wire.write(Array(text.utf8))
            var answered = 0
            while answered < window {
                let line = try wire.textLine()
                if line.hasPrefix("OK") {
                    answered += 1
                } else if !line.hasPrefix("D ") {
                    throw BenchError("GET failed: \(line.prefix(120))")
                }
            }
            done += window
        }
        return Double(done) / (Double(now() - started) / 1_000_000)
    }

    /// Runs `requests` in turn 50 times (after 5 to warm up); the p50/p99 of one round, and the
    /// first answer's count.
    /// A slow request, a few times: the median and the longest.
    static func timed(socket: String, line: String, rounds: Int) throws -> String {
        let client = try CasetrackClient(socketPath: socket)
        var times: [UInt64] = []
        for _ in 0..<rounds {
            let started = now()
            _ = try client.request(try Request(line: line)).get()
            times.append(now() - started)
        }
        times.sort()
        return "\(ms(times[times.count / 2])) / \(ms(times.last ?? 0)) ms"
    }

    static func query(socket: String, requests: [String]) throws -> (Int64, String, Double) {
        let client = try CasetrackClient(socketPath: socket)
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var count: Int64 = 0
        for round in 0..<55 {
            let started = now()
            for (index, line) in requests.enumerated() {
                let answer = try client.request(try Request(line: line))
                let final = try answer.get()
                if index == 0 { count = final.int("count") ?? Int64(answer.data.count) }
            }
            if round >= 5 { _ = histogram.record(now() - started) }
        }
        return (count, "\(ms(histogram.valueAtPercentile(50))) / \(ms(histogram.valueAtPercentile(99))) ms",
                Double(histogram.valueAtPercentile(50)) / 1000)
    }
}

/// Many subscribed connections read by one thread (`SocketReader`); each notice line's
/// receive time is kept by its case number and version.
final class Swarm {
    private let reader: SocketReader
    private(set) var arrivals = Arrivals()

    init(socket: String, count: Int, subscribe: String) throws {
        var fds: [Int32] = []
        for _ in 0..<count {
            guard case .success(let fd) = UnixSocket.connect(to: socket) else {
                fds.forEach { close($0) }
                throw BenchError("cannot connect to \(socket)")
            }
            let bytes = Array((subscribe + "\n").utf8)
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            fds.append(fd)
        }
        do { reader = try SocketReader(fds: fds) } catch { fds.forEach { close($0) }; throw error }
        // Wait for every greeting and SUBSCRIBE answer.
        var answered = Set<Int>()
        var refusal: String?
        reader.read(until: now() + 60_000_000, stop: { answered.count == count || refusal != nil }) { index, bytes, _ in
            Swarm.lines(bytes) { start, end in
                if bytes.find("OK", from: start, to: min(end, start + 2)) != nil { answered.insert(index) }
                if bytes.find("ERR", from: start, to: min(end, start + 3)) != nil
                    || bytes.find("BYE", from: start, to: min(end, start + 3)) != nil {
                    refusal = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
                }
            }
        }
        if let refusal { throw BenchError("SUBSCRIBE refused: \(refusal)") }
        guard answered.count == count else { throw BenchError("\(count - answered.count) subscribers got no answer to SUBSCRIBE") }
    }

    deinit { reader.fds.forEach { close($0) } }

    /// Notice lines received so far, over all connections.
    var count: Int { arrivals.count }

    /// Reads on until `expected` notice lines arrived in all or `seconds` passed.
    func drain(expected: Int, within seconds: Double) {
        collect(until: now() + UInt64(seconds * 1_000_000), tick: {}, stop: { self.count >= expected })
    }

    func collect(until deadline: UInt64, tick: () -> Void) {
        collect(until: deadline, tick: tick, stop: { false })
    }

    private func collect(until deadline: UInt64, tick: () -> Void, stop: () -> Bool) {
        reader.read(until: deadline, stop: { tick(); return stop() }) { _, bytes, time in
            // "N seq=… id=C-… kind=status old=… new=… category=… occurred=… recorded_at=… version=V"
            Swarm.lines(bytes) { start, end in
                guard end - start > 2, bytes[start] == UInt8(ascii: "N"), bytes[start + 1] == UInt8(ascii: " "),
                      let id = bytes.find(" id=C-", from: start, to: end),
                      let version = bytes.find(" version=", from: id, to: end)
                else { return }
                let number = bytes.number(at: id + 6, to: end).0
                arrivals.append(noticeKey(number, bytes.number(at: version + 9, to: end).0), at: time)
            }
        }
    }

    /// Calls `line(start, end)` for each complete line in `bytes`; returns the bytes used.
    @discardableResult
    static func lines(_ bytes: UnsafeBufferPointer<UInt8>, _ line: (Int, Int) -> Void) -> Int {
        var start = 0
        var at = 0
        while at < bytes.count {
            if bytes[at] == 10 {
                line(start, at)
                start = at + 1
            }
            at += 1
        }
        return start
    }
}

/// What this machine allows at best, for scale.
enum Floors {
    /// A one-byte ping-pong over a Unix stream socket pair between two threads.
    static func socketRoundTrip() throws -> String {
        var pair: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0 else { throw BenchError("socketpair failed") }
        defer { close(pair[0]); close(pair[1]) }
        let other = pair[1]
        let echo = Thread {
            var byte: UInt8 = 0
            while read(other, &byte, 1) == 1 { _ = write(other, &byte, 1) }
        }
        echo.start()
        var histogram = Histogram<UInt64>(highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: .three)
        var byte: UInt8 = 1
        for round in 0..<20_000 {
            let started = now()
            _ = write(pair[0], &byte, 1)
            _ = read(pair[0], &byte, 1)
            if round >= 1_000 { _ = histogram.record(now() - started) }
        }
        shutdown(pair[0], Int32(SHUT_RDWR))
        return "\(String(format: "%.1f", Double(histogram.valueAtPercentile(50)))) / \(String(format: "%.1f", Double(histogram.valueAtPercentile(99)))) µs"
    }

    /// The machine's ceiling for durable changes from `writers` one-at-a-time writers: each
    /// submits a 100-byte record and waits until it is synced; one flusher takes everything
    /// pending (gathering up to 100 µs while fewer than all writers have joined), writes it into
    /// a preallocated zero-filled file and fdatasyncs it. Nothing else: no SQL, no socket. Records
    /// per second.
    static func logOnly(folder: URL, writers: Int = 8, seconds: Double) throws -> Double {
        let path = folder.appendingPathComponent("floor-log.dat").path
        let size = 64 << 20
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw BenchError("open \(path) failed") }
        defer { close(fd); unlink(path) }
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        for offset in stride(from: 0, to: size, by: zeros.count) {
            guard zeros.withUnsafeBytes({ pwrite(fd, $0.baseAddress, zeros.count, off_t(offset)) }) == zeros.count else {
                throw BenchError("cannot fill \(path)")
            }
        }
        guard fsync(fd) == 0 else { throw BenchError("cannot sync \(path)") }

        final class Log: @unchecked Sendable {
            // NSCondition guards every var below.
            let condition = NSCondition()
            var pending: [UInt8] = []
            var submitted = 0
            var durable = 0
            var stopping = false
            var failed = false
            var acknowledged = 0
        }
        let log = Log()
        let record = [UInt8](repeating: 0x72, count: 100)
        let clients = (0..<writers).map { _ in
            Thread {
                log.condition.lock()
                while !log.stopping {
                    log.pending += record
                    log.submitted += 1
                    let mine = log.submitted
                    log.condition.broadcast()
                    while log.durable < mine, !log.stopping { log.condition.wait() }
                    if log.durable >= mine { log.acknowledged += 1 }
                }
                log.condition.unlock()
            }
        }
        let flusher = Thread {
            var offset = 0
            log.condition.lock()
            while true {
                while log.pending.isEmpty, !log.stopping { log.condition.wait() }
                if log.stopping { break }
                let deadline = Date(timeIntervalSinceNow: 0.000_1)
                while log.pending.count / record.count < writers, !log.stopping {
                    if !log.condition.wait(until: deadline) { break }
                }
                let batch = log.pending
                log.pending.removeAll(keepingCapacity: true)
                let end = log.submitted
                log.condition.unlock()
                if offset + batch.count > size { offset = 0 }
                let written = batch.withUnsafeBytes { pwrite(fd, $0.baseAddress, batch.count, off_t(offset)) }
                offset += batch.count
                let synced = written == batch.count && fdatasync(fd) == 0
                log.condition.lock()
                // A batch that did not reach the disk is not counted: the run ends there.
                if synced {
                    log.durable = end
                } else {
                    log.failed = true
                    log.stopping = true
                }
                log.condition.broadcast()
            }
            log.condition.unlock()
        }
        flusher.start()
        clients.forEach { $0.start() }
        let started = now()
        usleep(UInt32(seconds * 1_000_000))
        log.condition.lock()
        let acknowledged = log.acknowledged
        log.stopping = true
        log.condition.broadcast()
        log.condition.unlock()
        let elapsed = Double(now() - started) / 1_000_000
        while !flusher.isFinished || clients.contains(where: { !$0.isFinished }) { usleep(1_000) }
        guard !log.failed else { throw BenchError("writing or syncing \(path) failed") }
        return Double(acknowledged) / elapsed
    }

    /// The disk's bandwidth: 2 GiB written in 1 MiB pieces, then fdatasync, in bytes a
    /// second. A durable change can go no faster than the disk takes the bytes it writes.
    /// (512 MiB measured 0.8-1.4 GB/s here, the host's cache behind the VM's disk; 2 GiB
    /// 0.3-0.4 GB/s, 8 GiB 0.45 GB/s.)
    static func sequentialWrite(folder: URL) throws -> Double {
        let path = folder.appendingPathComponent("floor-bandwidth.dat").path
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw BenchError("open \(path) failed") }
        defer { close(fd); unlink(path) }
        let piece = [UInt8](repeating: 0x2A, count: 1 << 20)
        let started = now()
        for _ in 0..<2048 {
            guard piece.withUnsafeBytes({ write(fd, $0.baseAddress, piece.count) }) == piece.count else {
                throw BenchError("cannot write \(path)")
            }
        }
        guard fdatasync(fd) == 0 else { throw BenchError("cannot sync \(path)") }
        return Double(2048 << 20) / (Double(now() - started) / 1_000_000)
    }

    /// 4 KiB written at the end of a file, then fdatasync, as a commit does at least.
    static func syncedWrite(folder: URL) throws -> String {
        let path = folder.appendingPathComponent("floor.dat").path
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw BenchError("open \(path) failed") }
        defer { close(fd); unlink(path) }
        let page = [UInt8](repeating: 0x2A, count: 4096)
        var histogram = Histogram<UInt64>(highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: .three)
        for _ in 0..<500 {
            let started = now()
            _ = page.withUnsafeBytes { write(fd, $0.baseAddress, 4096) }
            _ = fdatasync(fd)
            _ = histogram.record(now() - started)
        }
        return "\(ms(histogram.valueAtPercentile(50))) / \(ms(histogram.valueAtPercentile(99))) ms"
    }
}
