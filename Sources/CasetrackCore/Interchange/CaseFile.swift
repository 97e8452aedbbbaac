import Foundation

/// Files of cases for `casectl import` and `casectl export`: CSV with a header line, or JSON
/// lines (one object per line). Both use the record's own field names, so an export reads
/// back as an import.
///
/// Columns: `names`, `tags` and `refs` hold lists (in CSV: values joined by `|`); `ended`
/// (the date a closed case closed) becomes the event date `at` of the imported case; `id`,
/// `version`, `since_precision`, `held`, `held_days`, `created_at` and `updated_at` are the
/// exporting daemon's and are ignored; so are the facts its captivity events made (proof of
/// life, death, remains), which an import cannot carry without the events. Every other column
/// is a key of `ADD`.
public enum CaseFile {
    public enum Format: String, Sendable, CaseIterable {
        case csv, json
    }

    /// Columns written by an export, in order: all of them for a reader, those without
    /// personal data for an observer.
    public static let columns = ["id", "status", "category", "names", "since", "ended", "birth", "birth_place", "sex",
                                 "service_number", "rank", "unit", "tags", "last_place", "detention_place", "refs", "notes",
                                 "proof_of_life", "proof_kind", "death_place", "death_cause", "remains"]
    public static let observerColumns = ["id", "status", "category", "since", "ended", "held", "version"]

    static let listColumns: [String: String] = ["names": "name", "name": "name", "tags": "tag", "tag": "tag",
                                                 "refs": "ref", "ref": "ref"]
    static let ignoredColumns: Set<String> = ["id", "version", "since_precision", "held", "held_days", "created_at",
                                              "updated_at", "proof_of_life", "proof_kind", "death_place", "death_cause",
                                              "remains"]
    /// Separates the values of a list column in CSV.
    public static let listSeparator: Character = "|"

    /// One row of a file, with the line it starts on (1-based; the header is line 1 in CSV).
    public struct Row: Sendable {
        public var line: Int
        public var values: [(key: String, value: [String])]
    }

    /// An error in a file, with where it is.
    public struct Problem: Error, Hashable, Sendable, CustomStringConvertible {
        public var line: Int
        public var field: String?
        public var message: String

        public init(line: Int, field: String?, message: String) {
            self.line = line
            self.field = field
            self.message = message
        }

        public var description: String { "line \(line)\(field.map { ", field \($0)" } ?? ""): \(message)" }
    }

    /// The first line of an export: the event chain's head when it began. An import skips it.
    public static func headLine(head: String, seq: Int64, format: Format) -> String {
        switch format {
        case .csv: return "\(headComment) chain head \(head) at event \(seq)"
        case .json: return "{\"\(headKey)\": {\"head\": \"\(head)\", \"head_seq\": \(seq)}}"
        }
    }

    static let headComment = "# casetrack export:"
    static let headKey = "casetrack_export"

    /// Reads every row of a file. Problems of form (bad CSV quoting, bad JSON, an unknown
    /// column) are collected, not thrown, so that one run names them all.
    public static func rows(_ text: String, format: Format) -> (rows: [Row], problems: [Problem]) {
        switch format {
        case .csv: return csvRows(text)
        case .json: return jsonRows(text)
        }
    }

    /// A row as the text of an `IMPORT` row (the options of an `ADD`).
    public static func rowText(_ row: Row) throws -> String {
        var options: [(key: String, value: String)] = []
        var at: String?
        for (key, values) in row.values {
            if ignoredColumns.contains(key) { continue }
            if key == "ended" || key == "at" {
                guard let value = values.first else { continue }
                if let at, at != value { throw Problem(line: row.line, field: key, message: "ended and at disagree") }
                at = value
                continue
            }
            let optionKey = listColumns[key] ?? key
            for value in values { options.append((optionKey, value)) }
        }
        if let at { options.append(("at", at)) }
        return String(Request(verb: "ADD", options: options).line.dropFirst(4))
    }

    /// A row as the text of a `MATCH` row: what describes the person, and `id` (our case id,
    /// written into a list by an operator who settled the line). Columns that say nothing of
    /// who the person is (status, notes, the event's date and source…) are left out.
    public static func matchRowText(_ row: Row) -> String {
        var options: [(key: String, value: String)] = []
        for (key, values) in row.values where matchColumns.contains(key) {
            let optionKey = listColumns[key] ?? key
            for value in values { options.append((optionKey, value)) }
        }
        return String(Request(verb: "ADD", options: options).line.dropFirst(4))
    }

    static let matchColumns: Set<String> = ["id", "names", "name", "refs", "ref", "birth", "sex", "service_number", "unit",
                                            "since", "rank", "birth_place"]

    // MARK: CSV

    /// RFC 4180: fields separated by commas, quoted with `"` when they hold a comma, a quote
    /// or a line break, a quote inside doubled; lines end in LF or CR LF.
    public static func csvRecords(_ text: String) throws -> [(line: Int, fields: [String])] {
        var records: [(line: Int, fields: [String])] = []
        var fields: [String] = []
        var field = ""
        var line = 1
        var recordLine = 1
        var quoted = false
        var wasQuoted = false
        var iterator = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        func next() -> Unicode.Scalar? {
            if let scalar = pending { pending = nil; return scalar }
            return iterator.next()
        }
        func endRecord() {
            fields.append(field)
            if !(fields.count == 1 && fields[0].isEmpty && !wasQuoted) { records.append((recordLine, fields)) }
            fields = []
            field = ""
            wasQuoted = false
        }
        while let scalar = next() {
            if quoted {
                if scalar == "\"" {
                    if let following = next() {
                        if following == "\"" { field.unicodeScalars.append("\"") } else { quoted = false; pending = following }
                    } else {
                        quoted = false
                    }
                } else {
                    if scalar == "\n" { line += 1 }
                    field.unicodeScalars.append(scalar)
                }
                continue
            }
            switch scalar {
            case ",":
                fields.append(field)
                field = ""
                wasQuoted = false
            case "\"":
                guard field.isEmpty else {
                    throw Problem(line: line, field: nil, message: "a quote inside an unquoted field; quote the whole field and double the quote")
                }
                quoted = true
                wasQuoted = true
            case "\r":
                if let following = next(), following != "\n" { pending = following }
                endRecord()
                line += 1
                recordLine = line
            case "\n":
                endRecord()
                line += 1
                recordLine = line
            default:
                if wasQuoted {
                    throw Problem(line: line, field: nil, message: "text after a closing quote; a quoted field ends at a comma or the line's end")
                }
                field.unicodeScalars.append(scalar)
            }
        }
        if quoted { throw Problem(line: recordLine, field: nil, message: "a quoted field is not closed before the end of the file") }
        if !field.isEmpty || !fields.isEmpty || wasQuoted { endRecord() }
        return records
    }

    public static func csvLine(_ fields: [String]) -> String {
        fields.map { field in
            guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) || field.hasPrefix(" ") || field.hasSuffix(" ")
            else { return field }
            return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }.joined(separator: ",")
    }

    static func csvRows(_ text: String) -> (rows: [Row], problems: [Problem]) {
        var records: [(line: Int, fields: [String])]
        do {
            records = try csvRecords(text)
        } catch let problem as Problem {
            return ([], [problem])
        } catch {
            return ([], [Problem(line: 1, field: nil, message: "\(error)")])
        }
        // An export's first line names the chain head (headLine); a comment to an import.
        if records.first?.fields.first?.hasPrefix(headComment) == true { records.removeFirst() }
        guard let header = records.first else { return ([], [Problem(line: 1, field: nil, message: "the file is empty; a CSV file starts with a header line")]) }
        var problems: [Problem] = []
        let columns = header.fields.map { $0.trimmingWhitespace().lowercased() }
        for (index, column) in columns.enumerated() where !isKnown(column) {
            problems.append(Problem(line: header.line, field: column.isEmpty ? "column \(index + 1)" : column,
                                    message: "unknown column; use \(knownColumns)"))
        }
        if columns.count != Set(columns).count {
            problems.append(Problem(line: header.line, field: nil, message: "a column is named twice"))
        }
        guard problems.isEmpty else { return ([], problems) }
        var rows: [Row] = []
        for record in records.dropFirst() {
            guard record.fields.count == columns.count else {
                problems.append(Problem(line: record.line, field: nil,
                                        message: "\(record.fields.count) fields where the header has \(columns.count)"))
                continue
            }
            var values: [(key: String, value: [String])] = []
            for (column, field) in zip(columns, record.fields) where !field.isEmpty {
                let parts = listColumns[column] != nil
                    ? field.split(separator: listSeparator).map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
                    : [field]
                values.append((column, parts))
            }
            rows.append(Row(line: record.line, values: values))
        }
        return (rows, problems)
    }

    // MARK: JSON lines

    static func jsonRows(_ text: String) -> (rows: [Row], problems: [Problem]) {
        var rows: [Row] = []
        var problems: [Problem] = []
        // "\r\n" is one Character in Swift: both line ends are named.
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            let number = index + 1
            guard !line.allSatisfy(\.isWhitespace) else { continue }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                problems.append(Problem(line: number, field: nil, message: "not a JSON object on one line"))
                continue
            }
            if rows.isEmpty, problems.isEmpty, object.count == 1, object[headKey] != nil { continue }
            var values: [(key: String, value: [String])] = []
            var ok = true
            for key in object.keys.sorted(by: { (columns.firstIndex(of: $0) ?? 99, $0) < (columns.firstIndex(of: $1) ?? 99, $1) }) {
                guard isKnown(key) else {
                    problems.append(Problem(line: number, field: key, message: "unknown field; use \(knownColumns)"))
                    ok = false
                    continue
                }
                switch object[key] {
                case let text as String where !text.isEmpty: values.append((key, [text]))
                case let list as [Any]:
                    let texts = list.compactMap { $0 as? String }
                    guard texts.count == list.count else {
                        problems.append(Problem(line: number, field: key, message: "a list of strings is expected"))
                        ok = false
                        continue
                    }
                    if !texts.isEmpty { values.append((key, texts)) }
                case is NSNull, is String: continue
                case let number as NSNumber where ignoredColumns.contains(key): values.append((key, [number.stringValue]))
                default:
                    problems.append(Problem(line: number, field: key, message: "a string is expected"))
                    ok = false
                }
            }
            if ok { rows.append(Row(line: number, values: values)) }
        }
        return (rows, problems)
    }

    /// Whether a column holds a list (`names`, `tags`, `refs`).
    public static func isList(_ column: String) -> Bool { listColumns[column] != nil }

    /// The column an `ADD` key comes from (`name` from `names`), for error messages.
    public static func column(for key: String) -> String {
        switch key {
        case "name": return "names"
        case "tag": return "tags"
        case "ref": return "refs"
        default: return key
        }
    }

    static func isKnown(_ column: String) -> Bool {
        ignoredColumns.contains(column) || listColumns[column] != nil || column == "ended" || Verb.add.keys.contains(column)
    }

    static var knownColumns: String {
        (columns + ["at", "source", "confidence", "note"]).joined(separator: ", ")
    }
}
