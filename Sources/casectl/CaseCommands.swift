import ArgumentParser
import CasetrackClient
import CasetrackCore

struct Add: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open a new case.",
        discussion: """
            Prints the new case's id. At least one --name, a --category and a --status are needed. \
            A person's name may be given in several spellings (repeat --name): all of them are searchable.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .long, help: ArgumentHelp("A spelling of the full name (repeat for others: Cyrillic, Latin…).", valueName: "name"))
    var name: [String] = []

    @Option(name: .long, help: ArgumentHelp("The person's category.", valueName: "category"))
    var category: Category?

    @Option(name: .long, help: ArgumentHelp("The status the case opens in.", valueName: "status"))
    var status: Status?

    @Option(name: .long, help: ArgumentHelp("When the person went missing or was detained: YYYY-MM-DD, YYYY-MM, YYYY or unknown.", valueName: "date"))
    var since: String?

    @Option(name: .long, help: ArgumentHelp("Date of birth, as precise as known.", valueName: "date"))
    var birth: String?

    @Option(name: .long, help: ArgumentHelp("Unit or other affiliation.", valueName: "unit"))
    var unit: String?

    @Option(name: .long, help: ArgumentHelp("A tag (repeat for several).", valueName: "tag"))
    var tag: [String] = []

    @Option(name: .long, help: ArgumentHelp("Last known place.", valueName: "place"))
    var lastPlace: String?

    @Option(name: .long, help: ArgumentHelp("Known place of detention.", valueName: "place"))
    var detentionPlace: String?

    @Option(name: .long, help: ArgumentHelp("An external reference number, unique across cases (repeat for several).", valueName: "ref"))
    var ref: [String] = []

    @Option(name: .long, help: ArgumentHelp("Free notes.", valueName: "text"))
    var notes: String?

    @OptionGroup(title: "Identity") var identity: IdentityOptions

    @OptionGroup var event: EventOptions

    func run() throws {
        var options: [(key: String, value: String)] = name.map { ("name", $0) }
        if let category { options.append(("category", category.rawValue)) }
        if let status { options.append(("status", status.rawValue)) }
        if let since { options.append(("since", since)) }
        if let birth { options.append(("birth", birth)) }
        if let unit { options.append(("unit", unit)) }
        options += tag.map { ("tag", $0) }
        if let lastPlace { options.append(("last_place", lastPlace)) }
        if let detentionPlace { options.append(("detention_place", detentionPlace)) }
        options += ref.map { ("ref", $0) }
        if let notes { options.append(("notes", notes)) }
        options += identity.options
        options += event.options
        try connection.run { client in
            try Output.change(try client.request(Request(verb: "ADD", options: options)), json: connection.json, verb: "added")
        }
    }
}

struct Get: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one case: the record, its version, how long held.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("The case id, e.g. C-000001.", valueName: "id"))
    var id: String

    func run() throws {
        try connection.run { client in
            let answer = try client.request(Request(verb: "GET", positional: [id]))
            _ = try answer.get()
            guard let fields = answer.data.first else { throw ClientError(.protocolError, "GET answered without a record") }
            let record = try CaseRecord(fields: fields)
            if connection.json {
                Output.line(record.fields(today: Output.today).json)
            } else {
                Output.describe(record)
            }
        }
    }
}

struct SetStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-status",
        abstract: "Change a case's status.",
        discussion: """
            Allowed changes: \(Lifecycle.transitions.map { "\($0.key.rawValue) -> \($0.value.isEmpty ? "(final)" : $0.value.map(\.rawValue).joined(separator: ", "))" }.joined(separator: "; ")). \
            Anything else is refused (exit 3) unless --correction says the current entry was wrong: \
            the correction replaces it and the history keeps both.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("The case id.", valueName: "id"))
    var id: String

    @Argument(help: ArgumentHelp("The new status.", valueName: "status"))
    var status: Status

    @OptionGroup var event: EventOptions

    @Option(name: .long, help: ArgumentHelp("Refuse (exit 3) unless the case is still at this version.", valueName: "n"))
    var expectVersion: Int?

    @Flag(name: .long, help: "The current status entry is wrong: replace it, whatever the lifecycle says.")
    var correction = false

    func run() throws {
        var options = event.options
        if let expectVersion { options.append(("expect_version", String(expectVersion))) }
        if correction { options.append(("correction", "yes")) }
        try connection.run { client in
            let answer = try client.request(Request(verb: "SET-STATUS", positional: [id, status.rawValue], options: options))
            try Output.change(answer, json: connection.json, verb: correction ? "corrected" : "changed")
        }
    }
}

struct Update: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Change other fields of a case.",
        discussion: "An empty value (--unit '') clears a field. Every change is kept in the case's history.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("The case id.", valueName: "id"))
    var id: String

    @Option(name: .long, help: ArgumentHelp("Replace all spellings of the name with these (repeat).", valueName: "name"))
    var name: [String] = []
    @Option(name: .long, help: ArgumentHelp("Add a spelling of the name.", valueName: "name"))
    var addName: [String] = []
    @Option(name: .long, help: ArgumentHelp("Remove a spelling of the name.", valueName: "name"))
    var removeName: [String] = []
    @Option(name: .long, help: ArgumentHelp("The person's category.", valueName: "category"))
    var category: Category?
    @Option(name: .long, help: ArgumentHelp("When the person went missing or was detained.", valueName: "date"))
    var since: String?
    @Option(name: .long, help: ArgumentHelp("Date of birth.", valueName: "date"))
    var birth: String?
    @Option(name: .long, help: ArgumentHelp("Unit or affiliation.", valueName: "unit"))
    var unit: String?
    @Option(name: .long, help: ArgumentHelp("Add a tag.", valueName: "tag"))
    var addTag: [String] = []
    @Option(name: .long, help: ArgumentHelp("Remove a tag.", valueName: "tag"))
    var removeTag: [String] = []
    @Option(name: .long, help: ArgumentHelp("Last known place.", valueName: "place"))
    var lastPlace: String?
    @Option(name: .long, help: ArgumentHelp("Known place of detention.", valueName: "place"))
    var detentionPlace: String?
    @Option(name: .long, help: ArgumentHelp("Add an external reference.", valueName: "ref"))
    var addRef: [String] = []
    @Option(name: .long, help: ArgumentHelp("Remove an external reference.", valueName: "ref"))
    var removeRef: [String] = []
    @Option(name: .long, help: ArgumentHelp("Free notes (replaces the old notes).", valueName: "text"))
    var notes: String?

    @OptionGroup(title: "Identity") var identity: IdentityOptions

    @OptionGroup var event: EventOptions

    @Option(name: .long, help: ArgumentHelp("Refuse (exit 3) unless the case is still at this version.", valueName: "n"))
    var expectVersion: Int?

    func run() throws {
        var options: [(key: String, value: String)] = name.map { ("name", $0) }
        options += addName.map { ("add_name", $0) } + removeName.map { ("remove_name", $0) }
        if let category { options.append(("category", category.rawValue)) }
        if let since { options.append(("since", since)) }
        if let birth { options.append(("birth", birth)) }
        if let unit { options.append(("unit", unit)) }
        options += addTag.map { ("add_tag", $0) } + removeTag.map { ("remove_tag", $0) }
        if let lastPlace { options.append(("last_place", lastPlace)) }
        if let detentionPlace { options.append(("detention_place", detentionPlace)) }
        options += addRef.map { ("add_ref", $0) } + removeRef.map { ("remove_ref", $0) }
        if let notes { options.append(("notes", notes)) }
        options += identity.options
        options += event.options
        if let expectVersion { options.append(("expect_version", String(expectVersion))) }
        try connection.run { client in
            try Output.change(try client.request(Request(verb: "UPDATE", positional: [id], options: options)),
                              json: connection.json, verb: "updated")
        }
    }
}

struct History: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show every event of a case: when it happened, when it was recorded, by whom, from which source.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("The case id.", valueName: "id"))
    var id: String

    func run() throws {
        try connection.run { client in
            let answer = try client.request(Request(verb: "HISTORY", positional: [id]))
            _ = try answer.get()
            let events = try answer.data.map(HistoryEvent.init(fields:))
            if connection.json {
                for event in events { Output.line(event.fields.json) }
            } else {
                Output.history(events)
            }
        }
    }
}

struct Ping: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check that the daemon answers; print its version.")

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try connection.run { client in
            _ = try client.request(Request(verb: "PING")).get()
            if connection.json {
                var fields = Fields()
                fields.append("server", client.greeting.string("server"))
                fields.append("protocol", client.greeting.int("protocol") ?? 0)
                fields.append("max_line", client.greeting.int("max_line") ?? 0)
                fields.append("role", client.greeting.string("role") ?? "unknown")
                fields.append("socket", connection.socketPath)
                Output.line(fields.json)
            } else {
                Output.line("\(client.greeting.string("server") ?? "casetrackd") answers on \(connection.socketPath) (protocol \(client.greeting.string("protocol") ?? "?"), role \(client.greeting.string("role") ?? "unknown"))")
            }
        }
    }
}

/// What tells a person from another of the same name, for `add` and `update` (an empty
/// value clears a field in `update`). Readers and above see them; observers never do.
struct IdentityOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The person's sex ('' clears it in update).", valueName: "sex"))
    var sex: SexArgument?

    @Option(name: .long, help: ArgumentHelp("Military service number: letters and digits, with - / . between them.", valueName: "number"))
    var serviceNumber: String?

    @Option(name: .long, help: ArgumentHelp("Military rank.", valueName: "rank"))
    var rank: String?

    @Option(name: .long, help: ArgumentHelp("Place of birth.", valueName: "place"))
    var birthPlace: String?

    var options: [(key: String, value: String)] {
        var options: [(key: String, value: String)] = []
        if let sex { options.append(("sex", sex.value)) }
        if let serviceNumber { options.append(("service_number", serviceNumber)) }
        if let rank { options.append(("rank", rank)) }
        if let birthPlace { options.append(("birth_place", birthPlace)) }
        return options
    }
}
