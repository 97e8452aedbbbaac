import ArgumentParser
import CasetrackClient
import CasetrackCore

/// A list of people (an exchange list, a partner's list) read from a file and matched
/// against the register by the daemon, line by line. `match` prints it; `exchange add
/// --match` lists the people it finds.
enum ListMatch {
    /// What the daemon found for one line of the file.
    struct Line {
        var line: Int
        var kind: MatchKind
        var candidates: [Candidate]
        var note: String?
    }

    struct Candidate {
        var id: String
        var score: String
        var status: String
        var reasons: [String]
    }

    /// The rows of `file` as `MATCH` rows, each checked here as the daemon will check it;
    /// with any problem, prints them all with their lines and exits 65.
    static func read(_ file: String, format: CaseFile.Format?, action: String) throws -> [(line: Int, text: String)] {
        let text = try TextFile.read(file)
        var (rows, problems) = CaseFile.rows(text, format: CaseFile.Format.detect(format, path: file, text: text))
        var texts: [(line: Int, text: String)] = []
        for row in rows {
            let rowText = CaseFile.matchRowText(row)
            do {
                _ = try MatchRow(rowText, today: Output.today)
                texts.append((row.line, rowText))
            } catch let error as CasetrackError {
                problems.append(.init(line: row.line, field: ListMatch.field(of: error), message: Import.strip(error.message)))
            }
        }
        rows = []
        if problems.isEmpty, texts.isEmpty {
            problems.append(.init(line: 1, field: nil, message: "the file holds no people"))
        }
        guard problems.isEmpty else { fail(file, problems, action: action) }
        return texts
    }

    /// Asks the daemon about every row, in requests of up to 1,000 rows, one sent ahead.
    static func match(_ client: CasetrackClient, _ texts: [(line: Int, text: String)], minScore: Double?,
                      limit: Int?) throws -> [Line] {
        let batches = Import.batches(texts, maxLine: Int(client.greeting.int("max_line") ?? 65_536))
        var extra: [(key: String, value: String)] = []
        if let minScore { extra.append(("min_score", String(minScore))) }
        if let limit { extra.append(("limit", String(limit))) }
        var lines: [Int: Line] = [:]
        var failure: (any Error)?
        try Import.pipelined(client, batches.map { batch in
            Request(verb: "MATCH", options: batch.map { ("row", $0.text) } + extra)
        }) { index, answer in
            let batch = batches[index]
            if case .failure(let error) = answer.outcome {
                if failure == nil { failure = error }
                return false
            }
            for fields in answer.data {
                guard let row = fields.int("row"), batch.indices.contains(batch.startIndex + Int(row) - 1),
                      let kind = fields.string("match").flatMap(MatchKind.init(rawValue:)) else { continue }
                let number = batch[batch.startIndex + Int(row) - 1].line
                var line = lines[number] ?? Line(line: number, kind: kind, candidates: [], note: fields.string("note"))
                if let id = fields.string("id") {
                    line.candidates.append(Candidate(id: id, score: fields.string("score") ?? "", status: fields.string("status") ?? "",
                                                     reasons: fields.strings("reasons")))
                }
                lines[number] = line
            }
            return true
        }
        if let failure { throw failure }
        return lines.values.sorted { $0.line < $1.line }
    }

    static func field(of error: CasetrackError) -> String? {
        guard let colon = error.message.firstIndex(of: ":") else { return nil }
        let key = String(error.message[..<colon])
        return MatchRow.keys.contains(key) ? CaseFile.column(for: key) : nil
    }

    static func fail(_ file: String, _ problems: [CaseFile.Problem], action: String) -> Never {
        for problem in problems.sorted(by: { $0.line < $1.line }) { Output.error("\(file): \(problem)") }
        Output.error("\(file): \(problems.count) problem\(problems.count == 1 ? "" : "s"); \(action)")
        Casectl.exit(withError: ExitCode(ExitStatus.dataError))
    }

    /// One line as a JSON object: `line`, `match`, `candidates` (each `id`, `score`,
    /// `status`, `reasons`) and `note` when there is one.
    static func json(_ line: Line) -> String {
        var output = "{\"line\":\(line.line),\"match\":"
        JSON.string(line.kind.rawValue, into: &output)
        output += ",\"candidates\":["
        for (index, candidate) in line.candidates.enumerated() {
            if index > 0 { output += "," }
            output += "{\"id\":"
            JSON.string(candidate.id, into: &output)
            output += ",\"score\":\(candidate.score.isEmpty ? "null" : candidate.score),\"status\":"
            JSON.string(candidate.status, into: &output)
            output += ",\"reasons\":"
            JSON.array(candidate.reasons, into: &output)
            output += "}"
        }
        output += "]"
        if let note = line.note {
            output += ",\"note\":"
            JSON.string(note, into: &output)
        }
        return output + "}"
    }

    static func describe(_ candidates: [Candidate]) -> String {
        candidates.map { "\($0.id) (\($0.score))" }.joined(separator: ", ")
    }
}

struct Match: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find the case of each person on a list: exact, probable (with candidates and scores) or none.",
        discussion: """
            The file is CSV with a header line or JSON lines, with any of the columns import reads; those \
            that describe the person are used: names, birth, sex, service_number, unit, since, refs (and \
            rank and birth_place, which are checked but do not count). A column id holds our own case id: \
            write it into a line to settle it by hand. The rest (status, notes…) is ignored.

            exact: our id, or a reference or service number that one case on record has. probable: \
            cases that are likely the person (names equal after folding every romanization and Cyrillic, \
            birth dates that agree…), best first, with their scores; a reference or service number that \
            several cases share is shown as probable too, with each of them. none: no case is likely.

            The file is checked as a whole first: every bad line is printed and nothing is asked (exit 65). \
            --json prints one object per line of the file: line, match, candidates (id, score, status, \
            reasons), note. Needs the reader role.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("The list.", valueName: "file"), completion: .file())
    var file: String

    @Option(name: .long, help: ArgumentHelp("The file's format; json is JSON lines. Default: from the file's name, else its first character.", valueName: "format"))
    var format: CaseFile.Format?

    @Option(name: .long, help: ArgumentHelp("The least score of a probable candidate, from 0.0 to 1.0 (default: the daemon's threshold).", valueName: "score"))
    var minScore: Double?

    @Option(name: .long, help: ArgumentHelp("At most this many candidates a line (default 3).", valueName: "n"))
    var candidates: Int?

    func run() throws {
        let texts = try ListMatch.read(file, format: format, action: "nothing was matched")
        try connection.run { client in
            let lines = try ListMatch.match(client, texts, minScore: minScore, limit: candidates)
            if connection.json {
                for line in lines { Output.line(ListMatch.json(line)) }
                return
            }
            var rows: [[String]] = []
            for line in lines {
                guard !line.candidates.isEmpty else {
                    rows.append([String(line.line), line.kind.rawValue, "", "", "", line.note ?? ""])
                    continue
                }
                for (index, candidate) in line.candidates.enumerated() {
                    rows.append([index == 0 ? String(line.line) : "", index == 0 ? line.kind.rawValue : "", candidate.id,
                                 candidate.score, candidate.status,
                                 candidate.reasons.joined(separator: ", ") + (line.note.map { " (\($0))" } ?? "")])
                }
            }
            Output.grid(["LINE", "MATCH", "CASE", "SCORE", "STATUS", "REASONS"], rows)
            let count = { (kind: MatchKind) in lines.filter { $0.kind == kind }.count }
            Output.line("(\(lines.count) line\(lines.count == 1 ? "" : "s"): \(count(.exact)) exact, \(count(.probable)) probable, \(count(.none)) none)")
        }
    }
}

extension ExchangeCommand.AddCases {
    /// `exchange add NAME --match FILE`: all or nothing, as import is.
    func listMatched(_ file: String) throws {
        let texts = try ListMatch.read(file, format: nil, action: "nobody was listed")
        try connection.run { client in
            let lines = try ListMatch.match(client, texts, minScore: nil, limit: nil)
            var problems: [CaseFile.Problem] = []
            var chosen: [(line: Int, id: String, kind: MatchKind)] = []
            var lineOf: [String: Int] = [:]
            for line in lines {
                var id: String?
                switch line.kind {
                case .exact:
                    id = line.candidates.first?.id
                case .none:
                    problems.append(.init(line: line.line, field: nil,
                                          message: "no case on record matches\(line.note.map { " (\($0))" } ?? ""); take the line out or write our id into its id column"))
                case .probable where acceptProbable && line.candidates.count == 1:
                    id = line.candidates[0].id
                case .probable:
                    let advice = line.candidates.count == 1 && !acceptProbable
                        ? "pass --accept-probable, or write the id into the line's id column"
                        : "write the right id into the line's id column"
                    problems.append(.init(line: line.line, field: nil,
                                          message: "probable: \(ListMatch.describe(line.candidates)); \(advice)"))
                }
                guard let id else { continue }
                if let earlier = lineOf.updateValue(line.line, forKey: id) {
                    problems.append(.init(line: line.line, field: nil, message: "\(id) is line \(earlier) too; a person is listed once"))
                    continue
                }
                chosen.append((line.line, id, line.kind))
            }
            guard problems.isEmpty else { ListMatch.fail(file, problems, action: "nobody was listed") }
            guard chosen.count <= Exchange.maximumCasesPerRequest else {
                Output.error("\(file): \(chosen.count) people; one list is listed in one request of at most \(Exchange.maximumCasesPerRequest): split the file")
                throw ExitCode(ExitStatus.dataError)
            }
            let probable = chosen.filter { $0.kind == .probable }.count
            if dryRun {
                if connection.json {
                    for entry in chosen { Output.line("{\"line\":\(entry.line),\"id\":\"\(entry.id)\",\"match\":\"\(entry.kind.rawValue)\"}") }
                } else {
                    Output.line("\(file): \(chosen.count) case\(chosen.count == 1 ? "" : "s") would be listed on phase \(phase) of \(LineCodec.quote(name)) (\(chosen.count - probable) exact, \(probable) probable); nobody was listed")
                }
                return
            }
            let final = try client.request(Request(verb: "EXCHANGE-ADD", positional: [name] + chosen.map(\.id),
                                                   options: [("phase", String(phase))])).get()
            let added = Int(final.int("added") ?? 0)
            Output.line(connection.json ? "{\"added\":\(added),\"lines\":\(chosen.count),\"probable\":\(probable)}"
                : "\(added) case\(added == 1 ? "" : "s") listed on phase \(phase) of \(LineCodec.quote(name)) from \(chosen.count) line\(chosen.count == 1 ? "" : "s") of \(file) (\(probable) probable accepted)")
        }
    }
}
