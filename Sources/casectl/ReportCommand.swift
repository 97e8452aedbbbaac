#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CasetrackClient
import CasetrackCore
import CasetrackPOSIX
import Foundation

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the register's figures as one HTML page: charts and the tables behind them.",
        discussion: """
            One self-contained page (inline SVG, no scripts, no network; prints on A4): cases by status \
            and category; open cases by status and category at the end of each of the last twelve months; how long the open \
            cases have been held; how long since their last proof of life; every exchange phase with \
            how many were listed and came home. Every figure is what stats gives for the same \
            question, and comes from it. The page holds no names: an observer may make it.

            --as-of counts the status table and the months up to that day as the register stood then \
            (stats --as-of); held and proof of life are counted as of today, and the page says so.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .long, help: ArgumentHelp("Write the page here (mode 0644, replaced if it exists).", valueName: "file"))
    var html: String

    @Option(name: .long, help: ArgumentHelp("Count as the register stood at the end of this day.", valueName: "date"))
    var asOf: String?

    @Option(name: .long, help: ArgumentHelp("Only this category.", valueName: "category"))
    var category: Category?

    func run() throws {
        try connection.run { client in
            let page = try build(client)
            if let failure = FileDescriptorOutput.replaceFile(html, with: page.html, mode: 0o644) {
                Output.error("cannot write \(html): \(failure)")
                throw ExitCode(ExitStatus.failure)
            }
            Output.line("report written to \(html): \(page.title)")
        }
    }

    func build(_ client: CasetrackClient) throws -> ReportPage {
        let filter: [(key: String, value: String)] = category.map { [("category", $0.rawValue)] } ?? []
        func stats(_ options: [(key: String, value: String)]) throws -> Answer {
            let answer = try client.request(Request(verb: "STATS", options: filter + options))
            _ = try answer.get()
            return answer
        }
        let day = try asOf.map { text -> Day in
            guard let date = PartialDate(text) else {
                Output.error("--as-of: '\(text)' is not a date; write YYYY-MM-DD, YYYY-MM or YYYY")
                throw ExitCode(ExitStatus.usage)
            }
            return min(date.lastDay, Output.today)
        } ?? Output.today
        let categories = category.map { [$0] } ?? Category.reportOrder
        var page = ReportPage(title: "The register on \(day)",
                              subtitle: "casetrack report, made \(Output.today)" + (category.map { "; \($0.rawValue) cases only" } ?? ""))

        // Status by category, as of the day.
        let status = CaseStatistics(lines: try stats(asOf == nil ? [] : [("as_of", day.description)]).data)
        let statusTable = ReportPage.Table(
            id: "status", heads: categories.map(\.rawValue) + ["total"],
            rows: Status.allCases.map { row in
                let counts = categories.map { status.count(row, $0) }
                return (row.rawValue, row.rawValue, counts + [counts.reduce(0, +)])
            })
        var chart = statusTable
        chart.heads.removeLast()
        chart.rows = chart.rows.map { ($0.label, $0.key, Array($0.figures.dropLast())) }
        page.section("Cases by status", chart: ReportPage.bars(chart), table: statusTable)

        // Open cases at the end of each month (as the register stood then).
        var months: [Day] = []
        var month = day
        for _ in 0..<12 {
            months.insert(month, at: 0)
            let (year, number, _) = month.components
            guard let first = PartialDate(year: year, month: number)?.firstDay else { break }
            month = first.adding(days: -1)
        }
        do {
            // Each open status, by category: "captive civilian" is one line of the chart.
            let columns = [Status.missing, .captive].flatMap { status in categories.map { (status, $0) } }
            var rows: [(label: String, key: String, figures: [Int])] = []
            for end in months {
                let counts = CaseStatistics(lines: try stats([("as_of", end.description)]).data)
                rows.append((end.description, end.description, columns.map { counts.count($0.0, $0.1) }))
            }
            let table = ReportPage.Table(id: "months", heads: columns.map { "\($0.0.rawValue) \($0.1.rawValue)" }, rows: rows)
            page.section("Open cases at the end of each month, by status and category", chart: ReportPage.lines(table), table: table)
        } catch let error as CasetrackError {
            page.notice("Open cases at the end of each month", "Not available: \(error.message)")
        }

        let today = "Counted as of today (\(Output.today))" + (asOf == nil ? "." : ", not as of \(day): the register keeps these by day only through its history of statuses.")
        // How long the open cases have been held.
        let held = try stats([("by", "held"), ("status", "missing,captive")]).data
        let heldTable = bucketTable("held", HeldBucket.allCases.map(\.rawValue), held, categories)
        page.section("How long the open cases have been held", note: today, chart: ReportPage.bars(heldTable), table: heldTable)

        // Since the last proof of life.
        let proof = try stats([("by", "proof")]).data
        let proofTable = bucketTable("proof", ProofBucket.allCases.map(\.rawValue), proof, categories)
        page.section("Since the last proof of life (open cases)", note: today, chart: ReportPage.bars(proofTable), table: proofTable)

        // Exchanges, phase by phase, in order of date.
        let exchanges = try stats([("by", "exchange")]).data
        let listed = try client.request(Request(verb: "EXCHANGE-LIST"))
        _ = try listed.get()
        let dates = Dictionary(listed.data.compactMap { line in
            line.string("name").map { ($0, line.string("date") ?? "") }
        }, uniquingKeysWith: { first, _ in first })
        if exchanges.isEmpty {
            page.notice("Exchanges", "No exchange is on record.")
        } else {
            let table = ReportPage.Table(id: "exchanges", heads: ["listed", "returned"], rows: exchanges.map { line in
                let name = line.string("exchange") ?? "?"
                let phase = line.int("phase") ?? 0
                return ("\(name), \(dates[name] ?? "?"), phase \(phase)", "\(name)/\(phase)",
                        [Int(line.int("listed") ?? 0), Int(line.int("returned") ?? 0)])
            })
            page.section("Exchanges, phase by phase", note: today, chart: ReportPage.bars(table), table: table)
        }
        return page
    }

    /// A `by=held` or `by=proof` answer as a table: one row per bucket, one column per category.
    func bucketTable(_ id: String, _ buckets: [String], _ lines: [Fields], _ categories: [Category]) -> ReportPage.Table {
        ReportPage.Table(id: id, heads: categories.map(\.rawValue), rows: buckets.map { bucket in
            (bucket, bucket, categories.map { category in
                Int(lines.first { $0.string("bucket") == bucket && $0.string("category") == category.rawValue }?.int("count") ?? 0)
            })
        })
    }
}
