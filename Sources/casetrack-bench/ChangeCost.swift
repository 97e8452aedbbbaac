import Foundation

// The daemon's CPU time and disk writes a durable change, over a write phase's timed seconds.

/// CPU time one thread of a process has used so far, the thread found by its name.
func cpuSeconds(of pid: pid_t, thread name: String) -> Double? {
    guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return nil }
    for task in tasks {
        guard let comm = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/comm", encoding: .utf8),
              comm.trimmingCharacters(in: .whitespacesAndNewlines) == name else { continue }
        return cpuSeconds(stat: "/proc/\(pid)/task/\(task)/stat")
    }
    return nil
}

/// Bytes a process has caused to be written to storage so far (`write_bytes` of
/// `/proc/PID/io`: counted as it dirties pages, whoever writes them back later).
func writtenBytes(of pid: pid_t) -> Double? {
    guard let io = try? String(contentsOfFile: "/proc/\(pid)/io", encoding: .utf8) else { return nil }
    for line in io.split(separator: "\n") where line.hasPrefix("write_bytes:") {
        return Double(line.dropFirst("write_bytes:".count).trimmingCharacters(in: .whitespaces))
    }
    return nil
}

/// What one durable change cost the daemon over a phase's timed seconds: the CPU time of the
/// whole process and of its writer thread (`ct-writer`), which runs every write round (how
/// much of a rate is work done and how much is waiting), and the bytes it wrote to the disk
/// (its WAL and, through the checkpoint, the database file), which bound the rate by the
/// disk's bandwidth. The CPU time swings with the machine's phases as the rates do.
final class ChangeCost {
    let server: pid_t
    private var start: (process: Double?, writer: Double?, written: Double?) = (nil, nil, nil)
    private(set) var text = "not measured"
    private(set) var writtenText = "not measured"
    /// Bytes written to the disk a change, once measured.
    private(set) var bytesPerChange: Double?

    init(server: pid_t) { self.server = server }

    /// The measured seconds begin.
    func begin() {
        start = (cpuSeconds(of: server), cpuSeconds(of: server, thread: "ct-writer"), writtenBytes(of: server))
    }

    /// They end, with `count` changes made.
    func end(count: Int) {
        guard count > 0 else { return }
        if let written = start.written, let writtenEnd = writtenBytes(of: server) {
            let perChange = (writtenEnd - written) / Double(count)
            bytesPerChange = perChange
            writtenText = String(format: "%.1f KB (%.1f pages of 4 KiB)", perChange / 1000, perChange / 4096)
        }
        guard let process = start.process, let processEnd = cpuSeconds(of: server) else { return }
        let micro = { (seconds: Double) in String(format: "%.0f", seconds * 1e6 / Double(count)) }
        text = "casetrackd \(micro(processEnd - process)) µs"
        if let writer = start.writer, let writerEnd = cpuSeconds(of: server, thread: "ct-writer") {
            text += ", its writer thread \(micro(writerEnd - writer)) µs"
        }
    }
}
