import ArgumentParser
import CasetrackClient
import CasetrackCore

/// How to reach a contact, for `contact add` and `contact update`.
struct ContactFieldOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Their name.", valueName: "name"))
    var name: String?
    @Option(name: .long, help: ArgumentHelp("Who they are to the person: mother, brother, lawyer…", valueName: "relation"))
    var relation: String?
    @Option(name: .long, help: ArgumentHelp("A phone number.", valueName: "phone"))
    var phone: String?
    @Option(name: .long, help: ArgumentHelp("An e-mail address.", valueName: "address"))
    var email: String?
    @Option(name: .long, help: ArgumentHelp("The language to write to them in.", valueName: "language"))
    var language: String?
    @Option(name: .long, help: ArgumentHelp("Whether they agreed to be contacted: yes or no.", valueName: "yes|no"))
    var consent: String?
    @Option(name: .long, help: ArgumentHelp("A note kept with the contact.", valueName: "text"))
    var note: String?

    var options: [(key: String, value: String)] {
        [("name", name), ("relation", relation), ("phone", phone), ("email", email), ("language", language),
         ("consent", consent), ("note", note)].compactMap { key, value in value.map { (key, $0) } }
    }
}

struct ContactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contact",
        abstract: "The people to inform about a case: relatives, a lawyer… and how to reach them.",
        discussion: """
            Contacts are personal data of people who are not the case: only the reader role and above \
            see them, observers never, and the journal never names them. A status change of a case \
            with contacts names their ids in the notice to readers (contacts=K-…), so that a watch \
            --exec script can write the letters. An empty value (--phone '') clears a field.

            add, update and remove need the writer role; list, reader.
            """,
        subcommands: [Add.self, Update.self, Remove.self, ListContacts.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add someone to inform about a case.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: ArgumentHelp("The case id.", valueName: "id"))
        var id: String
        @OptionGroup var fields: ContactFieldOptions

        func run() throws {
            try connection.run { client in
                let answer = try client.request(Request(verb: "CONTACT-ADD", positional: [id], options: fields.options))
                try ContactCommand.print(answer, json: connection.json, verb: "added to")
            }
        }
    }

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a contact's fields.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: ArgumentHelp("The contact id, e.g. K-000001.", valueName: "contact"))
        var contact: String
        @OptionGroup var fields: ContactFieldOptions

        func run() throws {
            try connection.run { client in
                let answer = try client.request(Request(verb: "CONTACT-UPDATE", positional: [contact], options: fields.options))
                try ContactCommand.print(answer, json: connection.json, verb: "changed, of")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take a contact off its case.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: ArgumentHelp("The contact id.", valueName: "contact"))
        var contact: String

        func run() throws {
            try connection.run { client in
                let final = try client.request(Request(verb: "CONTACT-REMOVE", positional: [contact])).get()
                Output.line(connection.json ? final.typed.json : "\(final.string("contact") ?? contact) removed from \(final.string("id") ?? "?")")
            }
        }
    }

    struct ListContacts: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "The contacts of a case.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: ArgumentHelp("The case id.", valueName: "id"))
        var id: String

        func run() throws {
            try connection.run { client in
                let answer = try client.request(Request(verb: "CONTACTS", positional: [id]))
                _ = try answer.get()
                if connection.json { for line in answer.data { Output.line(line.typed.json) }; return }
                Output.grid(["CONTACT", "NAME", "RELATION", "PHONE", "EMAIL", "LANGUAGE", "CONSENT", "NOTE"], answer.data.map { row in
                    [row.string("contact"), row.string("name"), row.string("relation"), row.string("phone"), row.string("email"),
                     row.string("language"), row.string("consent"), row.string("note")].map { $0.map(Output.clean) ?? "-" }
                })
            }
        }
    }

    static func print(_ answer: Answer, json: Bool, verb: String) throws {
        try written(answer, json: json, key: "contact", verb: verb)
    }
}

/// A contact or an enquiry written: `K-000001 added to C-000001`, or its line in JSON.
func written(_ answer: Answer, json: Bool, key: String, verb: String) throws {
    let final = try answer.get()
    if json, let line = answer.data.first {
        Output.line(line.typed.json)
    } else {
        Output.line("\(final.string(key) ?? "?") \(verb) \(final.string("id") ?? "?")")
    }
}

struct EnquiryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enquiry",
        abstract: "Who asked about a case, what, and what they were told.",
        discussion: """
            An enquiry comes from a contact of the case (K-…) or from anyone else, named as written \
            (a ministry, the ICRC, a lawyer's office). list --unanswered-older 14d shows those \
            still waiting for an answer that long, over every case.

            add and answer need the writer role; list, reader.
            """,
        subcommands: [Add.self, AnswerEnquiry.self, ListEnquiries.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record that someone asked about a case.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: ArgumentHelp("The case id.", valueName: "id"))
        var id: String
        @Option(name: .long, help: ArgumentHelp("Who asked: a contact of the case (K-…) or an organisation.", valueName: "contact-or-org"))
        var from: String
        @Option(name: .long, help: ArgumentHelp("What they asked.", valueName: "text"))
        var question: String
        @Option(name: .long, help: ArgumentHelp("When they asked (default today).", valueName: "date"))
        var at: String?

        func run() throws {
            var options: [(key: String, value: String)] = [("from", from), ("question", question)]
            if let at { options.append(("at", at)) }
            try connection.run { client in
                let answer = try client.request(Request(verb: "ENQUIRY-ADD", positional: [id], options: options))
                try EnquiryCommand.print(answer, json: connection.json, verb: "recorded for")
            }
        }
    }

    struct AnswerEnquiry: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "answer", abstract: "Record the answer given to an enquiry.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: ArgumentHelp("The enquiry id, e.g. E-000001.", valueName: "enquiry"))
        var enquiry: String
        @Option(name: .long, help: ArgumentHelp("What the office told them.", valueName: "text"))
        var answer: String
        @Option(name: .long, help: ArgumentHelp("When (default today).", valueName: "date"))
        var at: String?

        func run() throws {
            var options: [(key: String, value: String)] = [("answer", answer)]
            if let at { options.append(("at", at)) }
            try connection.run { client in
                let result = try client.request(Request(verb: "ENQUIRY-ANSWER", positional: [enquiry], options: options))
                try EnquiryCommand.print(result, json: connection.json, verb: "answered, of")
            }
        }
    }

    struct ListEnquiries: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "The enquiries of a case, or of every case.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: ArgumentHelp("The case id (default: every case).", valueName: "id"))
        var id: String?
        @Option(name: .long, help: ArgumentHelp("Only those unanswered at least this long: 14d, 1m.", valueName: "duration"))
        var unansweredOlder: String?

        func run() throws {
            var options: [(key: String, value: String)] = []
            if let unansweredOlder { options.append(("unanswered_older", unansweredOlder)) }
            try connection.run { client in
                let answer = try client.request(Request(verb: "ENQUIRIES", positional: id.map { [$0] } ?? [], options: options))
                _ = try answer.get()
                if connection.json { for line in answer.data { Output.line(line.typed.json) }; return }
                Output.grid(["ENQUIRY", "CASE", "FROM", "ASKED", "QUESTION", "ANSWERED", "ANSWER"], answer.data.map { row in
                    [row.string("enquiry"), row.string("id"), row.string("from"), row.string("asked"), row.string("question"),
                     row.string("answered"), row.string("answer")].map { $0.map(Output.clean) ?? "-" }
                })
            }
        }
    }

    static func print(_ answer: Answer, json: Bool, verb: String) throws {
        try written(answer, json: json, key: "enquiry", verb: verb)
    }
}

/// The second file of `export --with-contacts`.
extension Export {
    static let contactColumns = ["contact", "id", "name", "relation", "phone", "email", "language", "consent", "note",
                                 "created_at", "updated_at"]

    /// Every contact of the cases in `exported`, as the second file holds them.
    func contactsFile(_ client: CasetrackClient, exported: Set<String>) throws -> String {
        var text = format == .csv ? CaseFile.csvLine(Self.contactColumns) + "\n" : ""
        var after: String?
        repeat {
            var options: [(key: String, value: String)] = [("limit", String(Command.defaultPageSize))]
            if let after { options.append(("after", after)) }
            let answer = try client.request(Request(verb: "CONTACTS-EXPORT", options: options))
            let final = try answer.get()
            for contact in answer.data where exported.contains(contact.string("id") ?? "") {
                text += format == .csv ? CaseFile.csvLine(Self.contactColumns.map { contact.string($0) ?? "" }) : contact.typed.json
                text += "\n"
            }
            after = final.string("next")
        } while after != nil
        return text
    }
}
