#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CasetrackClient
import CasetrackCore
import CasetrackPOSIX

/// Options that select notices (the filter of SUBSCRIBE).
struct NoticeFilterOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The status before or after the event (repeat or comma-separate for any of several).", valueName: "status"))
    var status: [ValueList<Status>] = []

    @Option(name: .long, help: ArgumentHelp("The status before the event (repeat or comma-separate for any of several).", valueName: "status"))
    var old: [ValueList<Status>] = []

    @Option(name: .long, help: ArgumentHelp("The status after the event (repeat or comma-separate for any of several).", valueName: "status"))
    var new: [ValueList<Status>] = []

    @Option(name: .long, help: ArgumentHelp("The category (repeat or comma-separate for either).", valueName: "category"))
    var category: [ValueList<Category>] = []

    @Option(name: .long, help: ArgumentHelp("A tag the case has (repeat: all of them).", valueName: "tag"))
    var tag: [String] = []

    @Option(name: .long, help: ArgumentHelp("The unit or affiliation, in any letter case.", valueName: "unit"))
    var unit: String?

    @Option(name: .long, help: ArgumentHelp("One case (repeat for several).", valueName: "id"))
    var id: [String] = []

    @Option(name: .long, help: ArgumentHelp("The event's kind (repeat or comma-separate for any of several).", valueName: "kind"))
    var kind: [ValueList<EventKind>] = []

    /// The filter as SUBSCRIBE options; the daemon checks every value.
    var options: [(key: String, value: String)] {
        var options: [(key: String, value: String)] = []
        options += status.map { ("status", $0.text) }
        options += old.map { ("old", $0.text) }
        options += new.map { ("new", $0.text) }
        options += category.map { ("category", $0.text) }
        options += tag.map { ("tag", $0) }
        if let unit { options.append(("unit", unit)) }
        options += id.map { ("id", $0) }
        options += kind.map { ("kind", $0.text) }
        return options
    }
}

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print (or run a command for) every notice the filters select, one a line, for ever.",
        discussion: """
            watch subscribes to the daemon's notices and prints each on its own line: key=value text \
            (first fields, always in this order: seq id kind old new category occurred), or one JSON \
            object with --json. When the daemon goes away or restarts, watch reconnects by itself \
            (waiting longer after each failed try, at most 10 s) and resumes after the last notice it \
            handled: nothing is lost and nothing comes twice.

            Without --after or a cursor file, watch starts with the next event. With --cursor-file, \
            the sequence number of the last handled notice is written to FILE (atomically, synced to \
            disk) after each notice, and read at start: a restarted watch goes on where the last one \
            stopped.

            With --exec, watch runs CMD with /bin/sh once per notice, waits for it, and counts the \
            notice as handled only when CMD exits 0. A failing CMD is logged on standard error and \
            run again for the same notice (after 1 s, then longer, at most 60 s); later notices wait. \
            CMD gets the notice in its environment:
              CASETRACK_SEQ          sequence number
              CASETRACK_CASE         case id (C-000123; empty for a test notice)
              CASETRACK_KIND         the kind of notice (one of --kind's values)
              CASETRACK_OLD          status before (empty when none)
              CASETRACK_NEW          status after (empty when none)
              CASETRACK_CATEGORY     military or civilian
              CASETRACK_OCCURRED     when it happened (YYYY-MM-DD, YYYY-MM, YYYY or unknown)
              CASETRACK_RECORDED_AT  when the daemon stored it (UTC)
              CASETRACK_VERSION      the case version after the event
              CASETRACK_THRESHOLD    the crossed threshold of a held or stale alert
              CASETRACK_UNIT         the unit, CASETRACK_TAGS the tags (comma-separated)
              CASETRACK_NAME         the case's first name, when the daemon sends names
              CASETRACK_EXCHANGE     the exchange, for a case returned by one and a phase's notice
              CASETRACK_PHASE        its phase
              CASETRACK_RETURNED     (kind exchange) how many came home in the phase
              CASETRACK_NOTICE       the whole notice as one JSON object
            If watch itself is killed after CMD succeeded and before the cursor was saved, CMD runs \
            once more for that notice when watch restarts: make CMD safe to repeat.

            EXIT STATUS
              6   the daemon no longer keeps the events after the cursor (retention trimmed them): \
            resynchronize, then start again with a later --after
              64  bad usage, or a filter the daemon refused
            """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var filter: NoticeFilterOptions

    @Option(name: .long, help: ArgumentHelp("Start after this sequence number (0: from the first event; if retention trimmed the log, watch exits 6).", valueName: "seq"))
    var after: Int64?

    @Option(name: .long, help: ArgumentHelp("Keep the position in this file, to survive a restart of casectl.", valueName: "file"),
            completion: .file())
    var cursorFile: String?

    @Option(name: .long, help: ArgumentHelp("Run this shell command for each notice (see above).", valueName: "cmd"))
    var exec: String?

    func validate() throws {
        if let after, after < 0 { throw ValidationError("--after must be 0 or more") }
    }

    func run() throws {
        TerminationSignals.unblock()
        var cursor = after
        if cursor == nil, let cursorFile {
            do {
                cursor = try CursorFile.read(cursorFile)
            } catch let error as CasetrackError {
                Output.error(error.message)
                throw ExitCode(ExitStatus.usage)
            }
        }
        var retry = Backoff(first: 0.1, maximum: 10)
        while true {
            do {
                let client = try CasetrackClient(socketPath: connection.socketPath)
                let accepted = try client.request(Request(verb: "SUBSCRIBE", options: subscribeOptions(cursor))).get()
                if cursor == nil, let start = accepted.int("after") {
                    // Live from here: remember it, so that a reconnect loses nothing.
                    cursor = start
                    try save(start)
                }
                retry.reset()
                while let incoming = try client.nextNotice() {
                    switch incoming {
                    case .notice(let notice, let line):
                        if let cursor, notice.seq <= cursor { continue }
                        try handle(notice, line: line)
                        cursor = notice.seq
                        try save(notice.seq)
                    case .bye(let bye):
                        Output.error("watch: the daemon said \(bye.code): \(bye.message); reconnecting")
                    }
                }
            } catch let error as CasetrackError
                        where [.storageFailure, .internalError, .shuttingDown, .limitExceeded].contains(error.code) {
                // The daemon's trouble (or a full house), not the request's: it may pass in a moment.
                Output.error("watch: the daemon said \(error.code): \(error.message); retrying in \(retry.describeNext)")
            } catch let error as CasetrackError {
                Output.error("watch: \(error.message)")
                throw ExitCode(ExitStatus.code(for: error))
            } catch let error as ClientError {
                if error.code == .protocolError {
                    Output.error("watch: \(error.message)")
                    throw ExitCode(ExitStatus.failure)
                }
                Output.error("watch: \(error.message); retrying in \(retry.describeNext)")
            }
            retry.wait()
        }
    }

    private func subscribeOptions(_ cursor: Int64?) -> [(key: String, value: String)] {
        var options = filter.options
        if let cursor { options.append(("since", String(cursor))) }
        return options
    }

    private func save(_ seq: Int64) throws {
        guard let cursorFile else { return }
        do {
            try CursorFile.write(cursorFile, seq)
        } catch let error as CasetrackError {
            // A cursor that cannot be saved would repeat notices after a restart: stop loudly.
            Output.error("watch: \(error.message)")
            throw ExitCode(ExitStatus.failure)
        }
    }

    private func handle(_ notice: Notice, line: String) throws {
        guard let exec else {
            // Unbuffered: the line is out before the cursor moves past it; a line that could
            // not be written (a full disk under `>> log`) stops watch before it does.
            let text = connection.json ? notice.fields(includePersonalData: notice.caseID == nil || !notice.names.isEmpty).json : line
            guard Output.writtenLine(text) else {
                Output.error("watch: cannot write notice \(notice.seq) to standard output (\(String(cString: strerror(errno)))); the cursor stays before it")
                throw ExitCode(ExitStatus.failure)
            }
            return
        }
        var retry = Backoff(first: 1, maximum: 60)
        while true {
            let status = CommandRunner.run(exec, environment: Self.environment(for: notice))
            if status == 0 { return }
            Output.error("watch: '\(exec)' \(CommandRunner.describe(status)) for notice \(notice.seq); running it again in \(retry.describeNext)")
            retry.wait()
        }
    }

    static func environment(for notice: Notice) -> [String: String] {
        [
            "CASETRACK_SEQ": String(notice.seq),
            "CASETRACK_CASE": notice.caseID?.description ?? "",
            "CASETRACK_KIND": notice.kind.rawValue,
            "CASETRACK_OLD": notice.oldStatus?.rawValue ?? "",
            "CASETRACK_NEW": notice.newStatus?.rawValue ?? "",
            "CASETRACK_CATEGORY": notice.category?.rawValue ?? "",
            "CASETRACK_OCCURRED": notice.occurredOn?.description ?? "unknown",
            "CASETRACK_RECORDED_AT": notice.recordedAt.description,
            "CASETRACK_VERSION": String(notice.version),
            "CASETRACK_THRESHOLD": notice.threshold ?? "",
            "CASETRACK_UNIT": notice.unit ?? "",
            "CASETRACK_TAGS": notice.tags.joined(separator: ","),
            "CASETRACK_NAME": notice.names.first ?? "",
            "CASETRACK_EXCHANGE": notice.exchange?.name ?? "",
            "CASETRACK_PHASE": notice.exchange.map { String($0.phase) } ?? "",
            "CASETRACK_RETURNED": notice.exchange?.returned.map { String($0.values.reduce(0, +)) } ?? "",
            "CASETRACK_NOTICE": notice.fields(includePersonalData: notice.caseID == nil || !notice.names.isEmpty).json,
        ]
    }
}

struct Wait: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Wait until a case has one of the given statuses.",
        discussion: """
            Returns at once when the case already has the status; otherwise as soon as a notice says \
            it changed to it. Prints the case id and its status. Reconnects by itself if the daemon \
            restarts meanwhile, without missing a change. --timeout bounds every wait on the daemon, \
            connecting included.

            EXIT STATUS
              0    the case has (or reached) the status
              2    no such case
              124  the timeout passed first
              69   the daemon could not be reached when wait started
              (other failures as for every casectl command)
            """)

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("The case id, e.g. C-000123.", valueName: "id"))
    var id: String

    @Option(name: .long, help: ArgumentHelp("The status to wait for (comma-separate for any of several).", valueName: "status"))
    var until: ValueList<Status>

    @Option(name: .long, help: ArgumentHelp("Give up after this long: 90s, 10m, 1h, 2d, or seconds. Default: wait for ever.", valueName: "duration"))
    var timeout: String?

    func run() throws {
        TerminationSignals.unblock()
        guard let caseID = CaseID(id) else { throw ValidationError("'\(id)' is not a case id; write C-000123") }
        let statuses = Set(until.values)
        var deadline: Int64?
        if let timeout {
            guard let seconds = Self.seconds(timeout) else { throw ValidationError("--timeout: '\(timeout)' is not a duration such as 90s, 10m, 1h or 2d") }
            deadline = Monotonic.milliseconds() + seconds * 1000
        }
        var filter = NoticeFilter()
        filter.caseIDs = [caseID]
        var resumeAfter: Int64?
        var retry = Backoff(first: 0.1, maximum: 5)
        var connected = false
        var looked = false
        /// Milliseconds left before the deadline (nil: no deadline); exits 124 when none are,
        /// once the case was looked at: `--timeout 0` asks whether it has the status now.
        func left() throws -> Int? {
            guard let deadline else { return nil }
            let remaining = deadline - Monotonic.milliseconds()
            if remaining > 0 { return Int(remaining) }
            guard !looked else { throw timedOut() }
            return 5_000  // time for the one look
        }
        while true {
            do {
                // Every wait on the daemon is bounded by what is left of --timeout.
                let client = try CasetrackClient(socketPath: connection.socketPath, timeoutMilliseconds: try left())
                // Subscribe first, then look: a change between the two is in the notices.
                let accepted: Fields
                do {
                    accepted = try client.subscribe(filter, since: resumeAfter)
                } catch let error as CasetrackError where error.code == .gap {
                    // Events were trimmed while we were away; the look below covers them.
                    accepted = try client.subscribe(filter, since: nil)
                }
                if resumeAfter == nil { resumeAfter = accepted.int("after") }
                connected = true
                guard let record = try client.get(caseID) else {
                    Output.error("no case \(caseID)")
                    throw ExitCode(ExitStatus.notFound)
                }
                looked = true
                if statuses.contains(record.status) { return reached(caseID, record.status) }
                retry.reset()
                while true {
                    if let remaining = try left() { client.setReceiveTimeout(milliseconds: remaining) }
                    guard let incoming = try client.nextNotice() else { break }
                    guard case .notice(let notice, _) = incoming else { break }
                    resumeAfter = notice.seq
                    // A change the look above already saw (it came between the subscription
                    // and the look, or during a reconnect): the case may have moved on since,
                    // a wrong entry corrected, say.
                    guard notice.version > record.version else { continue }
                    if let new = notice.newStatus, statuses.contains(new), notice.kind != .test {
                        return reached(caseID, new)
                    }
                }
            } catch let error as ClientError where error.code == .timedOut {
                throw timedOut()
            } catch let error as ClientError where connected && error.code != .protocolError {
                Output.error("wait: \(error.message); reconnecting")
            } catch let error as ClientError {
                Output.error(error.message)
                throw ExitCode(error.code == .unreachable ? ExitStatus.unreachable : ExitStatus.failure)
            } catch let error as CasetrackError
                        where connected && [.storageFailure, .internalError, .shuttingDown, .limitExceeded].contains(error.code) {
                // Turned away once it was waiting (a restart, a full house): as watch does,
                // it tries again rather than give up on what it waits for.
                Output.error("wait: the daemon said \(error.code): \(error.message); reconnecting")
            } catch let error as CasetrackError {
                Output.error(error.message)
                throw ExitCode(ExitStatus.code(for: error))
            }
            if let remaining = try left() {
                retry.wait(atMostMilliseconds: remaining)
            } else {
                retry.wait()
            }
        }
    }

    private func timedOut() -> ExitCode {
        Output.error("wait: \(id) did not reach \(until.text) within \(timeout ?? "the timeout")")
        return ExitCode(ExitStatus.timedOut)
    }

    private func reached(_ id: CaseID, _ status: Status) {
        Output.line("\(id) \(status.rawValue)")
    }

    /// `90s`, `10m`, `1h`, `2d` or a plain number of seconds.
    static func seconds(_ text: String) -> Int64? {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
        if let last = text.last, let unit = units[last] {
            return Int64(text.dropLast()).flatMap { $0 >= 0 ? $0 * unit : nil }
        }
        return Int64(text).flatMap { $0 >= 0 ? $0 : nil }
    }
}

struct TestNotice: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test-notice",
        abstract: "Send a test notice through the whole path, to check watchers and their hooks.",
        discussion: """
            Records an event of kind test (it belongs to no case and changes nothing) and prints its \
            sequence number. Every subscriber receives it, whatever its filter, unless the filter \
            names event kinds without test; every watch --exec runs its command for it.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .long, help: ArgumentHelp("A note kept with the test event.", valueName: "text"))
    var note: String?

    func run() throws {
        try connection.run { client in
            var options: [(key: String, value: String)] = []
            if let note { options.append(("note", note)) }
            let final = try client.request(Request(verb: "TEST-NOTICE", options: options)).get()
            Output.line(connection.json ? final.typed.json : "test notice sent: seq \(final.string("seq") ?? "?")")
        }
    }
}
