import ArgumentParser
import CasetrackClient
import CasetrackCore

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the cases that match every given filter, by id.",
        discussion: "Without filters, every case. casectl fetches page after page unless --limit stops it.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var filter: FilterOptions

    @Option(name: .long, help: ArgumentHelp("Print at most this many cases.", valueName: "n"))
    var limit: Int?

    @Option(name: .long, help: ArgumentHelp("Start after this case id (to page by hand).", valueName: "id"))
    var after: String?

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        try connection.run { client in
            var printed = 0
            var after = self.after
            var table = Output.CaseTable()
            repeat {
                let page = min(Command.defaultPageSize, limit.map { $0 - printed } ?? Int.max)
                var options = filter.options
                options.append(("limit", String(page)))
                if let after { options.append(("after", after)) }
                let answer = try client.request(Request(verb: "LIST", options: options))
                let final = try answer.get()
                let batch = try answer.data.map(CaseRecord.init(fields:))
                if connection.json {
                    for record in batch { Output.line(record.fields(today: Output.today).json) }
                } else {
                    table.print(batch)
                }
                printed += batch.count
                after = final.string("next")
            } while after != nil && printed < (limit ?? Int.max)
            if !connection.json { table.finish() }
        }
    }
}

struct Count: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Count the cases that match every given filter.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var filter: FilterOptions

    func run() throws {
        try connection.run { client in
            let final = try client.request(Request(verb: "COUNT", options: filter.options)).get()
            let count = final.int("count") ?? 0
            Output.line(connection.json ? "{\"count\":\(count)}" : String(count))
        }
    }
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Count cases by status and category.",
        discussion: "Filters narrow the cases counted, as for count.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var filter: FilterOptions

    func run() throws {
        try connection.run { client in
            let answer = try client.request(Request(verb: "STATS", options: filter.options))
            _ = try answer.get()
            let statistics = CaseStatistics(lines: answer.data)
            if connection.json {
                for line in statistics.lines { Output.line(line.json) }
            } else {
                Output.statistics(statistics)
            }
        }
    }
}
