import ArgumentParser
import CasetrackClient
import CasetrackCore

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that the history was not rewritten: recompute its hash chain, and each case against its last event.",
        discussion: """
            Every event carries the SHA-256 of the event before it and its own content, so an event \
            changed, deleted or moved breaks the chain from there on; verify names each such event, \
            and each case whose row is not what its last event left (status, version). It prints the \
            chain head: kept elsewhere (with a backup, in a report), a later verify proves that the \
            history up to it is unchanged: give it with --head and --head-seq (the event it was the \
            head at), and verify checks that the chain, made again from the events alone, still leads \
            to it. Exit 0 when all is well, 1 with the problems. Needs the reader role.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .long, help: ArgumentHelp("A chain head kept elsewhere (from status, a backup, an export's first line, the journal).", valueName: "hash"))
    var head: String?

    @Option(name: .long, help: ArgumentHelp("The event that head was taken at (head_seq, last or seq beside it).", valueName: "seq"))
    var headSeq: Int64?

    func validate() throws {
        if (head == nil) != (headSeq == nil) { throw ValidationError("give --head and --head-seq together") }
    }

    func run() throws {
        var failed = false
        try connection.run { client in
            var options: [(key: String, value: String)] = []
            if let head, let headSeq { options = [("head", head), ("head_seq", String(headSeq))] }
            let answer = try client.request(Request(verb: "VERIFY", options: options))
            let final = try answer.get()
            let ok = final.string("ok") == "yes"
            failed = !ok
            if connection.json {
                var output = "{\"ok\":\(ok),\"events\":\(final.int("events") ?? 0),"
                    + "\"first_seq\":\(final.int("first_seq") ?? 0),\"last_seq\":\(final.int("last_seq") ?? 0),\"head\":"
                JSON.string(final.string("head") ?? "", into: &output)
                if let kept = final.string("kept_head") { output += ",\"kept_head\":\"\(kept)\"" }
                if let unchecked = final.int("unchecked") { output += ",\"unchecked\":\(unchecked)" }
                if !ok {
                    output += ",\"first_bad\":"
                    JSON.string(answer.data.first?.string("subject") ?? "", into: &output)
                    output += ",\"problems\":["
                    for (index, problem) in answer.data.enumerated() {
                        if index > 0 { output += "," }
                        output += "{\"subject\":"
                        JSON.string(problem.string("subject") ?? "", into: &output)
                        output += ",\"message\":"
                        JSON.string(problem.string("message") ?? "", into: &output)
                        output += "}"
                    }
                    output += "]"
                }
                Output.line(output + "}")
                return
            }
            for problem in answer.data {
                Output.line("\(problem.string("subject") ?? "?"): \(problem.string("message") ?? "")")
            }
            if let kept = final.string("kept_head"), let head, let headSeq {
                Output.line(kept == "matches" ? "the head kept for event \(headSeq) (\(head)) is this history's: nothing up to it was changed"
                    : "the head kept for event \(headSeq) (\(head)) is NOT this history's")
            }
            let events = final.int("events") ?? 0
            let range = events > 0 ? " (\(final.string("first_seq") ?? "?") to \(final.string("last_seq") ?? "?"))" : ""
            if let unchecked = final.int("unchecked") {
                Output.line("\(unchecked) case\(unchecked == 1 ? " is" : "s are") unchanged since retention removed \(unchecked == 1 ? "its" : "their") events: \(unchecked == 1 ? "its row" : "their rows") could not be checked")
            }
            Output.line(ok ? "ok: \(events) events\(range), chain head \(final.string("head") ?? "?")"
                : "NOT OK: \(answer.data.count + Int(final.int("unlisted") ?? 0)) problems in \(events) events\(range); chain head as stored \(final.string("head") ?? "?")")
        }
        if failed { throw ExitCode(ExitStatus.failure) }
    }
}
