/// One row of an `IMPORT`: the options of an `ADD`, at least one `ref=`.
///
/// External references are what makes an import idempotent: a row whose references all
/// belong to one case already on record is that case, and is skipped.
public struct ImportRow: Hashable, Sendable {
    public var new: NewCase
    public var details: EventDetails
    /// The row's place in its request (1-based), for messages; 0 when not set.
    public var number = 0

    /// The most rows one `IMPORT` request carries (the line length bounds it too).
    public static let maximumRowsPerRequest = 1_000

    /// The keys a row may hold: those of `ADD`.
    public static var keys: [String] { Verb.add.keys }

    /// Reads one row as `ADD` would, on `today`.
    public init(_ text: String, today: Day) throws {
        let request = try Request(row: text)
        guard case .add(let new, let details) = try Command(request, today: today) else {
            throw CasetrackError(.internalError, "an import row did not read as ADD")
        }
        guard !new.references.isEmpty else {
            throw CasetrackError.badArgument("ref: every imported case needs at least one external reference (ref=…), which makes a second import of the same row change nothing")
        }
        self.new = new
        self.details = details
    }

    public init(new: NewCase, details: EventDetails) {
        self.new = new
        self.details = details
    }

    /// The row as the text `init(_:today:)` reads.
    public var text: String {
        var options: [(key: String, value: String)] = []
        for name in new.names { options.append(("name", name)) }
        options.append(("category", new.category.rawValue))
        options.append(("status", new.status.rawValue))
        if let since = new.since { options.append(("since", since.description)) }
        if let birth = new.birth { options.append(("birth", birth.description)) }
        if let unit = new.unit { options.append(("unit", unit)) }
        for tag in new.tags { options.append(("tag", tag)) }
        if let place = new.lastKnownPlace { options.append(("last_place", place)) }
        if let place = new.detentionPlace { options.append(("detention_place", place)) }
        for ref in new.references { options.append(("ref", ref)) }
        if let notes = new.notes { options.append(("notes", notes)) }
        if let sex = new.sex { options.append(("sex", sex.rawValue)) }
        if let number = new.serviceNumber { options.append(("service_number", number)) }
        if let rank = new.rank { options.append(("rank", rank)) }
        if let place = new.birthPlace { options.append(("birth_place", place)) }
        if let at = details.occurredOn { options.append(("at", at.description)) } else if details.occurredUnknown { options.append(("at", "unknown")) }
        if let source = details.source { options.append(("source", source)) }
        if let confidence = details.confidence { options.append(("confidence", confidence.rawValue)) }
        if let note = details.note { options.append(("note", note)) }
        return String(Request(verb: "ADD", options: options).line.dropFirst(4))
    }

    /// Every problem of a row, not only the first: when the row is refused, each field is
    /// checked alone (with harmless values for the others), so that a row with a bad category
    /// and a bad date gets both errors. Empty when the row is good.
    public static func problems(_ text: String, today: Day) -> [CasetrackError] {
        let whole: CasetrackError
        do {
            _ = try ImportRow(text, today: today)
            return []
        } catch let error as CasetrackError {
            whole = error
        } catch {
            return [CasetrackError.badArgument("\(error)")]
        }
        guard let request = try? Request(line: "ADD " + text), request.positional.isEmpty else { return [whole] }
        let probe: [(key: String, value: String)] = [("name", "Probe"), ("category", "civilian"), ("status", "captive"), ("ref", "PROBE")]
        var errors: [CasetrackError] = []
        var seen = Set<String>()
        for option in request.options {
            // Only the key's own values: a repeated key (two names) is checked as a whole.
            guard seen.insert(option.key).inserted else { continue }
            let own = request.options.filter { $0.key == option.key }
            let options = probe.filter { $0.key != option.key } + own
            let line = String(Request(verb: "ADD", options: options).line.dropFirst(4))
            do {
                _ = try ImportRow(line, today: today)
            } catch let error as CasetrackError {
                errors.append(error)
            } catch {}
        }
        return errors.isEmpty ? [whole] : errors
    }

    /// The field an error message is about, when it starts with one (`category: …`).
    public static func field(of error: CasetrackError) -> String? {
        guard let colon = error.message.firstIndex(of: ":") else { return nil }
        let key = String(error.message[..<colon])
        return keys.contains(key) ? key : nil
    }
}

/// What an import does with each row, decided against the references on record.
public enum ImportDecision: Hashable, Sendable {
    /// Opens a new case.
    case add
    /// The case is on record already (every reference of the row belongs to it): skipped.
    case existing(CaseID)
    /// The references point at more than one case, or part of them at a case and part at
    /// none: the row cannot be matched, and the import refuses it.
    case conflict(String)
}

/// Decides rows in order, as if each added row were already stored: a row that repeats the
/// references of an earlier row of its batch is a conflict (a person is listed twice).
public struct ImportPlanner {
    /// A reference's owner on record, or nil.
    let owner: (String) throws -> CaseID?
    /// References of rows planned to be added: row index (0-based) by reference.
    private var planned: [String: Int] = [:]

    public init(owner: @escaping (String) throws -> CaseID?) { self.owner = owner }

    public mutating func decide(_ row: ImportRow, index: Int) throws -> ImportDecision {
        var owners = Set<CaseID>()
        var rows = Set<Int>()
        var unowned: [String] = []
        for ref in row.new.references {
            // Rows of this batch first: in a real import they are already inserted, and must
            // still count as this batch's rows, as in a dry run.
            if let earlier = planned[ref] {
                rows.insert(earlier)
            } else if let id = try owner(ref) {
                owners.insert(id)
            } else {
                unowned.append(ref)
            }
        }
        if owners.isEmpty, rows.isEmpty {
            for ref in row.new.references { planned[ref] = index }
            return .add
        }
        if owners.count == 1, rows.isEmpty, unowned.isEmpty, let id = owners.first { return .existing(id) }
        if owners.isEmpty, rows.count == 1, unowned.isEmpty, let earlier = rows.first {
            return .conflict("ref: the same references as row \(earlier + 1) of this batch; a person is imported once")
        }
        var parts: [String] = []
        for id in owners.sorted() { parts.append("\(id)") }
        for earlier in rows.sorted() { parts.append("row \(earlier + 1)") }
        if !unowned.isEmpty { parts.append("no case (\(unowned.joined(separator: ", ")))") }
        return .conflict("ref: the references of this row belong to \(parts.joined(separator: " and ")); one row must match one case by all its references or none")
    }
}

extension Request {
    /// One row of a list request (`IMPORT`, `MATCH`): the options of an `ADD`, as an `ADD`
    /// request; key=value fields only.
    init(row text: String) throws {
        do {
            self = try Request(line: "ADD " + text)
        } catch let error as CasetrackError {
            throw CasetrackError(.badArgument, error.message)
        }
        guard positional.isEmpty else {
            throw CasetrackError.badArgument("a row holds key=value fields only; '\(positional[0].prefix(40))' has no key")
        }
    }
}
