import ArgumentParser
import CasetrackClient
import CasetrackCore

struct ExchangeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exchange",
        abstract: "Record exchanges, list who is on them, and mark a phase as come home.",
        discussion: """
            An exchange has a name, a date and one or more phases (one per day of a multi-day exchange), \
            each with its list of cases. Completing a phase changes every case on it to returned in one \
            transaction: all of them, or none if any cannot (the error names each), and prints how many \
            came home by category, counted from the cases. Someone listed who did not in fact come home \
            is corrected afterwards (set-status ID captive --correction): history keeps both entries, and \
            show counts them under "did not return".

            create, add, remove and complete need the admin role; show needs reader; list, observer.
            """,
        subcommands: [Create.self, AddCases.self, RemoveCases.self, Complete.self, Show.self, ListExchanges.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record a planned exchange.")

        @OptionGroup var connection: ConnectionOptions

        @Argument(help: ArgumentHelp("The exchange's name, e.g. \"1000 for 1000\" (compared without regard to letter case).", valueName: "name"))
        var name: String

        @Option(name: .long, help: ArgumentHelp("The date it was agreed or begins: YYYY-MM-DD, YYYY-MM or YYYY.", valueName: "date"))
        var date: String

        @Option(name: .long, help: ArgumentHelp("How many phases (days) it has.", valueName: "n"))
        var phases: Int = 1

        @Option(name: .long, help: ArgumentHelp("A note kept with the exchange.", valueName: "text"))
        var note: String?

        func run() throws {
            var options: [(key: String, value: String)] = [("date", date), ("phases", String(phases))]
            if let note { options.append(("note", note)) }
            try connection.run { client in
                let final = try client.request(Request(verb: "EXCHANGE-CREATE", positional: [name], options: options)).get()
                Output.line(connection.json ? final.typed.json
                    : "exchange \(LineCodec.quote(final.string("exchange") ?? name)) recorded: \(final.string("date") ?? date), \(phases) phase\(phases == 1 ? "" : "s")")
            }
        }
    }

    struct AddCases: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "List cases on a phase of an exchange.",
            discussion: """
                Every id must exist and be on no other phase of the exchange, and the phase must not be \
                completed; otherwise nobody is listed (one request). Ids already on this phase are skipped. \
                With --file, ids are read one per line (blank lines and lines starting with # are skipped) \
                and sent 10,000 to a request.

                With --match, the file is a list of people as the other side sends it (names, birth, sex, \
                service_number, unit, refs; see match), and each line is found on record first. Exact \
                matches (a reference, a service number, or our id in the line's id column) are listed; a \
                probable one only with --accept-probable, and then only when one case is likely. Every line \
                that is not settled so is printed with its line number and the candidates, and nobody is \
                listed until the file is clean (exit 65): write the right id into the line's id column, or \
                take the line out. Two lines that are one case are refused too. --dry-run prints what would \
                be listed and lists nobody.
                """)

        @OptionGroup var connection: ConnectionOptions

        @Argument(help: ArgumentHelp("The exchange's name.", valueName: "name"))
        var name: String

        @Option(name: .long, help: ArgumentHelp("The phase.", valueName: "k"))
        var phase: Int = 1

        @Option(name: .long, help: ArgumentHelp("A file of case ids, one per line.", valueName: "file"), completion: .file())
        var file: String?

        @Option(name: .long, help: ArgumentHelp("A list of people (CSV or JSON lines, as match reads) to find on record and list.", valueName: "file"),
                completion: .file())
        var match: String?

        @Flag(name: .long, help: "With --match: also list a probable match, when it is the only likely case.")
        var acceptProbable = false

        @Flag(name: .long, help: "With --match: print what would be listed; list nobody.")
        var dryRun = false

        @Argument(help: ArgumentHelp("Case ids, e.g. C-000001.", valueName: "id"))
        var ids: [String] = []

        func validate() throws {
            let given = [!ids.isEmpty, file != nil, match != nil].filter { $0 }.count
            if given != 1 { throw ValidationError("give case ids, --file FILE or --match FILE (one of them)") }
            if match == nil, acceptProbable || dryRun { throw ValidationError("--accept-probable and --dry-run go with --match") }
        }

        func run() throws {
            if let match { return try listMatched(match) }
            let all = try file.map(ExchangeCommand.readIDs) ?? ids
            try connection.run { client in
                // Requests that fit the daemon's line length; each is all or none. Besides the
                // name and the ids a line holds the verb (13 bytes), ` phase=K` (up to 10) and
                // ` request_id=` with its id (up to 76).
                let room = Int(client.greeting.int("max_line") ?? 65_536) - LineCodec.quote(name).utf8.count - 128
                var batches: [[String]] = [[]]
                var size = 0
                for id in all {
                    let cost = LineCodec.quote(id).utf8.count + 1
                    if let last = batches.last, !last.isEmpty,
                       size + cost > room || last.count == Exchange.maximumCasesPerRequest {
                        batches.append([])
                        size = 0
                    }
                    batches[batches.count - 1].append(id)
                    size += cost
                }
                var added = 0
                for (index, batch) in batches.enumerated() where !batch.isEmpty {
                    do {
                        let final = try client.request(Request(verb: "EXCHANGE-ADD", positional: [name] + batch,
                                                               options: [("phase", String(phase))])).get()
                        added += Int(final.int("added") ?? 0)
                    } catch {
                        if index > 0 {
                            // A lost connection may have come after the request was done.
                            let unknown = (error as? ClientError)?.code == .connectionLost
                            Output.error("\(added) case\(added == 1 ? " was" : "s were") listed by the requests before this one (they stay listed); "
                                + (unknown ? "this request's \(batch.count) may or may not have been listed (run it again with the same --request-id)"
                                           : "none of this request's \(batch.count)"))
                        }
                        throw error
                    }
                }
                Output.line(connection.json ? "{\"added\":\(added)}"
                    : "\(added) case\(added == 1 ? "" : "s") listed on phase \(phase) of \(LineCodec.quote(name))")
            }
        }
    }

    struct RemoveCases: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove",
            abstract: "Take cases off an exchange's list (before their phase is completed).")

        @OptionGroup var connection: ConnectionOptions

        @Argument(help: ArgumentHelp("The exchange's name.", valueName: "name"))
        var name: String

        @Argument(help: ArgumentHelp("Case ids.", valueName: "id"))
        var ids: [String]

        func run() throws {
            try connection.run { client in
                let final = try client.request(Request(verb: "EXCHANGE-REMOVE", positional: [name] + ids)).get()
                Output.line(connection.json ? final.typed.json : "\(final.int("removed") ?? 0) taken off \(LineCodec.quote(name))")
            }
        }
    }

    struct Complete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mark every case on a phase returned, in one transaction.",
            discussion: """
                Prints how many came home, in total and by category (counted from the cases after the \
                change). If any listed case cannot become returned (already returned, deceased, a date \
                before its start), nothing changes, the error names every such case, and the exit status \
                is 3. Every case gets its own status event and notice, and the phase one more notice \
                (kind exchange).
                """)

        @OptionGroup var connection: ConnectionOptions

        @Argument(help: ArgumentHelp("The exchange's name.", valueName: "name"))
        var name: String

        @Option(name: .long, help: ArgumentHelp("The phase that took place.", valueName: "k"))
        var phase: Int

        @OptionGroup var event: EventOptions

        func run() throws {
            try connection.run { client in
                let final = try client.request(Request(verb: "EXCHANGE-COMPLETE", positional: [name],
                                                       options: [("phase", String(phase))] + event.options)).get()
                if connection.json { Output.line(final.typed.json); return }
                let returned = final.int("returned") ?? 0
                let parts = Category.reportOrder.map { "\(final.int($0.rawValue) ?? 0) \($0.rawValue)" }
                Output.line("phase \(phase) of \(LineCodec.quote(name)) completed: \(returned) returned = \(parts.joined(separator: " + ")) (event \(final.int("seq") ?? 0))")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "An exchange phase by phase: listed, returned, by category, unit and tag; who did not return.",
            discussion: """
                Figures are counted from the cases as they are now: returned means listed and returned \
                now, the same as count --exchange NAME --phase K --status returned.
                """)

        @OptionGroup var connection: ConnectionOptions

        @Argument(help: ArgumentHelp("The exchange's name.", valueName: "name"))
        var name: String

        func run() throws {
            try connection.run { client in
                let answer = try client.request(Request(verb: "EXCHANGE-SHOW", positional: [name]))
                let final = try answer.get()
                if connection.json {
                    for line in answer.data { Output.line(line.typed.json) }
                    Output.line(final.typed.json)
                    return
                }
                Output.line("exchange \(LineCodec.quote(final.string("exchange") ?? name)), \(final.string("date") ?? "?"), \(final.int("phases") ?? 0) phase(s): \(final.int("listed") ?? 0) listed, \(final.int("returned") ?? 0) returned")
                if let note = final.string("note") { Output.line("note: \(note)") }
                let categories = Category.reportOrder
                for head in answer.data where head.string("row") == "phase" {
                    guard let phase = head.int("phase") else { continue }
                    let rows = answer.data.filter { $0.int("phase") == phase }
                    let completed = head.string("completed") ?? "no"
                    Output.line("")
                    Output.line("phase \(phase): \(completed == "no" ? "not completed" : "completed \(completed)"), \(head.int("listed") ?? 0) listed, \(head.int("returned") ?? 0) returned = " + categories.map { "\(head.int($0.rawValue) ?? 0) \($0.rawValue)" }.joined(separator: " + "))
                    let groups = rows.filter { ["category", "unit", "tag"].contains($0.string("row") ?? "") }
                    Output.grid(["BY", "GROUP", "LISTED", "RETURNED"], groups.map { row in
                        let kind = row.string("row") ?? ""
                        return [kind, row.string(kind) ?? "", String(row.int("listed") ?? 0), String(row.int("returned") ?? 0)]
                    }, rightAligned: [2, 3])
                    let missing = rows.filter { $0.string("row") == "not-returned" }
                    if !missing.isEmpty {
                        Output.line("did not return (\(missing.count)): " + missing.map { "\($0.string("id") ?? "?") (\($0.string("status") ?? "?"))" }.joined(separator: ", "))
                    }
                }
            }
        }
    }

    struct ListExchanges: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Every exchange with its date and counts.")

        @OptionGroup var connection: ConnectionOptions

        func run() throws {
            try connection.run { client in
                let answer = try client.request(Request(verb: "EXCHANGE-LIST"))
                _ = try answer.get()
                if connection.json { for line in answer.data { Output.line(line.typed.json) }; return }
                Output.grid(["NAME", "DATE", "PHASES", "COMPLETED", "LISTED", "RETURNED"], answer.data.map { row in
                    [row.string("name") ?? "", row.string("date") ?? "", String(row.int("phases") ?? 0),
                     String(row.int("completed_phases") ?? 0), String(row.int("listed") ?? 0), String(row.int("returned") ?? 0)]
                }, rightAligned: [2, 3, 4, 5])
            }
        }
    }

    static func readIDs(_ path: String) throws -> [String] {
        try TextFile.read(path).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }
}
