import ArgumentParser
import CasetrackClient
import CasetrackCore
import Foundation

@main
struct Casectl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "casectl",
        abstract: "Query and change the casetrack record from a shell.",
        discussion: """
            casectl talks to casetrackd over its Unix socket: --socket, else $CASETRACK_SOCKET, \
            else \(DaemonConfiguration().socketPath). Every command prints a readable table, or JSON \
            with --json (one document; one object per line for lists). Both go before the command \
            (casectl --socket PATH count) or after it (casectl count --socket PATH).

            Shell completion: casectl --generate-completion-script bash, zsh or fish prints the \
            script (make install installs all three).

            EXIT STATUS
              0   success
              1   the daemon failed (storage or internal error) or answered something unreadable
              2   no such case, exchange, contact or enquiry, or the case was merged into another (the message says which)
              3   refused: a transition the lifecycle does not allow, a version conflict, \
            a reference that belongs to another case, or a merge of cases that disagree
              4   not permitted
              6   (watch) the events after the cursor were trimmed by retention
              64  bad usage: a wrong option or value (casectl names the values allowed), or a \
            value the daemon refused as invalid
              65  (import) the file has errors, each printed with its line: nothing was imported; (export) a case CSV cannot hold
              69  the daemon cannot be reached, is shutting down, or a limit turned the request \
            away (too many connections, requests too fast), or its disk is full, or the shared \
            store of several offices cannot be reached: nothing was done, retry later
              75  the request was sent but the connection closed before the answer, or the \
            storage failed while recording it: a change may or may not have been made; look \
            (get, history) before retrying, or retry with the same --request-id
              124 (wait) the timeout passed first
            """,
        version: "0.1.0",
        subcommands: [
            Add.self, Get.self, SetStatus.self, Update.self, RecordEvent.self, History.self, ContactCommand.self, EnquiryCommand.self, Report.self,
            List.self, Count.self, Stats.self, ExchangeCommand.self, Import.self, Export.self, Backup.self,
            Duplicates.self, Match.self, Merge.self, Verify.self, Unmerge.self, NotDuplicate.self, Watch.self, Wait.self, TestNotice.self, Ping.self,
        ])

    // Global options, as `git -C`, `systemctl -H` and `redis-cli -s` have them. argument-parser
    // parses the root's options wherever they stand on the line, before the command or after
    // it, and a command's `@OptionGroup` of the same type is handed the value the root decoded
    // (OptionGroup.init(from:) looks for it first). So every command keeps its own
    // `@OptionGroup var connection`, and its help still lists --socket and --json, while
    // `casectl --socket P count` and `casectl count --socket P` are one command; the root's
    // help lists them as global options. No rewriting of the command line is needed, and
    // completion and --help see the options as they are. Without a command, casectl prints
    // its help, as it always did.
    @OptionGroup(title: "Global Options") var connection: ConnectionOptions
}

/// How casectl reaches the daemon and prints what it says.
struct ConnectionOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The daemon's socket. Default: $CASETRACK_SOCKET, else \(DaemonConfiguration().socketPath).", valueName: "path"),
            completion: .file())
    var socket: String?

    @Flag(name: .long, help: "Print JSON: one document, or one object per line for lists.")
    var json = false

    @Option(name: .long, help: ArgumentHelp(
        "Name the writes of this command (1 to \(ConnectionOptions.longestRequestID) letters, digits, - _ . :): the same command run again with the same id gets the first answers instead of acting twice, for at least 24 hours. Default: a new id each run.",
        valueName: "id"))
    var requestID: String?

    /// The daemon takes ids of up to 64 characters; casectl names a command's later writes
    /// `ID.2`, `ID.3`… and an import's contacts `ID.k…`, which need 8 of them.
    static let longestRequestID = 56

    var socketPath: String {
        socket ?? CasetrackClient.defaultSocketPath(environment: Environment.variables)
    }

    /// Connects, runs `body`, and turns every failure into a message and an exit status.
    func run(_ body: (CasetrackClient) throws -> Void) throws {
        if let requestID {
            // Checked before anything is sent: one refused in the middle of an import would
            // leave it half done, and so would every run again with the same id.
            guard RequestID.isWellFormed(requestID, longest: Self.longestRequestID) else {
                Output.error("--request-id: '\(requestID.prefix(70))' is not a request id; use 1 to \(Self.longestRequestID) letters, digits and - _ . : (a UUID will do)")
                throw ExitCode(ExitStatus.usage)
            }
        }
        do {
            let client = try CasetrackClient(socketPath: socketPath)
            client.requestIDBase = requestID ?? UUID().uuidString.lowercased()
            try body(client)
            if client.replayedAnswers > 0 {
                Output.error("\(client.replayedAnswers == 1 ? "this answer is" : "\(client.replayedAnswers) answers are") the first of an earlier run with --request-id \(client.requestIDBase ?? ""): nothing was done now")
            }
            if let failure = Output.stdoutFailure {
                Output.error("cannot write standard output: \(failure)")
                throw ExitCode(ExitStatus.failure)
            }
        } catch let error as CasetrackError {
            Output.error(error.message)
            throw ExitCode(ExitStatus.code(for: error))
        } catch let error as ClientError {
            Output.error(error.message)
            switch error.code {
            case .unreachable: throw ExitCode(ExitStatus.unreachable)
            // The request went out and no answer came back: a write may or may not have been
            // made, so a blind retry could make it twice. Scripts check first (get, history),
            // or run the command again with the same --request-id.
            case .connectionLost: throw ExitCode(ExitStatus.outcomeUnknown)
            default: throw ExitCode(ExitStatus.failure)
            }
        }
    }
}

/// The exit statuses, as the help text documents them.
enum ExitStatus {
    static let failure: Int32 = 1
    static let notFound: Int32 = 2
    static let refused: Int32 = 3
    static let notPermitted: Int32 = 4
    static let usage: Int32 = 64
    static let dataError: Int32 = 65
    static let unreachable: Int32 = 69
    static let outcomeUnknown: Int32 = 75
    static let gap: Int32 = 6
    static let timedOut: Int32 = 124

    static func code(for error: CasetrackError) -> Int32 {
        switch error.code {
        case .notFound: return notFound
        case .illegalTransition, .versionConflict, .duplicateReference, .mergeConflict: return refused
        case .merged: return notFound
        case .notPermitted: return notPermitted
        case .badArgument, .badRequest, .unknownVerb, .lineTooLong, .invalidUTF8: return usage
        case .storageFailure where error.details.string("outcome") == "unknown",
             .storageUnavailable where error.details.string("outcome") == "unknown": return outcomeUnknown
        case .shuttingDown, .limitExceeded, .storageFull, .storageUnavailable: return unreachable
        case .gap: return gap
        default: return failure
        }
    }
}

/// Options shared by every command that selects cases.
struct FilterOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The status (repeat, or comma-separate, for any of several).", valueName: "status"))
    var status: [ValueList<Status>] = []

    @Option(name: .long, help: ArgumentHelp("The category (repeat, or comma-separate, for either).", valueName: "category"))
    var category: [ValueList<Category>] = []

    @Option(name: .long, help: ArgumentHelp("A tag the case must have (repeat: all of them). Needs the reader role.", valueName: "tag"))
    var tag: [String] = []

    @Option(name: .long, help: ArgumentHelp("The unit or affiliation, in any letter case. Needs the reader role.", valueName: "unit"))
    var unit: String?

    @Option(name: .long, help: ArgumentHelp("Held or missing for at least this long: 8y, 18m, 90d, 1y6m.", valueName: "duration"))
    var heldMin: String?

    @Option(name: .long, help: ArgumentHelp("Went missing or was detained on or after this date.", valueName: "date"))
    var sinceFrom: String?

    @Option(name: .long, help: ArgumentHelp("Went missing or was detained before this date.", valueName: "date"))
    var sinceBefore: String?

    @Option(name: .long, help: ArgumentHelp("Changed at or after this date or instant (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ).", valueName: "when"))
    var updatedSince: String?

    @Option(name: .long, help: ArgumentHelp("Words of a name, in any spelling, letter case or script. Needs the reader role.", valueName: "words"))
    var name: String?

    @Option(name: .long, help: ArgumentHelp("Listed on this exchange.", valueName: "name"))
    var exchange: String?

    @Option(name: .long, help: ArgumentHelp("Listed on this phase of --exchange.", valueName: "k"))
    var phase: Int?

    @Option(name: .long, help: ArgumentHelp("Closed (returned or deceased) on or after this date.", valueName: "date"))
    var endedFrom: String?

    @Option(name: .long, help: ArgumentHelp("Closed before this date.", valueName: "date"))
    var endedBefore: String?

    @Option(name: .long, help: ArgumentHelp("The last proof of life is at least this old (cases with one only): 1y, 6m, 90d.", valueName: "duration"))
    var proofOlder: String?

    @Flag(name: .long, help: "No proof of life on record.")
    var noProof = false

    var options: [(key: String, value: String)] {
        var options: [(key: String, value: String)] = []
        options += status.map { ("status", $0.text) }
        options += category.map { ("category", $0.text) }
        options += tag.map { ("tag", $0) }
        if let unit { options.append(("unit", unit)) }
        if let heldMin { options.append(("held_min", heldMin)) }
        if let sinceFrom { options.append(("since_from", sinceFrom)) }
        if let sinceBefore { options.append(("since_before", sinceBefore)) }
        if let updatedSince { options.append(("updated_since", updatedSince)) }
        if let name { options.append(("name", name)) }
        if let exchange { options.append(("exchange", exchange)) }
        if let phase { options.append(("phase", String(phase))) }
        if let endedFrom { options.append(("ended_from", endedFrom)) }
        if let endedBefore { options.append(("ended_before", endedBefore)) }
        if let proofOlder { options.append(("proof_older", proofOlder)) }
        if noProof { options.append(("no_proof", "yes")) }
        return options
    }
}

/// Options that describe the event a write records.
struct EventOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("When it happened: YYYY-MM-DD, YYYY-MM, YYYY or unknown. Default: today for set-status, the --since date for add, none for update.", valueName: "date"))
    var at: String?

    @Option(name: .long, help: ArgumentHelp("Where the information comes from (official statement, released person, ICRC, family, media…).", valueName: "text"))
    var source: String?

    @Option(name: .long, help: ArgumentHelp("How sure the source is.", valueName: "level"))
    var confidence: Confidence?

    @Option(name: .long, help: ArgumentHelp("A note kept with the event.", valueName: "text"))
    var note: String?

    var options: [(key: String, value: String)] {
        var options: [(key: String, value: String)] = []
        if let at { options.append(("at", at)) }
        if let source { options.append(("source", source)) }
        if let confidence { options.append(("confidence", confidence.rawValue)) }
        if let note { options.append(("note", note)) }
        return options
    }
}
