import ArgumentParser
import CasetrackClient
import CasetrackCore

extension MergeField: ArgumentParser.ExpressibleByArgument {}

/// `--prefer FIELD=target|source`: which side a merge keeps for a field the two disagree on.
struct Preference: ExpressibleByArgument, Sendable {
    let field: MergeField
    let side: MergeSide

    init?(argument: String) {
        let parts = argument.split(separator: "=", maxSplits: 1).map { String($0).lowercased() }
        guard parts.count == 2, let field = MergeField(rawValue: parts[0]), let side = MergeSide(rawValue: parts[1]) else {
            return nil
        }
        self.field = field
        self.side = side
    }

    static var defaultCompletionKind: CompletionKind {
        .list(MergeField.allCases.flatMap { field in MergeSide.allCases.map { "\(field.rawValue)=\($0.rawValue)" } })
    }
}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge a case into another found to be the same person.",
        discussion: """
            The target gains the source's names, references and tags, and every field it had none of. \
            Facts the two disagree on (two birth dates, two statuses…) are never settled silently: the merge \
            is refused (exit 3) with each conflict listed, until --prefer says which side to keep for each \
            (FIELD=target or FIELD=source; fields: \(MergeField.allCases.map(\.rawValue).joined(separator: ", "))). \
            The losing values stay in the history. The source then leaves every list, count and exchange \
            phase; get SOURCE says where it went. An admin can undo it (unmerge).
            """)

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("The case that goes: the duplicate.", valueName: "source"))
    var source: String

    @Option(name: .long, help: ArgumentHelp("The case that stays.", valueName: "target"))
    var into: String

    @Option(name: .long, help: ArgumentHelp("For a field the two disagree on, the side to keep (repeat per field).", valueName: "field=side"))
    var prefer: [Preference] = []

    @Option(name: .long, help: ArgumentHelp("Refuse (exit 3) unless the source is still at this version.", valueName: "n"))
    var expectVersion: Int?

    @Option(name: .long, help: ArgumentHelp("Refuse (exit 3) unless the target is still at this version.", valueName: "n"))
    var targetVersion: Int?

    @OptionGroup var event: EventOptions

    func run() throws {
        var options: [(key: String, value: String)] = [("into", into)]
        options += prefer.map { ("prefer", "\($0.field.rawValue):\($0.side.rawValue)") }
        if let expectVersion { options.append(("expect_version", String(expectVersion))) }
        if let targetVersion { options.append(("target_version", String(targetVersion))) }
        options += event.options
        try connection.run { client in
            let answer = try client.request(Request(verb: "MERGE", positional: [source], options: options))
            let final = try answer.get()
            try Output.change(answer, json: connection.json, verb: "now holds \(final.string("merged") ?? source)")
        }
    }
}

struct Unmerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Undo a merge: both cases back as they were before it (admin).",
        discussion: "Refused (exit 3) when the target changed after the merge: undoing it would undo those changes too.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("The case that was merged away.", valueName: "source"))
    var source: String

    @OptionGroup var event: EventOptions

    func run() throws {
        try connection.run { client in
            let answer = try client.request(Request(verb: "UNMERGE", positional: [source], options: event.options))
            let final = try answer.get()
            if connection.json {
                // Typed as get --json prints a record (numbers as numbers, lists as arrays).
                for fields in answer.data { Output.line(try CaseRecord(fields: fields).fields(today: Output.today).json) }
            } else {
                Output.line("\(source) is back (version \(final.string("version") ?? "?")); \(final.string("target") ?? "?") as it was before the merge (version \(final.string("target_version") ?? "?"))")
            }
        }
    }
}

struct NotDuplicate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "not-duplicate",
        abstract: "Record that two cases are two people, so that the pair is not suggested again.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("The two cases.", valueName: "id"))
    var ids: [String]

    @Option(name: .long, help: ArgumentHelp("Why (kept with the decision).", valueName: "text"))
    var note: String?

    @Flag(name: .long, help: "Forget the decision: the pair may be suggested again.")
    var undo = false

    func validate() throws {
        guard ids.count == 2 else { throw ValidationError("give exactly two case ids") }
    }

    func run() throws {
        var options: [(key: String, value: String)] = []
        if let note { options.append(("note", note)) }
        if undo { options.append(("undo", "yes")) }
        try connection.run { client in
            let final = try client.request(Request(verb: "NOT-DUPLICATE", positional: ids, options: options)).get()
            let changed = final.string("changed") == "yes"
            if connection.json {
                Output.line(final.json)
            } else {
                Output.line(undo ? (changed ? "forgotten: \(ids[0]) and \(ids[1]) may be suggested again" : "there was no such decision")
                            : "\(ids[0]) and \(ids[1]) are two people\(changed ? "" : " (already recorded)")")
            }
        }
    }
}

struct Duplicates: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List pairs of cases that are probably one person, best first, with the evidence.",
        discussion: """
            Each pair has a score from 0 to 1 and its reasons: a shared reference or service number \
            (decisive), names equal after folding every romanization and Cyrillic, birth dates that \
            agree, the same unit or date of capture; and the evidence against (different birth years, \
            different sex). Pairs recorded with not-duplicate are left out. Merge the true ones (merge). \
            Needs the reader role.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .long, help: ArgumentHelp("Only the pairs of this case.", valueName: "id"))
    var id: String?

    @Option(name: .long, help: ArgumentHelp("The least score shown, from 0.0 to 1.0 (default: the daemon's threshold).", valueName: "score"))
    var minScore: Double?

    @Option(name: .long, help: ArgumentHelp("Show at most this many pairs.", valueName: "n"))
    var limit: Int?

    func run() throws {
        var options: [(key: String, value: String)] = []
        if let id { options.append(("id", id)) }
        if let minScore { options.append(("min_score", String(minScore))) }
        if let limit { options.append(("limit", String(limit))) }
        try connection.run { client in
            let answer = try client.request(Request(verb: "DUPLICATES", options: options))
            let final = try answer.get()
            if connection.json {
                for fields in answer.data { Output.line(fields.typed.listed(["reasons"]).json) }
                return
            }
            let rows = answer.data.map { fields in
                [fields.string("score") ?? "", fields.string("a") ?? "", fields.string("a_name") ?? "",
                 fields.string("b") ?? "", fields.string("b_name") ?? "", fields.strings("reasons").joined(separator: "; ")]
            }
            if !rows.isEmpty { Output.grid(["SCORE", "A", "NAME", "B", "NAME", "REASONS"], rows) }
            let shown = final.int("count") ?? 0
            let total = final.int("total") ?? shown
            Output.line("(\(shown) pair\(shown == 1 ? "" : "s")\(total > shown ? " of \(total)" : ""); \(final.int("compared") ?? 0) compared)")
        }
    }
}
