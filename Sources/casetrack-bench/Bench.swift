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
            run), restarts the daemon to time READY, then measures durable status changes (with the \
            daemon's CPU time and disk writes a change), notice latency, point reads, the "civilians held \
            8 years or more" query and a name search, and this machine's floors (a Unix-socket round \
            trip, a 4 KiB write + fdatasync, the disk's sequential write bandwidth, and the log-only \
            ceiling: 8 writers appending 100-byte records through one syncing flusher). Percentiles come from \
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

    @Option(help: "Phases to run, comma-separated: writes, notices, reads, queries, identity, import, floors, offices (casetrackd on PostgreSQL; with --peers, it runs anyway).")
    var phases = "writes,notices,reads,queries,identity,import,floors"

    @Option(help: "New cases the import phase loads into the data set.")
    var importRows = 50_000

    @Option(help: "The daemon's max_line_length, which bounds an IMPORT request (as casectl import sends them: up to 1,000 rows, up to this many bytes).")
    var maxLine = 65_536

    @Option(help: "Status changes a second in the notice phases, for casetrackd and the peers alike. The writer waits for each answer: it cannot go faster than the daemon answers, so compare figures at a rate every daemon keeps up with.")
    var noticeRate = 500

    @Flag(help: "Also run the same jobs on PostgreSQL and Redis (make bench-peers), with the ratios.")
    var peers = false

    /// Removes the database copies of earlier runs that failed or were killed (their folders,
    /// with the daemon's log, stay): each is the size of the data set, 1.5 GB at a million cases.
    static func dropStaleCopies(in data: URL) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: data.path)) ?? []
        for name in names where name.hasPrefix("run-") || name.hasPrefix("upgrade-") {
            guard let pid = name.split(separator: "-").last.flatMap({ Int32($0) }),
                  kill(pid, 0) != 0, errno == ESRCH else { continue }
            for file in ["cases.sqlite", "cases.sqlite-wal", "cases.sqlite-shm"] {
                try? FileManager.default.removeItem(at: data.appendingPathComponent(name).appendingPathComponent(file))
            }
        }
    }

    func run() throws {
        var report = Report()
        report.note("machine", Machine.describe())
        Self.dropStaleCopies(in: URL(fileURLWithPath: data))
        let folder = URL(fileURLWithPath: data).appendingPathComponent("run-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var succeeded = false
        // A failed run keeps its folder (the daemon's log is in it).
        defer { if succeeded { try? FileManager.default.removeItem(at: folder) } }
        let phases = Set(self.phases.split(separator: ",").map(String.init))
        let database = try Dataset.prepare(cases: cases, bin: bin, folder: URL(fileURLWithPath: data), report: &report)
        let workingCopy = folder.appendingPathComponent("cases.sqlite").path
        try FileManager.default.copyItem(atPath: database, toPath: workingCopy)
        // On disk before the timed start: otherwise the daemon's first fsync (switching the
        // copy to WAL) would write out the whole fresh copy, some 600 MB at a million cases.
        let copy = open(workingCopy, O_RDONLY)
        guard copy >= 0, fsync(copy) == 0 else { throw BenchError("cannot sync \(workingCopy)") }
        close(copy)

        let daemon = try Daemon(bin: bin, folder: folder, database: workingCopy, configuration: "max_line_length = \(maxLine)\n")
        var figures = Figures()
        let ready = try daemon.start()
        figures["ready"] = Double(ready) / 1000
        report.add("start to READY=1 (\(cases.formatted()) cases)", "\(ms(ready)) ms")
        report.add("resident memory, idle", "\(daemon.residentMegabytes()) MB")
        // Writes wait for the check of the whole file that runs at start (reads do not): the
        // first one is timed on its own, so that no phase measures the check.
        let checked = now()
        _ = try CasetrackClient(socketPath: daemon.socket).request(Request(verb: "TEST-NOTICE", options: [("note", "bench")])).get()
        report.add("first write after READY (waits for the start-time file check)", "\(ms(now() - checked)) ms")

        for writers in [1, 8, 64] where phases.contains("writes") {
            let cost = ChangeCost(server: daemon.pid)
            let rate = try Workloads.statusChanges(socket: daemon.socket, writers: writers, cases: cases, seconds: seconds, window: cost)
            figures["writes\(writers).casetrack"] = rate
            report.add("durable status changes/s, \(writers) writer\(writers == 1 ? "" : "s")", rate.formatted(.number.precision(.fractionLength(0))))
            report.add("daemon CPU a durable change, \(writers) writer\(writers == 1 ? "" : "s")", cost.text)
            report.add("written to the disk a durable change, \(writers) writer\(writers == 1 ? "" : "s")", cost.writtenText)
            if let bytes = cost.bytesPerChange { figures["written\(writers)"] = bytes }
        }
        for subscribers in [1, 100, 1_000] where phases.contains("notices") {
            let result = try Workloads.noticeLatency(socket: daemon.socket, subscribers: subscribers, cases: cases, rate: noticeRate,
                                                     seconds: seconds, daemon: daemon)
            report.add("notice latency from send, \(subscribers) sub. p50/p99/max", result.fromSend)
            report.add("notice latency from ack, \(subscribers) sub. p50/p99/max", result.fromAck)
            report.add("notice CPU a line, \(subscribers) sub.", result.cost)
            figures["p99send\(subscribers).casetrack"] = result.p99
            if subscribers == 1_000 {
                figures["rss1000"] = Double(result.memory)
                report.add("resident memory, 1,000 subscribers under load", "\(result.memory) MB")
            }
        }
        if phases.contains("reads") {
        for window in [1, 1_000] {
            let value = try Workloads.reads(socket: daemon.socket, cases: cases, seconds: seconds, window: window)
            figures["reads\(window).casetrack"] = value
            report.add("point reads/s, \(window == 1 ? "one connection" : "pipelined (1,000 in flight)")", rate(value))
        }
        }
        if phases.contains("queries") {
        let (count, query, queryP50) = try Workloads.query(socket: daemon.socket, requests: [
            "COUNT category=civilian status=captive held_min=8y", "LIST category=civilian status=captive held_min=8y limit=50",
        ])
        figures["query.casetrack"] = queryP50
        report.add("civilians captive 8y+: count + first page p50/p99 (count \(count))", query)
        report.add("name search (LIST name=… limit=50) p50/p99", try Workloads.query(socket: daemon.socket, requests: [
            "LIST name=\"kovalenko petro\" limit=50",
        ]).1)
        // The whole history counted: as of today (a past day counts a prefix of it).
        let today = Timestamp(unixMilliseconds: Int64(Date().timeIntervalSince1970 * 1000)).day
        report.add("STATS as_of= over the whole history, p50/max of 5", try Workloads.timed(
            socket: daemon.socket, line: "STATS as_of=\(today)", rounds: 5))
        }
        if phases.contains("identity") {
            let list = try IdentityWorkloads.list(socket: daemon.socket, cases: cases)
            figures["match390"] = list.p50
            report.add("MATCH of a 390-line exchange list p50 (right case: exact / probable first / other; among the candidates)",
                       "\(String(format: "%.1f", list.p50)) ms (\(list.exact) / \(list.probable) / \(list.other); \(list.among))")
            let single = try IdentityWorkloads.single(socket: daemon.socket, cases: cases)
            figures["duplicatesID"] = single.p99
            report.add("DUPLICATES id=… p50/p99", String(format: "%.2f / %.2f ms", single.p50, single.p99))
            let whole = try IdentityWorkloads.register(socket: daemon.socket)
            figures["duplicatesAll"] = whole.seconds
            report.add("DUPLICATES over the whole register (pairs, compared, blocks passed over)",
                       String(format: "%.1f s (%lld, %lld, %lld)", whole.seconds, whole.pairs, whole.compared, whole.oversized))
            report.add("resident memory, after DUPLICATES", "\(daemon.residentMegabytes()) MB")
        }
        if phases.contains("import") {
            let seconds = try Dataset.load(socket: daemon.socket, rows: importRows, seed: 7_000_000, referencePrefix: "I",
                                           maxLine: maxLine)
            figures["import.casetrack"] = Double(importRows) / seconds
            report.add("IMPORT of \(importRows.formatted()) new cases (requests of up to 1,000 rows in \(maxLine.formatted())-byte lines, one ahead)",
                       String(format: "%.1f s (%.0f cases/s)", seconds, Double(importRows) / seconds))
        }
        report.add("resident memory, after the run", "\(daemon.residentMegabytes()) MB")
        daemon.stop()

        if peers {
            try PostgresPeer.run(cases: cases, seconds: seconds, noticeRate: noticeRate, importRows: phases.contains("import") ? importRows : 0,
                                 folder: folder, report: &report, figures: &figures)
            try RedisPeer.run(cases: cases, seconds: seconds, noticeRate: noticeRate, folder: folder, report: &report, figures: &figures)
        }
        if peers || phases.contains("offices") {
            try OfficesRun.run(cases: cases, seconds: seconds, dataset: database, bin: bin, folder: folder, report: &report, figures: &figures)
        }
        Targets.check(figures, report: &report)

        if phases.contains("floors") {
            report.add("floor: Unix-socket round trip p50/p99", try Floors.socketRoundTrip())
            report.add("floor: 4 KiB write + fdatasync p50/p99", try Floors.syncedWrite(folder: folder))
            let ceiling = try Floors.logOnly(folder: folder, seconds: seconds)
            var line = rate(ceiling)
            if let daemon = figures["writes8.casetrack"] {
                line += String(format: " (casetrackd with 8 writers: %.0f%% of it)", daemon / ceiling * 100)
            }
            report.add("floor: log-only durable records/s, 8 writers (100 B, one flusher)", line)
            let bandwidth = try Floors.sequentialWrite(folder: folder)
            var written = String(format: "%.0f MB/s", bandwidth / 1e6)
            if let bytes = figures["written8"], bytes > 0 {
                written += String(format: " (at the 8 writers' %.1f KB a change: at most ", bytes / 1000)
                    + rate(bandwidth / bytes) + " durable changes/s)"
            }
            report.add("floor: sequential write, 2 GiB then fdatasync", written)
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

/// Microseconds on the monotonic clock: the unit of every timing and histogram here.
func now() -> UInt64 { MonotonicClock.microseconds() }

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

/// The issue's targets, as ratios from this run; a figure not measured is said so.
enum Targets {
    static func check(_ figures: Figures, report: inout Report) {
        func ratio(_ label: String, _ ours: String, _ theirs: String, target: Double, higherIsBetter: Bool = true) {
            guard let a = figures[ours], let b = figures[theirs], a > 0, b > 0 else {
                report.add("target: \(label)", "not measured (run with --peers)")
                return
            }
            let value = higherIsBetter ? a / b : b / a
            report.add("target: \(label)", String(format: "%.2f× (target %.0f×): %@", value, target, value >= target ? "met" : "MISSED"))
        }
        func bound(_ label: String, _ key: String, _ limit: Double, _ unit: String, above: Bool = false) {
            guard let value = figures[key] else { report.add("target: \(label)", "not measured"); return }
            let met = above ? value > limit : value < limit
            report.add("target: \(label)", String(format: "%.2f %@ (target %@ %.0f): %@", value, unit, above ? ">" : "<", limit, met ? "met" : "MISSED"))
        }
        // Issue 14's targets: durable changes with 8 writers at least Redis appendfsync always, and
        // at least 3× PostgreSQL with its NOTIFY trigger, in the same run.
        ratio("8 writers, casetrackd ÷ Redis appendfsync always", "writes8.casetrack", "writes8.redis", target: 1)
        ratio("8 writers, casetrackd ÷ PostgreSQL with NOTIFY trigger", "writes8.casetrack", "writes8.pg", target: 3)
        ratio("notice p99 from send, 100 subscribers, Redis pub/sub ÷ casetrackd", "p99send100.casetrack", "p99send100.redis",
              target: 1, higherIsBetter: false)
        bound("notice p99 from send, 1,000 subscribers", "p99send1000.casetrack", 5, "ms")
        ratio("point reads, one connection, casetrackd ÷ Redis HGETALL", "reads1.casetrack", "reads1.redis", target: 1)
        bound("point reads pipelined", "reads1000.casetrack", 200_000, "/s", above: true)
        ratio("civilians 8y+ count + first page, PostgreSQL ÷ casetrackd time", "query.casetrack", "query.pg", target: 1, higherIsBetter: false)
        bound("civilians 8y+ count + first page", "query.casetrack", 10, "ms")
        bound("start to READY", "ready", 1_000, "ms")
        bound("resident memory with 1,000 subscribers", "rss1000", 150, "MB")
        bound("MATCH of a 390-line list", "match390", 1_000, "ms")
        bound("DUPLICATES id=… p99", "duplicatesID", 50, "ms")
        bound("DUPLICATES over the whole register", "duplicatesAll", 60, "s")
        // Issue 16's: 1,000,000 rows through IMPORT in under 60 s, that is over 16,667 a second.
        bound("IMPORT rate (1,000,000 in under 60 s)", "import.casetrack", 16_667, "cases/s", above: true)
        ratio("IMPORT, casetrackd ÷ PostgreSQL COPY (rows/s)", "import.casetrack", "import.pg", target: 1)
        // Issue 17's: several offices on PostgreSQL, beside PostgreSQL alone.
        bound("notice p99 from send across offices, 100 subscribers", "p99send100.offices", 20, "ms")
    }
}
