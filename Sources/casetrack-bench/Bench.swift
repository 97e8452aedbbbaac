#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CasetrackClient
import CasetrackCore
import CasetrackPOSIX
import CasetrackTestSupport
import Foundation
import Histogram
import Synchronization

/// `make bench`: the real casetrackd, over its socket, on a generated data set; one table of
/// figures at the end. Never part of `make test`.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "casetrack-bench",
        abstract: "Measure casetrackd on a generated data set and print one table.",
        discussion: """
            Loads --cases synthetic cases into a new database with IMPORT (kept under --data for the next \
            run), restarts the daemon to time READY, then measures durable status changes, notice \
            latency, point reads, the "civilians held 8 years or more" query and a name search, and this \
            machine's floors (a Unix-socket round trip, a 4 KiB write + fdatasync). Percentiles come from \
            HdrHistogram.
            """)

    @Option(help: "Cases in the data set.")
    var cases = 1_000_000

    @Option(help: "Seconds each throughput phase runs.")
    var seconds = 5.0

    @Option(help: "Folder with the casetrackd binary to measure (build it with -c release).")
    var bin = ".build/release"

    @Option(help: "Folder for the data sets (reused when they exist) and the run's files.")
    var data = ".build/bench"

    @Option(help: "Phases to run, comma-separated: writes, notices, reads, queries, floors.")
    var phases = "writes,notices,reads,queries,floors"

    func run() throws {
        var report = Report()
        report.note("machine", Machine.describe())
        let folder = URL(fileURLWithPath: data).appendingPathComponent("run-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var succeeded = false
        // A failed run keeps its folder (the daemon's log is in it).
        defer { if succeeded { try? FileManager.default.removeItem(at: folder) } }
        let phases = Set(self.phases.split(separator: ",").map(String.init))
        let database = try Dataset.prepare(cases: cases, bin: bin, folder: URL(fileURLWithPath: data), report: &report)
        let workingCopy = folder.appendingPathComponent("cases.sqlite").path
        try FileManager.default.copyItem(atPath: database, toPath: workingCopy)

        let daemon = try Daemon(bin: bin, folder: folder, database: workingCopy)
        let ready = try daemon.start()
        report.add("start to READY=1 (\(cases.formatted()) cases)", "\(ms(ready)) ms")
        report.add("resident memory, idle", "\(daemon.residentMegabytes()) MB")

        for writers in [1, 8, 64] where phases.contains("writes") {
            let rate = try Workloads.statusChanges(socket: daemon.socket, writers: writers, cases: cases, seconds: seconds)
            report.add("durable status changes/s, \(writers) writer\(writers == 1 ? "" : "s")", rate.formatted(.number.precision(.fractionLength(0))))
        }
        for subscribers in [1, 100, 1_000] where phases.contains("notices") {
            let result = try Workloads.noticeLatency(socket: daemon.socket, subscribers: subscribers, cases: cases,
                                                     seconds: seconds, daemon: daemon)
            report.add("notice latency from send, \(subscribers) sub. p50/p99/max", result.fromSend)
            report.add("notice latency from ack, \(subscribers) sub. p50/p99/max", result.fromAck)
            if subscribers == 1_000 { report.add("resident memory, 1,000 subscribers under load", "\(result.memory) MB") }
        }
        if phases.contains("reads") {
        report.add("point reads/s, one connection", try Workloads.reads(socket: daemon.socket, cases: cases, seconds: seconds, window: 1)
            .formatted(.number.precision(.fractionLength(0))))
        report.add("point reads/s, pipelined (1,000 in flight)", try Workloads.reads(socket: daemon.socket, cases: cases, seconds: seconds, window: 1_000)
            .formatted(.number.precision(.fractionLength(0))))
        }
        if phases.contains("queries") {
        let (count, query) = try Workloads.query(socket: daemon.socket, requests: [
            "COUNT category=civilian status=captive held_min=8y", "LIST category=civilian status=captive held_min=8y limit=50",
        ])
        report.add("civilians captive 8y+: count + first page p50/p99 (count \(count))", query)
        report.add("name search (LIST name=… limit=50) p50/p99", try Workloads.query(socket: daemon.socket, requests: [
            "LIST name=\"kovalenko petro\" limit=50",
        ]).1)
        }
        report.add("resident memory, after the run", "\(daemon.residentMegabytes()) MB")
        daemon.stop()

        if phases.contains("floors") {
            report.add("floor: Unix-socket round trip p50/p99", try Floors.socketRoundTrip())
            report.add("floor: 4 KiB write + fdatasync p50/p99", try Floors.syncedWrite(folder: folder))
        }
        report.print()
        succeeded = true
    }
}

/// Microseconds as a readable duration.
func ms(_ microseconds: UInt64) -> String { String(format: "%.2f", Double(microseconds) / 1000) }

func percentiles(_ histogram: Histogram<UInt64>) -> String {
    "\(ms(histogram.valueAtPercentile(50))) / \(ms(histogram.valueAtPercentile(99))) / \(ms(histogram.max)) ms"
}

func now() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000 + UInt64(spec.tv_nsec) / 1_000
}

/// The printed table.
struct Report {
    var rows: [(String, String)] = []
    var notes: [(String, String)] = []

    mutating func add(_ label: String, _ value: String) {
        rows.append((label, value))
        FileDescriptorOutput.write(2, "  \(label): \(value)\n")
    }

    mutating func note(_ label: String, _ value: String) { notes.append((label, value)) }

    func print() {
        for (label, value) in notes { Swift.print("\(label): \(value)") }
        let width = rows.map(\.0.count).max() ?? 0
        Swift.print("| measure" + String(repeating: " ", count: max(0, width - 7)) + " | result |")
        Swift.print("|" + String(repeating: "-", count: width + 2) + "|---|")
        for (label, value) in rows { Swift.print("| \(label)" + String(repeating: " ", count: width - label.count) + " | \(value) |") }
    }
}

enum Machine {
    static func describe() -> String {
        let cpus = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        let model = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?
            .trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        let memory = Double(sysconf(Int32(_SC_PHYS_PAGES)) * sysconf(Int32(_SC_PAGESIZE))) / 1_073_741_824
        return "\(cpus) × \(model), \(String(format: "%.0f", memory)) GiB, \(Date().formatted(.iso8601))"
    }
}
