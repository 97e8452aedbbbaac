#if canImport(Glibc)
import Glibc
#endif
import CasetrackClient
import CasetrackCore
import CasetrackPOSIX
import Synchronization

/// Everything casectl prints.
enum Output {
    static var today: Day {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Day(unixMilliseconds: Int64(spec.tv_sec) * 1000)
    }

    /// A line on standard output. One that cannot be written (a full disk behind `>`, a
    /// closed pipe) is remembered, and the command then exits 1 (see ``stdoutFailure``):
    /// `casectl get ID --json > case.json` must not leave an empty file and say all is well.
    static func line(_ text: String) {
        if !FileDescriptorOutput.write(1, text + "\n") { stdoutErrno.compareExchange(expected: 0, desired: max(1, errno), ordering: .relaxed) }
    }

    private static let stdoutErrno = Atomic<Int32>(0)

    /// Why standard output could not be written, if it could not.
    static var stdoutFailure: String? {
        let code = stdoutErrno.load(ordering: .relaxed)
        return code == 0 ? nil : String(cString: strerror(code))
    }

    /// A line on standard output; false when it could not all be written.
    static func writtenLine(_ text: String) -> Bool { FileDescriptorOutput.write(1, text + "\n") }

    static func error(_ text: String) { write(2, "casectl: " + text + "\n") }

    private static func write(_ fd: Int32, _ text: String) { FileDescriptorOutput.write(fd, text) }

    /// The answer to a write: the changed record (JSON) or one line saying what happened.
    static func change(_ answer: Answer, json: Bool, verb: String) throws {
        let final = try answer.get()
        guard let fields = answer.data.first else { throw ClientError(.protocolError, "the write was answered without the record") }
        let record = try CaseRecord(fields: fields)
        if json {
            line(record.fields(today: today).json)
        } else {
            line("\(record.id) \(verb): \(record.status.rawValue), version \(record.version) (event \(final.string("seq") ?? "?"))")
        }
        let duplicates = final.strings("duplicate_of")
        if !duplicates.isEmpty {
            // On standard error: scripts read the line above; a person should see this one.
            error("\(record.id) is probably the same person as \(duplicates.joined(separator: ", ")); see casectl duplicates --id \(record.id)")
        }
    }

    static func describe(_ record: CaseRecord) {
        var rows: [(String, String)] = []
        rows.append(("id", record.id.description))
        rows.append(("status", record.status.rawValue + (record.endedOn.map { " since \($0)" } ?? "")))
        rows.append(("version", String(record.version)))
        for (index, name) in record.names.enumerated() { rows.append((index == 0 ? "names" : "", name)) }
        rows.append(("category", record.category.rawValue))
        rows.append(("unit", record.unit ?? "-"))
        rows.append(("tags", record.tags.isEmpty ? "-" : record.tags.joined(separator: ", ")))
        rows.append(("birth", record.birth?.description ?? "unknown"))
        if let place = record.birthPlace { rows.append(("birth place", place)) }
        if let sex = record.sex { rows.append(("sex", sex.rawValue)) }
        if let number = record.serviceNumber { rows.append(("service number", number)) }
        if let rank = record.rank { rows.append(("rank", rank)) }
        rows.append(("missing/detained", record.since.map { "\($0) (\($0.precision.rawValue))" } ?? "unknown"))
        rows.append(("held for", record.heldFor(today: today).map { readable($0) + (record.status.isOpen ? ", still" : "") } ?? "unknown"))
        rows.append(("last known place", record.lastKnownPlace ?? "-"))
        rows.append(("detention place", record.detentionPlace ?? "-"))
        rows.append(("proof of life", record.proofOfLife.map { proof in
            let age = HeldDuration.between(min(proof.on.lastDay, today), today)
            return "\(proof.on) (\(proof.kind.rawValue)), \(readable(age)) ago"
        } ?? "none"))
        if record.status == .deceased || record.deathPlace != nil || record.remains != nil {
            if let place = record.deathPlace { rows.append(("place of death", place)) }
            if let cause = record.deathCause { rows.append(("cause of death", cause)) }
            rows.append(("remains", record.remains?.rawValue ?? "not recorded"))
        }
        rows.append(("references", record.references.isEmpty ? "-" : record.references.joined(separator: ", ")))
        rows.append(("notes", record.notes ?? "-"))
        rows.append(("created", record.createdAt.description))
        rows.append(("updated", record.updatedAt.description))
        let width = rows.map(\.0.count).max() ?? 0
        for (key, value) in rows {
            let label = key.isEmpty ? String(repeating: " ", count: width + 1) : pad(key + ":", width + 1)
            let lines = value.split(separator: "\n", omittingEmptySubsequences: false)
            for (index, part) in lines.enumerated() {
                line((index == 0 ? label : String(repeating: " ", count: width + 1)) + "  " + part)
            }
        }
    }

    /// A case table printed page by page as pages arrive, so a long list needs no memory: the
    /// column widths come from the first page.
    struct CaseTable {
        static let header = ["ID", "STATUS", "CATEGORY", "SINCE", "HELD", "UNIT", "NAME"]
        private var widths: [Int]?
        private var count = 0

        mutating func print(_ records: [CaseRecord]) {
            let rows = records.map { record in
                [record.id.description, record.status.rawValue, record.category.rawValue,
                 record.since?.description ?? "unknown", record.heldFor(today: today).map(readable) ?? "-",
                 record.unit ?? "-", record.names.first ?? ""]
            }
            let widths = self.widths ?? Output.widths(Self.header, rows)
            if self.widths == nil { Output.rows([Self.header], widths: widths) }
            self.widths = widths
            Output.rows(rows, widths: widths)
            count += records.count
        }

        mutating func finish() {
            if widths == nil { Output.rows([Self.header], widths: Self.header.map(\.count)) }
            if count > 0 { line("(\(count) case\(count == 1 ? "" : "s"))") }
        }
    }

    static func history(_ events: [HistoryEvent]) {
        let header = ["SEQ", "OCCURRED", "RECORDED", "KIND", "CHANGE", "SOURCE", "CONFIDENCE", "BY", "NOTE"]
        let rows = events.map { event -> [String] in
            var change: String
            switch event.kind {
            case .created: change = "opened as \(event.newStatus?.rawValue ?? "?")"
            case .status, .correction:
                // A status moved by a list (import --update) lists the row's other changes too.
                change = ([(event.oldStatus?.rawValue ?? "?") + " -> " + (event.newStatus?.rawValue ?? "?")] + event.changes)
                    .joined(separator: "; ")
            case .update, .merged, .unmerged: change = event.changes.joined(separator: "; ")
            case .possibleDuplicate: change = "possible duplicate of " + event.changes.joined(separator: "; ")
            case .held: change = "held \(event.threshold ?? "?") (alert)"
            case .stale: change = "no update for \(event.threshold ?? "?") (alert)"
            case .proofStale: change = "no proof of life for \(event.threshold ?? "?") (alert)"
            case .test: change = "test notice"
            case .exchange: change = "exchange phase completed"
            case .transfer, .hospital, .sighting, .communication, .death, .remains, .retraction:
                change = ([captivity(event)] + event.changes).joined(separator: "; ")
            }
            if let mark = event.exchange {
                change += " (exchange \(LineCodec.quote(mark.name)), phase \(mark.phase))"
            }
            return [String(event.seq), event.occurredOn?.description ?? "unknown", event.recordedAt.description,
                    event.kind.rawValue, change, event.source ?? "-", event.confidence?.rawValue ?? "-",
                    (event.office.map { "\($0): " } ?? "") + "uid \(event.actor.uid) pid \(event.actor.pid)", event.note ?? ""]
        }
        grid(header, rows)
    }

    /// A captivity event in a few words: `transfer "A" -> "B"`, `sighting: letter at "P"`.
    static func captivity(_ event: HistoryEvent) -> String {
        let details = event.details ?? CaptivityDetails()
        func place(_ text: String?) -> String { text.map { LineCodec.quote($0) } ?? "(unknown)" }
        var words: String
        switch event.kind {
        case .transfer: words = "transfer \(place(details.from)) -> \(place(details.to))"
        case .hospital: words = "hospital \(place(details.place))" + (details.until.map { " until \($0)" } ?? "")
        case .sighting, .communication:
            words = "\(event.kind.rawValue): \(details.proof?.rawValue ?? "?")" + (details.place.map { " at \(LineCodec.quote($0))" } ?? "")
        case .death:
            words = "death" + (details.place.map { " at \(LineCodec.quote($0))" } ?? "") + (details.cause.map { ": \($0)" } ?? "")
        case .remains: words = "remains \(details.remains?.rawValue ?? "?")" + (details.place.map { " at \(LineCodec.quote($0))" } ?? "")
        case .retraction: return "withdraws event \(details.corrects.map(String.init) ?? "?")"
        default: words = event.kind.rawValue
        }
        if let corrects = details.corrects { words += " (corrects event \(corrects))" }
        return words
    }

    static func statistics(_ statistics: CaseStatistics) {
        let header = ["STATUS"] + Category.allCases.map { $0.rawValue.uppercased() } + ["TOTAL"]
        var rows = Status.allCases.map { status -> [String] in
            let counts = Category.allCases.map { statistics.count(status, $0) }
            return [status.rawValue] + counts.map(String.init) + [String(counts.reduce(0, +))]
        }
        let totals = Category.allCases.map { category in Status.allCases.map { statistics.count($0, category) }.reduce(0, +) }
        rows.append(["total"] + totals.map(String.init) + [String(statistics.total)])
        grid(header, rows, rightAligned: Set(1..<header.count))
    }

    static func readable(_ duration: HeldDuration) -> String {
        var parts: [String] = []
        if duration.years > 0 { parts.append("\(duration.years)y") }
        if duration.months > 0 { parts.append("\(duration.months)m") }
        if duration.days > 0 || parts.isEmpty { parts.append("\(duration.days)d") }
        return parts.joined(separator: " ")
    }

    static func grid(_ header: [String], _ rows: [[String]], rightAligned: Set<Int> = []) {
        Output.rows([header] + rows, widths: widths(header, rows), rightAligned: rightAligned)
    }

    static func clean(_ cell: String) -> String {
        cell.split(whereSeparator: \.isNewline).joined(separator: " ⏎ ")
    }

    static func widths(_ header: [String], _ rows: [[String]]) -> [Int] {
        var widths = header.map(\.count)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], clean(cell).count) } }
        return widths
    }

    static func rows(_ rows: [[String]], widths: [Int], rightAligned: Set<Int> = []) {
        for row in rows.map({ $0.map(clean) }) {
            var text = ""
            for (index, cell) in row.enumerated() {
                let last = index == row.count - 1
                let padded = rightAligned.contains(index)
                    ? String(repeating: " ", count: max(0, widths[index] - cell.count)) + cell
                    : (last ? cell : pad(cell, widths[index]))
                text += padded + (last ? "" : "  ")
            }
            line(text)
        }
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text + String(repeating: " ", count: max(0, width - text.count))
    }
}

enum Environment {
    static var variables: [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}

extension Fields {
    /// Answers arrive in text mode, where every value is text: for JSON output, counts and
    /// other numbers become JSON numbers again (as the daemon's own JSON mode writes them).
    var typed: Fields {
        var typed = Fields()
        for (key, value) in items {
            if Fields.numericKeys.contains(key), case .string(let text) = value, let number = Int64(text) {
                typed.append(key, number)
            } else {
                typed.append(key, value)
            }
        }
        return typed
    }

    /// `keys` as JSON arrays whether they came once or several times: a script's
    /// `.reasons[]` must not break on a pair with one reason.
    func listed(_ keys: Set<String>) -> Fields {
        var result = Fields()
        var done = Set<String>()
        for (key, value) in items {
            guard keys.contains(key) else {
                result.append(key, value)
                continue
            }
            guard done.insert(key).inserted else { continue }
            result.append(key, list: strings(key))
        }
        return result
    }

    static let numericKeys: Set<String> = [
        "count", "total", "listed", "returned", "military", "civilian", "missing", "captive", "deceased", "phase", "phases",
        "completed_phases", "not_returned", "seq", "version", "bytes", "cases", "events", "last", "added", "removed",
        "existing", "rows", "errors", "first_seq", "last_seq", "without_unit", "without_tags", "held_days",
    ]
}
