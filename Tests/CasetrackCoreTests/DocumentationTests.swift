import CasetrackCore
import Foundation
import Testing

/// docs/PROTOCOL.md is the contract: it must describe what the code does.
@Suite("Documentation matches the code")
struct DocumentationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func read(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    @Test("every verb has its section", arguments: Verb.allCases)
    func verbs(_ verb: Verb) throws {
        let lines = try Self.read("docs/PROTOCOL.md").split(separator: "\n")
        #expect(lines.contains { $0.trimmingCharacters(in: .whitespaces) == "### \(verb.name)" })
    }

    @Test("every error code is listed", arguments: CasetrackError.Code.all)
    func codes(_ code: CasetrackError.Code) throws {
        #expect(try Self.read("docs/PROTOCOL.md").contains("`\(code.rawValue)`"))
    }

    @Test("the lifecycle tables in the docs are the code's table", arguments: ["docs/PROTOCOL.md", "README.md"])
    func lifecycle(_ path: String) throws {
        let text = try Self.read(path)
        for status in Status.allCases {
            let allowed = Lifecycle.allowed(from: status)
            let cell = allowed.isEmpty ? "(final)" : allowed.map(\.rawValue).joined(separator: ", ")
            #expect(text.contains("| \(status.rawValue) | \(cell) |"), "\(path): row for \(status.rawValue)")
        }
    }

    @Test("every configuration key is in the README, the man page and the shipped file")
    func configuration() throws {
        let readme = try Self.read("README.md")
        let manual = try Self.read("docs/man/casetrackd.8")
        let shipped = try Self.read("config/casetrackd.conf")
        for key in DaemonConfiguration.keys {
            #expect(readme.contains("`\(key)`"), "README: \(key)")
            #expect(manual.contains(key.replacingOccurrences(of: "_", with: "\\_")) || manual.contains(key), "man: \(key)")
            #expect(shipped.contains("\(key) = "), "casetrackd.conf: \(key)")
        }
    }

    @Test("every verb's role is in the protocol's roles table", arguments: Verb.allCases)
    func roles(_ verb: Verb) throws {
        #expect(try Self.read("docs/PROTOCOL.md").contains("| \(verb.name) | \(verb.role.rawValue) |"))
    }
}

extension DocumentationTests {
    /// The text of the `### VERB` section of docs/PROTOCOL.md.
    static func section(_ verb: Verb) throws -> String {
        let text = try read("docs/PROTOCOL.md")
        guard let start = text.range(of: "\n### \(verb.name)\n") else { return "" }
        let rest = text[start.upperBound...]
        let end = rest.range(of: "\n##")?.lowerBound ?? rest.endIndex
        return String(rest[..<end])
    }

    @Test("every key a verb takes is in its section of the protocol (filter and event keys in theirs)", arguments: Verb.allCases)
    func keys(_ verb: Verb) throws {
        let section = try Self.section(verb)
        let protocolText = try Self.read("docs/PROTOCOL.md")
        for key in verb.keys where !section.contains("`\(key)`") && !section.contains("\(key)=") {
            // Keys shared by several verbs are described once, in their own section.
            let shared = ["### Filters", "### Options every write takes", "### Notice filters"].contains { heading in
                guard let start = protocolText.range(of: heading) else { return false }
                let rest = protocolText[start.upperBound...]
                let body = rest[..<(rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex)]
                return body.contains("`\(key)`")
            }
            #expect(shared, "\(verb.name) takes \(key)=, which docs/PROTOCOL.md does not describe")
        }
    }
}
