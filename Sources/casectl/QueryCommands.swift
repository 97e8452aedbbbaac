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
        abstract: "Count cases by status and category, or by held duration, unit, tag, exchange phase, day of return, proof of life or place.",
        discussion: """
            Filters narrow the cases counted, as for count, and every figure is what count gives with \
            the same filter and the row's own condition: a held bucket is the difference of two \
            --held-min counts (1y-3y = --held-min 1y minus --held-min 3y); a unit row's captive figure \
            is count --unit U --status captive; an exchange row's returned figure is count --exchange E \
            --phase K --status returned; a day row is count --status returned --ended-from D \
            --ended-before D+1; a proof bucket of open cases is the difference of two --proof-older \
            counts with --status missing,captive (1y-3y = --proof-older 1y minus --proof-older 3y; \
            never is --no-proof --status missing,captive).

            --by unit, --by tag and --by place need the reader role.
            """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var filter: FilterOptions

    @Option(name: .long, help: ArgumentHelp("How to split the cases counted.", valueName: "breakdown"))
    var by: Breakdown = .status

    @Option(name: .long, help: ArgumentHelp("(--by day) The first day.", valueName: "date"))
    var from: String?

    @Option(name: .long, help: ArgumentHelp("(--by day) The last day (default today).", valueName: "date"))
    var to: String?

    @Option(name: .long, help: ArgumentHelp("Count by status and category as the register stood at the end of this day (a month or year: its last day), from the history. Takes --status and --category only.", valueName: "date"))
    var asOf: String?

    @Flag(name: .long, help: "Print CSV: a header line, then one line per row.")
    var csv = false

    func run() throws {
        var options = filter.options
        if by != .status { options.append(("by", by.rawValue)) }
        if let from { options.append(("from", from)) }
        if let to { options.append(("to", to)) }
        if let asOf { options.append(("as_of", asOf)) }
        try connection.run { client in
            let answer = try client.request(Request(verb: "STATS", options: options))
            let final = try answer.get()
            if connection.json {
                for line in answer.data { Output.line(line.typed.json) }
            } else if csv {
                let header = answer.data.first.map { $0.keys } ?? []
                Output.line(CaseFile.csvLine(header))
                for line in answer.data { Output.line(CaseFile.csvLine(header.map { line.string($0) ?? "" })) }
            } else if by == .status {
                Output.statistics(CaseStatistics(lines: answer.data))
            } else {
                let header = answer.data.first.map { $0.keys } ?? []
                let numeric = Set(header.indices.filter { index in answer.data.allSatisfy { $0.int(header[index]) != nil } })
                Output.grid(header.map { $0.uppercased() }, answer.data.map { line in header.map { line.string($0) ?? "" } },
                            rightAligned: numeric)
                var footer = "\(final.int("total") ?? 0) cases"
                if let returned = final.int("returned") { footer += ", \(returned) returned in the range" }
                if let without = final.int("without_unit") { footer += ", \(without) without a unit" }
                if let without = final.int("without_tags") { footer += ", \(without) without tags" }
                if let without = final.int("without_place") { footer += ", \(without) without a detention place" }
                if let closed = final.int("closed") { footer += ", \(closed) closed and not in the buckets" }
                Output.line("(" + footer + ")")
            }
        }
    }
}
