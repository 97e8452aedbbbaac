#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CasetrackClient
import CasetrackCore
import CasetrackPOSIX
import Foundation

// How `import` sends a file: batches that fit a line, one request ahead, progress on a terminal.
extension Import {
    /// Sends each request while the answer to the one before is on its way (one ahead), so
    /// that the daemon works on a batch while casectl writes the next; `handle` returns false
    /// to stop (the answer to a request already sent is still handed over).
    static func pipelined(_ client: CasetrackClient, _ requests: [Request],
                          _ handle: (Int, Answer) throws -> Bool) throws {
        guard !requests.isEmpty else { return }
        try client.send(requests[0])
        var going = true
        for index in requests.indices {
            if going, index + 1 < requests.count { try client.send(requests[index + 1]) }
            let answer = try client.receive()
            if !(try handle(index, answer)) {
                going = false
                // Only the one sent ahead is left to read.
                if index + 1 < requests.count {
                    _ = try handle(index + 1, try client.receive())
                }
                return
            }
        }
    }

    /// Sends each request once the one before was answered, and stops at the first that
    /// `handle` says ends it: so a load that stops leaves exactly the batches before the one
    /// that stopped it. (Sent one ahead, the batch behind a refused one was committed too.)
    static func inOrder(_ client: CasetrackClient, _ requests: [Request], _ handle: (Int, Answer) throws -> Bool) throws {
        for index in requests.indices {
            try client.send(requests[index])
            guard try handle(index, try client.receive()) else { return }
        }
    }

    static func request(_ batch: ArraySlice<(line: Int, text: String)>, dryRun: Bool, update: Bool) -> Request {
        Request(verb: "IMPORT", options: batch.map { ("row", $0.text) } + (dryRun ? [("dry_run", "yes")] : [])
                    + (update ? [("update", "yes")] : []))
    }

    /// An update row's problem, as the daemon will find it.
    static func updateProblems(_ text: String) -> [CasetrackError] {
        do {
            _ = try UpdateRow(text, today: Output.today)
            return []
        } catch let error as CasetrackError {
            return [error]
        } catch {
            return [CasetrackError.badArgument("\(error)")]
        }
    }

    /// Rows in requests of at most 1,000 rows that fit the daemon's line length.
    static func batches(_ texts: [(line: Int, text: String)], maxLine: Int) -> [ArraySlice<(line: Int, text: String)>] {
        var batches: [ArraySlice<(line: Int, text: String)>] = []
        var start = 0
        var size = 32
        for index in texts.indices {
            let cost = Request(verb: "IMPORT", options: [("row", texts[index].text)]).line.utf8.count - 6
            if index > start, index - start >= ImportRow.maximumRowsPerRequest || size + cost > maxLine - 64 {
                batches.append(texts[start..<index])
                start = index
                size = 32
            }
            size += cost
        }
        if start < texts.count { batches.append(texts[start...]) }
        return batches
    }

    /// A batch refused for one of its rows, said as the file's check says a problem: the
    /// file, the row's line and field, and why (without the daemon's "row N:" within the batch
    /// and its "nothing was imported", which is true of the batch, not of the file). nil when
    /// the refusal names no row.
    static func refusedRow(_ error: any Error, file: String, line: Int) -> String? {
        guard let error = error as? CasetrackError, let row = error.details.int("row") else { return nil }
        var message = error.message
        if message.hasPrefix("row \(row): ") { message.removeFirst("row \(row): ".count) }
        for tail in ["; nothing was imported", "; nothing was updated"] where message.hasSuffix(tail) {
            message.removeLast(tail.count)
        }
        let field = ImportRow.field(of: CasetrackError(error.code, message)).map(CaseFile.column(for:))
        return "\(file): line \(line)\(field.map { ", field \($0)" } ?? ""): \(strip(message))"
    }

    static func strip(_ message: String) -> String {
        guard let field = message.firstIndex(of: ":"), ImportRow.keys.contains(String(message[..<field])) else { return message }
        return String(message[message.index(after: field)...]).trimmingCharacters(in: .whitespaces)
    }

    static func fail(_ file: String, _ problems: [CaseFile.Problem], update: Bool = false) -> Never {
        for problem in problems.sorted(by: { $0.line < $1.line }) { Output.error("\(file): \(problem)") }
        Output.error("\(file): \(problems.count) problem\(problems.count == 1 ? "" : "s"); nothing was \(update ? "updated" : "imported")")
        Casectl.exit(withError: ExitCode(ExitStatus.dataError))
    }

    /// A progress line on standard error when it is a terminal; nothing otherwise.
    struct Progress {
        let total: Int
        let shown: Bool
        var done = 0

        init(total: Int) {
            self.total = total
            shown = isatty(2) == 1 && total >= 1_000
        }

        mutating func advance(by count: Int) {
            done += count
            guard shown else { return }
            let width = 30
            let filled = total == 0 ? width : width * done / total
            FileDescriptorOutput.write(2, "\r[\(String(repeating: "#", count: filled))\(String(repeating: " ", count: width - filled))] \(done)/\(total) rows")
        }

        func finish() { if shown { FileDescriptorOutput.write(2, "\n") } }
    }
}
