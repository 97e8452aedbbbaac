import Foundation
import Testing
import TestThreads

/// docs/man/casectl.1 is written by hand, for readers. These tests hold it to casectl's own
/// description of its commands (`--experimental-dump-help`, made from the same definitions
/// as --help and the completion scripts), so that a command or option added, renamed or
/// dropped in the code fails the suite until the manual says so too. They also run what the
/// manual promises of the command line: global options on either side of the command,
/// completion scripts, and closed value sets refused with the values allowed.
@Suite("casectl: the manual against the command definitions; global options, completion, value sets", .blocking)
struct CasectlManualTests {
    static let casectl = Daemon.binDirectory.appendingPathComponent("casectl")

    /// An environment whose socket leads nowhere: a run that needs the daemon reaches it only
    /// through --socket, and one that must be refused before connecting cannot pass by luck.
    static let nowhere = ["CASETRACK_SOCKET": "/nonexistent/casetrack.sock"]

    @Test("the manual has an entry for every command and option casectl has, and names no other")
    func manualMatchesTheCommands() throws {
        let tool = try ToolDescription.load()
        let manual = try Manual.load()
        var options = Manual.namedButNotCasectls
        for command in tool.commands {
            let path = command.path.joined(separator: " ")
            if !command.path.isEmpty, command.isLeaf {
                #expect(manual.commands.contains(path), "COMMANDS has no entry for casectl \(path)")
            }
            for name in command.options {
                options.insert(name)
                #expect(manual.documents(name, for: command.path),
                        "OPTIONS has no entry for \(name) in a subsection for \(path.isEmpty ? "every command" : path)")
            }
            for value in command.values {
                #expect(manual.text.contains(value), "the manual never names \(value), a value casectl \(path) takes")
            }
        }
        for path in manual.commands {
            #expect(tool.paths.contains(path), "COMMANDS describes casectl \(path), which does not exist")
        }
        for name in Set(Manual.longOptions(in: manual.text)) {
            #expect(options.contains(name), "the manual names \(name), which no casectl command has")
        }
    }

    @Test("--socket and --json work before the command and after it; without a command, help")
    func globalOptions() throws {
        let daemon = try Daemon()
        let forms = [["--socket", daemon.socket, "ping"], ["ping", "--socket", daemon.socket], ["--socket=\(daemon.socket)", "ping"]]
        for arguments in forms {
            let ping = try daemon.casectl(arguments, environment: Self.nowhere)
            #expect(ping.status == 0 && ping.stdout.contains("answers on \(daemon.socket)"), "\(arguments): \(ping.stderr)")
        }
        let json = try daemon.casectl(["--json", "--socket", daemon.socket, "ping"], environment: Self.nowhere).json()
        #expect(json["socket"] as? String == daemon.socket)

        try daemon.casectl("add", "--name", "Савчук Остап", "--category", "military", "--status", "captive")
        // Values of a closed set in any letter case, as the daemon takes them.
        let count = try daemon.casectl(["--socket", daemon.socket, "count", "--status", "CAPTIVE,missing"], environment: Self.nowhere)
        #expect(count.status == 0 && count.stdout == "1\n", "\(count.stderr)")
        // A command under a command: the global options still go first, or last.
        for arguments in [["--socket", daemon.socket, "exchange", "list"], ["exchange", "list", "--socket", daemon.socket]] {
            let exchanges = try daemon.casectl(arguments, environment: Self.nowhere)
            #expect(exchanges.status == 0 && exchanges.stdout.hasPrefix("NAME"), "\(arguments): \(exchanges.stderr)")
        }

        let bare = try daemon.casectl(["--socket", daemon.socket], environment: Self.nowhere)
        #expect(bare.status == 0 && bare.stdout.contains("SUBCOMMANDS") && bare.stdout.contains("--socket"), "\(bare.stdout)\(bare.stderr)")
    }

    @Test("--generate-completion-script writes bash, zsh and fish scripts that know the commands, options and values")
    func completionScripts() throws {
        for shell in ["bash", "zsh", "fish"] {
            let script = try Daemon.run(Self.casectl, ["--generate-completion-script", shell], environment: Self.nowhere)
            #expect(script.status == 0, "\(shell): \(script.stderr)")
            // fish names options without their dashes, so the words are looked for bare.
            for word in ["set-status", "exchange", "held-min", "socket", "captive", "civilian", "preliminary", "csv"] {
                #expect(script.stdout.contains(word), "the \(shell) script does not mention \(word)")
            }
        }
    }

    @Test("a value outside a closed set is bad usage (64) before anything is sent, and the message names the values allowed")
    func closedValueSets() throws {
        let statuses = ["missing", "captive", "returned", "deceased"]
        let refused: [(arguments: [String], allowed: [String])] = [
            (["list", "--status", "bogus"], statuses),
            (["count", "--status", "captive,bogus"], statuses),
            (["count", "--status", "captive,"], statuses),
            (["set-status", "C-000001", "home"], statuses),
            (["wait", "C-000001", "--until", "home"], statuses),
            (["add", "--name", "Х", "--category", "navy", "--status", "captive"], ["military", "civilian"]),
            (["set-status", "C-000001", "returned", "--confidence", "sure"], ["preliminary", "confirmed"]),
            (["stats", "--by", "month"], ["status", "held", "unit", "tag", "exchange", "day"]),
            (["export", "--format", "xml"], ["csv", "json"]),
            (["watch", "--kind", "birthday"], ["created", "status", "correction", "update", "held", "stale", "test", "exchange"]),
        ]
        for (arguments, allowed) in refused {
            let result = try Daemon.run(Self.casectl, arguments, environment: Self.nowhere)
            #expect(result.status == 64, "\(arguments): \(result.status) \(result.stderr)")
            #expect(!result.stderr.contains("cannot reach"), "\(arguments) was refused before connecting")
            for value in allowed {
                #expect(result.stderr.contains(value), "\(arguments): the message does not name \(value): \(result.stderr)")
            }
        }
        // Wide, so that the list of values is not wrapped.
        let help = try Daemon.run(Self.casectl, ["list", "--help"], environment: Self.nowhere.merging(["COLUMNS": "400"]) { $1 })
        #expect(help.stdout.contains("(values: missing, captive, returned, deceased)"), "\(help.stdout)")
    }
}

/// casectl's commands as `--experimental-dump-help` describes them.
private struct ToolDescription {
    struct Command {
        /// The words after `casectl`: [] for casectl itself, ["exchange", "show"].
        var path: [String]
        var isLeaf: Bool
        /// The option and flag names help shows: `--held-min`, `-h`.
        var options: [String]
        /// The values of the closed sets its options and arguments take.
        var values: [String]
    }

    var commands: [Command]

    var paths: Set<String> { Set(commands.map { $0.path.joined(separator: " ") }) }

    static func load() throws -> ToolDescription {
        let dump = try Daemon.run(CasectlManualTests.casectl, ["--experimental-dump-help"], environment: CasectlManualTests.nowhere)
        try #require(dump.status == 0, "casectl --experimental-dump-help: \(dump.stderr)")
        let tool = try JSONDecoder().decode(Dump.self, from: Data(dump.stdout.utf8))
        var commands: [Command] = []
        func add(_ command: Dump.Command, _ path: [String]) {
            let arguments = command.arguments ?? []
            let shown = arguments.filter { $0.kind != "positional" && $0.shouldDisplay != false }
            let names = shown.flatMap { argument in
                (argument.names ?? []).map { $0.kind == "short" ? "-" + $0.name : "--" + $0.name }
            }
            commands.append(Command(path: path, isLeaf: (command.subcommands ?? []).isEmpty, options: names,
                                    values: arguments.flatMap { $0.allValues ?? [] }))
            for subcommand in command.subcommands ?? [] { add(subcommand, path + [subcommand.commandName]) }
        }
        add(tool.command, [])
        return ToolDescription(commands: commands)
    }

    /// The part of argument-parser's ToolInfoV0 these tests read.
    struct Dump: Decodable {
        struct Command: Decodable {
            var commandName: String
            var subcommands: [Command]?
            var arguments: [Argument]?
        }

        struct Argument: Decodable {
            struct Name: Decodable {
                var kind: String
                var name: String
            }

            var kind: String
            var shouldDisplay: Bool?
            var names: [Name]?
            var allValues: [String]?
        }

        var command: Command
    }
}

/// docs/man/casectl.1, read as far as these tests need: the entries of COMMANDS and OPTIONS.
private struct Manual {
    /// The troff source, line by line, without comments.
    let lines: [String]

    /// Long options the manual names that are not casectl's to describe.
    static let namedButNotCasectls: Set<String> = [
        "--option",                      // the placeholder of "--option=VALUE" in OPTIONS
        "--unbuffered",                  // jq's, in an example of watch --json
        "--generate-completion-script",  // argument-parser's own: not in the dump, but real
    ]

    static func load() throws -> Manual {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/man/casectl.1").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return Manual(lines: text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            .filter { !$0.hasPrefix(".\\\"") && !$0.hasPrefix("'\\\"") })
    }

    /// The whole page as a reader sees its words.
    var text: String { Manual.plain(lines.joined(separator: "\n")) }

    /// Troff as a reader sees it, as far as names go: `\-` is a dash; font changes and `\&`
    /// are nothing.
    static func plain(_ troff: String) -> String {
        var text = troff.replacingOccurrences(of: "\\-", with: "-").replacingOccurrences(of: "\\&", with: "")
        for font in ["\\fB", "\\fI", "\\fR", "\\fP"] { text = text.replacingOccurrences(of: font, with: "") }
        return text
    }

    /// The lines of the section `.SH "name"`, without its heading.
    func section(_ name: String) -> ArraySlice<String> {
        guard let start = lines.firstIndex(of: ".SH \"\(name)\"") else { return [] }
        let end = lines[(start + 1)...].firstIndex { $0.hasPrefix(".SH ") } ?? lines.endIndex
        return lines[(start + 1)..<end]
    }

    /// The commands COMMANDS has an entry for, by the bold words that open the entry
    /// ("exchange show").
    var commands: [String] {
        let lines = section("COMMANDS")
        return zip(lines, lines.dropFirst()).compactMap { previous, line in
            guard previous == ".PP", line.hasPrefix("\\fB"), let end = line.range(of: "\\fR") else { return nil }
            return Manual.plain(String(line[..<end.lowerBound]))
        }
    }

    /// The entries of OPTIONS: the names an entry's first line gives, and the commands its
    /// subsection is for (the parenthesis of `.SS "Filter options (list, count, stats, export)"`).
    var optionEntries: [(names: [String], commands: [String])] {
        var entries: [(names: [String], commands: [String])] = []
        var commands: [String] = []
        var previous = ""
        for line in section("OPTIONS") {
            if line.hasPrefix(".SS ") {
                let title = Manual.plain(line)
                if let open = title.lastIndex(of: "("), let close = title.lastIndex(of: ")"), open < close {
                    commands = title[title.index(after: open)..<close].components(separatedBy: ", ")
                } else {
                    commands = []
                }
            } else if previous == ".PP", line.hasPrefix("\\fB\\-") {
                entries.append((Manual.options(in: Manual.plain(line)), commands))
            }
            previous = line
        }
        return entries
    }

    /// Whether OPTIONS has an entry for `name` in a subsection for `path`: one that names the
    /// command, its first word ("exchange" for exchange add), or every command.
    func documents(_ name: String, for path: [String]) -> Bool {
        optionEntries.contains { entry in
            guard entry.names.contains(name) else { return false }
            if entry.commands.contains("every command") { return true }
            guard let first = path.first else { return false }
            return entry.commands.contains(path.joined(separator: " ")) || entry.commands.contains(first)
        }
    }

    /// Every `--name` in `text`.
    static func longOptions(in text: String) -> [String] {
        options(in: text).filter { $0.hasPrefix("--") }
    }

    /// Every option name in `text`: `--name` (two dashes, a lower-case letter, then letters,
    /// digits and dashes) and `-x` (one letter alone), each where a word begins.
    static func options(in text: String) -> [String] {
        let characters = Array(text)
        func isNamePart(_ index: Int) -> Bool {
            guard characters.indices.contains(index) else { return false }
            let character = characters[index]
            return character.isASCII && (character.isLetter || character.isNumber || character == "-")
        }
        func isLowercaseLetter(_ index: Int) -> Bool {
            characters.indices.contains(index) && characters[index].isASCII && characters[index].isLowercase
        }
        var names: [String] = []
        var index = 0
        while index < characters.count {
            guard characters[index] == "-", !isNamePart(index - 1) else {
                index += 1
                continue
            }
            if characters.indices.contains(index + 1), characters[index + 1] == "-", isLowercaseLetter(index + 2) {
                var end = index + 2
                while end < characters.count, characters[end].isASCII,
                      characters[end].isLowercase || characters[end].isNumber || characters[end] == "-" {
                    end += 1
                }
                names.append(String(characters[index..<end]))
                index = end
            } else if characters.indices.contains(index + 1), characters[index + 1].isASCII, characters[index + 1].isLetter,
                      !isNamePart(index + 2) {
                names.append(String(characters[index...(index + 1)]))
                index += 2
            } else {
                index += 1
            }
        }
        return names
    }
}
