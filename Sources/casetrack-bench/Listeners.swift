#if canImport(Glibc)
import Glibc
#endif
import CasetrackPOSIX
import CEpoll

// The read side of the notice phases, shared by casetrackd's subscribers and the peers'
// listeners. With 1,000 subscribers the benchmark reads some 500,000 notices a second on the
// same two cores as the daemon it measures: what it spends there is taken from the daemon.
// A profile of the first version (poll(2) over every socket per wake-up, each line split into
// arrays and its key made a String) had this reader at nearly half the machine. So: epoll,
// each socket's bytes scanned where they were read, and keys that are two numbers packed in
// one integer, appended flat and grouped once at the end.

/// A notice's key: a case number (or token's first part) and a version, in one integer.
func noticeKey(_ first: UInt64, _ version: UInt64) -> UInt64 { first << 24 | (version & 0xFF_FFFF) }

/// When each notice was read, in reading order.
struct Arrivals {
    private(set) var keys: [UInt64] = []
    private(set) var times: [UInt64] = []

    var count: Int { keys.count }

    init() {
        keys.reserveCapacity(1 << 20)
        times.reserveCapacity(1 << 20)
    }

    mutating func append(_ key: UInt64, at time: UInt64) {
        keys.append(key)
        times.append(time)
    }

    /// The arrivals of each key.
    func byKey() -> [UInt64: [UInt64]] {
        var grouped: [UInt64: [UInt64]] = [:]
        for (key, time) in zip(keys, times) { grouped[key, default: []].append(time) }
        return grouped
    }
}

/// Reads many sockets from one thread. Each ready socket is read once per wake-up into one
/// chunk, behind what was left of its last read, and the scanner is handed the bytes; it
/// returns how many it used, and the rest waits for the socket's next read.
final class SocketReader {
    let fds: [Int32]
    private let epoll: Int32
    private var leftovers: [[UInt8]]
    private var chunk = [UInt8](repeating: 0, count: 256 * 1024)
    private var events = [epoll_event](repeating: epoll_event(), count: 1024)

    init(fds: [Int32]) throws {
        self.fds = fds
        leftovers = [[UInt8]](repeating: [], count: fds.count)
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw BenchError("epoll_create1 failed: errno \(errno)") }
        for (index, fd) in fds.enumerated() {
            var event = epoll_event()
            event.events = EPOLLIN.rawValue
            event.data.u64 = UInt64(index)
            guard epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0 else {
                close(epoll)
                throw BenchError("epoll_ctl failed on socket \(fd): errno \(errno)")
            }
        }
    }

    deinit { close(epoll) }

    /// Reads until `stop()` or the deadline. `scan(index, bytes, time)` gets the socket's
    /// unused bytes and the time they were read, and returns how many it used.
    func read(until deadline: UInt64, stop: () -> Bool,
              scan: (Int, UnsafeBufferPointer<UInt8>, UInt64) throws -> Int) rethrows {
        while !stop(), now() < deadline {
            let ready = events.withUnsafeMutableBufferPointer { epoll_wait(epoll, $0.baseAddress, Int32($0.count), 50) }
            guard ready > 0 else { continue }
            for slot in 0..<Int(ready) {
                let index = Int(events[slot].data.u64)
                let kept = leftovers[index].count
                if kept > 0 {
                    if chunk.count < kept * 2 { chunk += [UInt8](repeating: 0, count: kept * 2) }
                    chunk.withUnsafeMutableBufferPointer { $0.baseAddress?.update(from: leftovers[index], count: kept) }
                }
                let count = chunk.withUnsafeMutableBytes {
                    recv(fds[index], $0.baseAddress.map { $0 + kept }, $0.count - kept, Int32(MSG_DONTWAIT))
                }
                guard count > 0 else { continue }
                let time = now()
                let total = kept + count
                let used = try chunk.withUnsafeBufferPointer {
                    try scan(index, UnsafeBufferPointer(rebasing: $0[0..<total]), time)
                }
                leftovers[index] = used < total ? Array(chunk[used..<total]) : []
            }
        }
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// Where `pattern` starts in `self[from..<to]`, if it does.
    func find(_ pattern: StaticString, from: Int, to: Int) -> Int? {
        let length = pattern.utf8CodeUnitCount
        guard length > 0, to - from >= length, let base = baseAddress else { return nil }
        let first = pattern.utf8Start.pointee
        var at = from
        while at <= to - length {
            if self[at] == first, memcmp(base + at, pattern.utf8Start, length) == 0 { return at }
            at += 1
        }
        return nil
    }

    /// The decimal number at `at` (up to the first non-digit), and where it ends.
    func number(at start: Int, to: Int) -> (UInt64, Int) {
        var value: UInt64 = 0
        var at = start
        while at < to, self[at] >= 48, self[at] <= 57 {
            value = value &* 10 &+ UInt64(self[at] - 48)
            at += 1
        }
        return (value, at)
    }
}

/// CPU time (user and system) a process has used so far, in seconds, from /proc/PID/stat.
func cpuSeconds(of pid: pid_t) -> Double? { cpuSeconds(stat: "/proc/\(pid)/stat") }

/// The CPU time of a process's or a thread's `stat` file.
func cpuSeconds(stat path: String) -> Double? {
    guard let stat = try? String(contentsOfFile: path, encoding: .utf8),
          let name = stat.lastIndex(of: ")")
    else { return nil }
    // From the state (field 3) on; utime and stime are fields 14 and 15, in clock ticks.
    let fields = stat[stat.index(after: name)...].split(separator: " ")
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// CPU time this process (the benchmark: its listeners and its writer) has used so far.
func ownCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// What delivering one notice line cost the server and the listeners, from the CPU times
/// before and after: "server X µs / listeners Y µs".
struct LineCost {
    let server: pid_t
    private let serverStart: Double?
    private let ownStart = ownCPUSeconds()

    init(server: pid_t) {
        self.server = server
        serverStart = cpuSeconds(of: server)
    }

    func text(lines: Int) -> String {
        guard lines > 0, let serverStart, let serverEnd = cpuSeconds(of: server) else { return "not measured" }
        let micro = { (seconds: Double) in String(format: "%.1f", seconds * 1e6 / Double(lines)) }
        return "server \(micro(serverEnd - serverStart)) µs / listeners \(micro(ownCPUSeconds() - ownStart)) µs"
    }
}
