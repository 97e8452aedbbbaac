import Foundation

// The daemon's CPU time a durable change, over a write phase's timed seconds.

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

/// What one durable change cost the daemon over a phase's timed seconds: the whole process,
/// and its writer thread (`ct-writer`), which runs every write round: how much of a rate is
/// work done and how much is waiting. It swings with the machine's phases as the rates do.
final class ChangeCost {
    let server: pid_t
    private var start: (process: Double?, writer: Double?) = (nil, nil)
    private(set) var text = "not measured"

    init(server: pid_t) { self.server = server }

    /// The measured seconds begin.
    func begin() { start = (cpuSeconds(of: server), cpuSeconds(of: server, thread: "ct-writer")) }

    /// They end, with `count` changes made.
    func end(count: Int) {
        guard count > 0, let process = start.process, let processEnd = cpuSeconds(of: server) else { return }
        let micro = { (seconds: Double) in String(format: "%.0f", seconds * 1e6 / Double(count)) }
        text = "casetrackd \(micro(processEnd - process)) µs"
        if let writer = start.writer, let writerEnd = cpuSeconds(of: server, thread: "ct-writer") {
            text += ", its writer thread \(micro(writerEnd - writer)) µs"
        }
    }
}
