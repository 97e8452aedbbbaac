import ArgumentParser
import CasetrackClient
import CasetrackCore
import Foundation

/// `import FILE --contacts CONTACTS`: the contacts `export --with-contacts` wrote beside its
/// cases, each attached to the case its exported case became here. A case is found by the
/// first reference of its row in FILE (references are what make an import safe to repeat);
/// a contact the case has already (same name and relation) is skipped, so a second run adds
/// nothing.
enum ContactImport {
    struct Row {
        var line: Int
        var values: [String: String]
    }

    static let fields = ["name", "relation", "phone", "email", "language", "consent", "note"]

    /// The rows of a contacts file: CSV with a header line, or JSON lines.
    static func rows(_ path: String) throws -> [Row] {
        let text = try TextFile.read(path)
        if CaseFile.Format.detect(nil, path: path, text: text) == .json {
            var rows: [Row] = []
            var bad: [Int] = []
            // "\r\n" is one Character in Swift: both line ends are named (a file saved on
            // Windows was one line, and nothing of it was imported).
            for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
                guard !line.allSatisfy(\.isWhitespace) else { continue }
                guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                    bad.append(index + 1)
                    continue
                }
                rows.append(Row(line: index + 1, values: object.compactMapValues { $0 as? String }))
            }
            // Said, never skipped: a contact left out unseen is a family nobody tells.
            guard bad.isEmpty else {
                for line in bad.prefix(20) { Output.error("\(path): line \(line): not a JSON object on one line") }
                Output.error("\(path): \(bad.count) line(s) are not contacts; nothing was imported")
                throw ExitCode(ExitStatus.dataError)
            }
            return rows
        }
        let records: [(line: Int, fields: [String])]
        do {
            records = try CaseFile.csvRecords(text)
        } catch {
            Output.error("\(path): \(error)")
            throw ExitCode(ExitStatus.dataError)
        }
        guard let header = records.first?.fields else { return [] }
        return records.dropFirst().map { record in
            Row(line: record.line, values: Dictionary(zip(header, record.fields).filter { !$0.1.isEmpty }, uniquingKeysWith: { a, _ in a }))
        }
    }

    /// Exported case id → the first reference of its row in the cases file.
    static func references(_ rows: [CaseFile.Row]) -> [String: String] {
        var references: [String: String] = [:]
        for row in rows {
            guard let id = row.values.first(where: { $0.key == "id" })?.value.first,
                  let ref = row.values.first(where: { CaseFile.column(for: $0.key) == "refs" })?.value.first else { continue }
            references[id] = ref.trimmingCharacters(in: .whitespaces)
        }
        return references
    }

    /// The file's rows, checked whole (see ``check(_:references:cases:)``): any problem stops
    /// the command here, before any case is loaded.
    static func checkedRows(_ path: String, references: [String: String], cases file: String) throws -> [Row] {
        let rows = try rows(path)
        let problems = check(rows, references: references, cases: file)
        guard problems.isEmpty else { fail(path, problems) }
        return rows
    }

    /// Unless `dryRun`, attaches every contact of `rows` (the file `path`, checked by
    /// ``checkedRows(_:references:cases:)``) to its case here.
    static func run(_ client: CasetrackClient, rows: [Row], path: String, cases file: String, references: [String: String],
                    dryRun: Bool, json: Bool) throws {
        var problems: [String] = []
        if dryRun {
            Output.line("\(path): \(rows.count) contacts are valid; they are attached after the cases are imported")
            return
        }
        // Where each exported case is here: MATCH by its reference, a thousand at a time.
        let wanted = Array(Set(rows.compactMap { $0.values["id"].flatMap { references[$0] } })).sorted()
        var here: [String: String] = [:]
        for start in stride(from: 0, to: wanted.count, by: 1_000) {
            let chunk = Array(wanted[start..<min(start + 1_000, wanted.count)])
            let options = chunk.map { (key: "row", value: String(Request(verb: "ADD", options: [("ref", $0)]).line.dropFirst(4))) }
            let answer = try client.request(Request(verb: "MATCH", options: options))
            _ = try answer.get()
            for line in answer.data where line.string("match") == "exact" {
                if let row = line.int("row"), let id = line.string("id"), chunk.indices.contains(Int(row) - 1) { here[chunk[Int(row) - 1]] = id }
            }
        }
        for row in rows {
            guard let id = row.values["id"], let ref = references[id], here[ref] == nil else { continue }
            problems.append("line \(row.line): \(id) of \(file) (reference \(ref)) is not on record here")
        }
        guard problems.isEmpty else { fail(path, problems) }

        var known: [String: Set<String>] = [:]
        var added = 0
        var existing = 0
        for row in rows {
            guard let id = row.values["id"].flatMap({ references[$0] }).flatMap({ here[$0] }),
                  let name = row.values["name"], let relation = row.values["relation"] else { continue }
            if known[id] == nil {
                let answer = try client.request(Request(verb: "CONTACTS", positional: [id]))
                _ = try answer.get()
                known[id] = Set(answer.data.map { "\($0.string("name") ?? "")\n\($0.string("relation") ?? "")" })
            }
            guard known[id]?.insert("\(name)\n\(relation)").inserted == true else {
                existing += 1
                continue
            }
            var options = fields.compactMap { key in row.values[key].map { (key: key, value: $0) } }
            // Named by its line, not by its place among the writes: run again with the same
            // --request-id, the contacts on record are skipped, and numbered in turn, contact j
            // took contact 1's id and got its answer back: "added", and never made.
            if let base = client.requestIDBase { options.append(("request_id", "\(base).k\(String(row.line, radix: 36))")) }
            _ = try client.request(Request(verb: "CONTACT-ADD", positional: [id], options: options)).get()
            added += 1
        }
        Output.line(json ? "{\"contacts\":\(rows.count),\"added\":\(added),\"existing\":\(existing)}"
            : "\(path): \(rows.count) contacts, \(added) added, \(existing) on record already")
    }

    /// What is wrong with the file's lines, each named by its line: a missing name, relation
    /// or case, a case the cases file does not hold, and whatever the daemon would refuse in
    /// the contact itself (a phone number, an e-mail address, a consent), checked by the same
    /// rules before anything is sent.
    static func check(_ rows: [Row], references: [String: String], cases file: String) -> [String] {
        var problems: [String] = []
        for row in rows {
            for key in ["name", "relation"] where row.values[key] == nil { problems.append("line \(row.line): no \(key)") }
            guard let id = row.values["id"] else { problems.append("line \(row.line): no id (the case it belongs to)"); continue }
            if references[id] == nil { problems.append("line \(row.line): \(id) is not a case of \(file) with a reference") }
            guard row.values["name"] != nil, row.values["relation"] != nil else { continue }
            let options = fields.compactMap { key in row.values[key].map { (key: key, value: $0) } }
            do {
                _ = try Command(Request(verb: "CONTACT-ADD", positional: ["C-000001"], options: options), today: Output.today)
            } catch let error as CasetrackError {
                problems.append("line \(row.line): \(error.message)")
            } catch {
                problems.append("line \(row.line): \(error)")
            }
        }
        return problems
    }

    static func fail(_ path: String, _ problems: [String]) -> Never {
        for problem in problems { Output.error("\(path): \(problem)") }
        Output.error("\(path): \(problems.count) problem\(problems.count == 1 ? "" : "s"); no contact was added")
        Foundation.exit(ExitStatus.dataError)
    }
}
