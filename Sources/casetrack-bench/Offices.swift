#if canImport(Glibc)
import Glibc
#endif
import CasetrackCore
import CasetrackTestSupport
import Foundation

/// casetrackd on PostgreSQL (several offices, one register), beside PostgreSQL alone: the same
/// data set moved into a throw-away cluster (casetrackd --migrate-to-postgresql), one office
/// and then two, durable status changes with 8 writers, and notice latency from a write at one
/// office to subscribers of the other. Needs a casetrackd built with the trait Postgres.
enum OfficesRun {
    static func run(cases: Int, seconds: Double, dataset: String, bin: String, folder: URL,
                    report: inout Report, figures: inout Figures) throws {
        let label = "casetrackd on PostgreSQL"
        guard PostgresCluster.binFolder != nil else {
            report.add(label, "skipped: PostgreSQL is not installed (make bench-peers installs it)")
            return
        }
        let builtWithPostgres = try DaemonProcess.run(URL(fileURLWithPath: bin).appendingPathComponent("casetrackd"), [
            "--check-config", "--config", try write("store = postgresql\npostgresql = \"host=/nonexistent\"\n", folder.appendingPathComponent("probe.conf")),
        ])
        guard !builtWithPostgres.stderr.contains("built without PostgreSQL") else {
            report.add(label, "skipped: this casetrackd was built without PostgreSQL (make bench-peers builds it with)")
            return
        }
        let cluster = try PostgresCluster(settings: ["shared_buffers=256MB", "max_connections=300"])
        try cluster.createDatabase("offices")
        let connInfo = cluster.connInfo(database: "offices")
        let store = "store = postgresql\npostgresql = \"\(connInfo)\"\n"

        let firstFolder = folder.appendingPathComponent("office-a")
        let secondFolder = folder.appendingPathComponent("office-b")
        for office in [firstFolder, secondFolder] { try FileManager.default.createDirectory(at: office, withIntermediateDirectories: true) }
        let first = firstFolder.appendingPathComponent("cases.sqlite").path
        try FileManager.default.copyItem(atPath: dataset, toPath: first)
        let started = now()
        let moved = try DaemonProcess.run(URL(fileURLWithPath: bin).appendingPathComponent("casetrackd"),
                                          ["--database", first, "--migrate-to-postgresql", connInfo])
        guard moved.status == 0 else { throw BenchError("--migrate-to-postgresql: \(moved.stderr.suffix(400))") }
        report.note(label, "\(cases.formatted()) cases moved in (verified, stored, read back) in \(String(format: "%.1f", Double(now() - started) / 1_000_000)) s")
        // The move wrote the whole register: its checkpoint is the setup's, not a phase's (as
        // the single-host data set is synced before the timed start).
        _ = try cluster.psql("CHECKPOINT", database: "offices")

        let officeA = try Daemon(bin: bin, folder: firstFolder, database: first, configuration: store + "office = a\n")
        report.add("\(label): start to READY=1, office with its copy", "\(ms(try officeA.start())) ms")
        let one = try Workloads.statusChanges(socket: officeA.socket, writers: 8, cases: cases, seconds: seconds)
        figures["writes8.offices1"] = one
        let alone = figures["writes8.pg"].map { String(format: " (%.2f× PostgreSQL alone)", one / $0) } ?? ""
        report.add("\(label): durable status changes/s, 8 writers, one office", rate(one) + alone)

        let officeB = try Daemon(bin: bin, folder: secondFolder, database: secondFolder.appendingPathComponent("cases.sqlite").path,
                                 configuration: store + "office = b\n")
        let joined = try officeB.start()
        report.add("\(label): a new office, empty file to READY=1 (its copy made from the register)", "\(ms(joined)) ms")
        let two = try Workloads.statusChanges(sockets: [officeA.socket, officeB.socket], writers: 8, cases: cases, seconds: seconds)
        figures["writes8.offices2"] = two
        let twoAlone = figures["writes8.pg"].map { String(format: " (%.2f× PostgreSQL alone)", two / $0) } ?? ""
        report.add("\(label): durable status changes/s, 8 writers, 4 through each of two offices", rate(two) + twoAlone)

        // Office b's copy came in whole from the register: the same.
        _ = try cluster.psql("CHECKPOINT", database: "offices")
        let latency = try Workloads.noticeLatency(socket: officeB.socket, subscribers: 100, cases: cases, seconds: seconds,
                                                  daemon: officeB, writerSocket: officeA.socket)
        figures["p99send100.offices"] = latency.p99
        report.add("\(label): notice latency from send at office a to 100 subscribers of office b, p50/p99/max", latency.fromSend)
        officeB.stop()
        officeA.stop()
    }

    static func write(_ text: String, _ file: URL) throws -> String {
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }
}
