import CasetrackClient
import CasetrackCore
import CasetrackPOSIX
import CasetrackTestSupport
import Foundation
import Synchronization
import Testing

@Suite("Notices: fan-out to many subscribers")
struct FanOutTests {
    /// When each acknowledged change was sent, by its sequence number.
    final class SendTimes: Sendable {
        private let times = Mutex<[Int64: UInt64]>([:])

        func add(_ seq: Int64, sent: UInt64) { times.withLock { $0[seq] = sent } }

        var all: [Int64: UInt64] { times.withLock { $0 } }
        var count: Int { times.withLock { $0.count } }
    }

    /// Changes statuses in pipelined rounds of 10 on 20 cases until `stop` says so; returns
    /// once it has stopped.
    static func write(socket: String, cases: [String], into times: SendTimes, stop: @Sendable () -> Bool) throws {
        let client = try CasetrackClient(socketPath: socket)
        var round = 0
        while !stop() {
            let half = Array(cases[(round % 2 * 10)..<(round % 2 * 10 + 10)])
            let status = round / 2 % 2 == 0 ? "captive" : "missing"
            let sent = MonotonicClock.nanoseconds()
            for id in half { try client.send(Request(verb: "SET-STATUS", positional: [id, status])) }
            for _ in half {
                guard let seq = try client.receive().get().int("seq") else { throw CasetrackError(.internalError, "no seq") }
                times.add(seq, sent: sent)
            }
            round += 1
        }
    }

    /// The 99th percentile, in milliseconds, of the time from send to each subscriber's read.
    static func p99(_ swarm: SubscriberSwarm, _ times: SendTimes) -> Double {
        let sent = times.all
        var latencies: [UInt64] = []
        for index in swarm.lines.indices {
            for (line, arrival) in zip(swarm.lines[index], swarm.arrivals[index]) {
                guard let seq = SubscriberSwarm.sequence(line), let at = sent[seq] else { continue }
                latencies.append(arrival > at ? arrival - at : 0)
            }
        }
        latencies.sort()
        guard !latencies.isEmpty else { return 0 }
        return Double(latencies[min(latencies.count - 1, latencies.count * 99 / 100)]) / 1e6
    }

    @Test("a slow subscriber among fast ones: their latency does not move; its overflow ends it alone")
    func slowAmongFast() throws {
        let daemon = try Daemon(start: false)
        try daemon.start(config: "subscriber_buffer = 100\n")
        let cases = try daemon.openCases(20)
        let socket = daemon.socket

        // With the slow subscriber: the writer goes on until it was cut off, then 300 more.
        let fast = try SubscriberSwarm(socket: socket, count: 10, subscribe: "SUBSCRIBE kind=status")
        let slow = try daemon.raw()
        try slow.send("SUBSCRIBE kind=status\n")
        let answer = try slow.answer()
        #expect(answer.first?.hasPrefix("OK after=") == true)
        let startedAfter = Int64(answer.first?.split(separator: "=").last ?? "") ?? -1
        let slowLines = Mutex<[String]>([])
        let cutOffAt = Atomic<Int>(0)
        let times = SendTimes()
        let done = Atomic<Bool>(false)
        // Read by the thread below alone until it has finished.
        nonisolated(unsafe) let slowReading = slow
        let reader = Thread {
            // 50 lines a second, far fewer than the writer makes.
            while let line = try? slowReading.line() {
                slowLines.withLock { $0.append(line) }
                if line.hasPrefix("BYE") {
                    cutOffAt.store(max(1, times.count), ordering: .sequentiallyConsistent)
                    break
                }
                usleep(20_000)
            }
        }
        let writer = Thread {
            try? FanOutTests.write(socket: socket, cases: cases, into: times) {
                let cut = cutOffAt.load(ordering: .sequentiallyConsistent)
                return (cut > 0 && times.count >= cut + 300) || times.count >= 60_000
            }
            done.store(true, ordering: .sequentiallyConsistent)
        }
        reader.start()
        writer.start()
        try fast.collect(timeout: 180) { swarm in
            done.load(ordering: .sequentiallyConsistent) && swarm.lines.allSatisfy { $0.count >= times.count }
        }
        let written = times.all.keys.sorted()
        for index in 0..<10 {
            #expect(fast.sequences(index) == written, "fast subscriber \(index) got every notice once, in order")
        }
        while !reader.isFinished { usleep(2_000) }
        let cut = cutOffAt.load(ordering: .sequentiallyConsistent)
        #expect(cut > 0 && written.count >= cut + 300, "the slow one was cut off while the writes went on")

        // The slow one: a prefix of the notices, then the marker saying where to resume, then the end.
        let lines = slowLines.withLock { $0 }
        let received = lines.compactMap(SubscriberSwarm.sequence)
        #expect(received == Array(written.prefix(received.count)))
        #expect(received.count < written.count)
        let marker = lines.last ?? ""
        #expect(marker.hasPrefix("BYE overflow after=\(received.last ?? startedAfter) "), "marker: \(marker)")
        #expect(try slow.line() == nil, "disconnected after the marker")
        let withSlow = FanOutTests.p99(fast, times)

        // The same writes without it.
        let alone = try SubscriberSwarm(socket: socket, count: 10, subscribe: "SUBSCRIBE kind=status")
        let aloneTimes = SendTimes()
        let target = written.count
        let aloneDone = Atomic<Bool>(false)
        let second = Thread {
            try? FanOutTests.write(socket: socket, cases: cases, into: aloneTimes) { aloneTimes.count >= target }
            aloneDone.store(true, ordering: .sequentiallyConsistent)
        }
        second.start()
        try alone.collect(timeout: 180) { swarm in
            aloneDone.load(ordering: .sequentiallyConsistent) && swarm.lines.allSatisfy { $0.count >= aloneTimes.count }
        }
        let baseline = FanOutTests.p99(alone, aloneTimes)
        // A subscriber that held the others up would put them at its pace, 50 lines a second:
        // seconds, not milliseconds. (make bench measures the latency itself.)
        #expect(withSlow <= baseline * 3 + 25, "p99 from send: \(withSlow) ms with the slow subscriber, \(baseline) ms without")
        #expect(fast.lines.allSatisfy { !$0.contains { $0.hasPrefix("BYE") } }, "no fast subscriber was cut off")
    }
}
