/// One line of a list to match against the register: an exchange list, a partner's list of
/// people held. It says what the list says of the person (names, birth, sex, service number,
/// unit, since, references) and, when an operator has settled the line by hand, our own case
/// id. Exchange lists never carry our ids; the rest of this file finds them.
public struct MatchRow: Hashable, Sendable {
    /// Our case id, written into the list by an operator: it decides the line.
    public var caseID: CaseID?
    /// The person as the list describes them (the id is a placeholder: a line is no case).
    public var identity: Identity
    /// The row's place in its request (1-based), for answers; 0 when not set.
    public var number = 0

    /// The most rows one `MATCH` request carries.
    public static let maximumRowsPerRequest = 1_000
    /// Candidates shown for a probable line unless the request says otherwise.
    public static let defaultCandidates = 3

    /// Reads one row: the options of an `ADD` (any subset; keys that do not describe the
    /// person, such as `category` or `notes`, are checked and ignored) plus `id=`.
    public init(_ text: String, today: Day) throws {
        var request = try Request(row: text)
        let ids = request.options.filter { $0.key == "id" }.map(\.value)
        request.options.removeAll { $0.key == "id" }
        guard ids.count <= 1 else { throw CasetrackError.badArgument("id: given twice; a line is one person") }
        caseID = try ids.first.flatMap { text in
            text.trimmingWhitespace().isEmpty ? nil : try CaseID.parse(text.trimmingWhitespace(), field: "id")
        }
        let arguments = try Arguments(request, verb: .add, today: today)
        let names = try arguments.names("name")
        let references = try arguments.references("ref")
        let serviceNumber = try arguments.serviceNumber() ?? nil
        identity = Identity(
            id: CaseID(number: 0), names: names, birth: try arguments.date("birth") ?? nil, sex: try arguments.sex() ?? nil,
            serviceNumber: serviceNumber, unit: try arguments.text("unit") ?? nil, since: try arguments.date("since") ?? nil,
            references: references)
        // The rest of the row is checked as an ADD would check it, and otherwise ignored.
        _ = try arguments.details()
        guard caseID != nil || !names.isEmpty || !references.isEmpty || serviceNumber != nil else {
            throw CasetrackError.badArgument(
                "nothing to match on: a line needs a name, a reference (ref), a service number or our case id (id)")
        }
    }

    /// The keys a row may hold.
    public static var keys: [String] { ["id"] + Verb.add.keys }
}

/// How a line of a list matched.
public enum MatchKind: String, Hashable, Sendable, CaseIterable {
    /// Our id, a reference or a service number names exactly one case.
    case exact
    /// Cases that are probably this person, best first; a person decides.
    case probable
    /// No case is likely to be this person.
    case none
}

/// A case a line may be.
public struct MatchCandidate: Hashable, Sendable {
    public var id: CaseID
    /// As ``DuplicateCandidate/score``: 1 for a decisive number or our id.
    public var score: Double
    /// Reason codes (``DuplicateReason/code``), and `id` when the line carried our id.
    public var reasons: [String]
    /// Where the case stands: an exchange list naming a case already returned is worth a look.
    public var status: Status

    public init(id: CaseID, score: Double, reasons: [String], status: Status) {
        self.id = id
        self.score = score
        self.reasons = reasons
        self.status = status
    }
}

/// What matching found for one line.
public struct MatchOutcome: Hashable, Sendable {
    /// The row's number in its request (1-based).
    public var row: Int
    public var kind: MatchKind
    /// One for `exact`; best first for `probable`; none for `none`.
    public var candidates: [MatchCandidate]
    /// Why a line with our id did not match (an id not on record), or where a merged id went.
    public var note: String?

    public init(row: Int, kind: MatchKind, candidates: [MatchCandidate] = [], note: String? = nil) {
        self.row = row
        self.kind = kind
        self.candidates = candidates
        self.note = note
    }

    /// Decides a line without our id from the scored cases that share a blocking key with it.
    ///
    /// A reference or service number shared with exactly one case decides (`exact`); shared
    /// with several, it decides nothing and every one of them is shown (`probable`, score 1),
    /// for the list or the register holds a mistake a person must look at. Otherwise the cases
    /// at or above `minimumScore` are `probable`, the best `limit` of them shown.
    public static func decide(row: Int, scored: [MatchCandidate], minimumScore: Double, limit: Int) -> MatchOutcome {
        let decisive = scored.filter { $0.reasons.contains(where: DuplicateScoring.decisiveCodes.contains) }
        if decisive.count == 1 { return MatchOutcome(row: row, kind: .exact, candidates: decisive) }
        if decisive.count > 1 { return MatchOutcome(row: row, kind: .probable, candidates: decisive.sorted(by: bestFirst)) }
        let likely = scored.filter { $0.score >= minimumScore }.sorted(by: bestFirst)
        guard !likely.isEmpty else { return MatchOutcome(row: row, kind: .none) }
        return MatchOutcome(row: row, kind: .probable, candidates: Array(likely.prefix(limit)))
    }

    static func bestFirst(_ x: MatchCandidate, _ y: MatchCandidate) -> Bool {
        (x.score, y.id) > (y.score, x.id)
    }

    /// The one case this line may be listed as, for an operator who accepts probable matches:
    /// the exact case, or a probable line's only candidate at or above `threshold`. `nil`
    /// when there is none or more than one (the operator writes our id into the line).
    public func accepted(threshold: Double) -> CaseID? {
        switch kind {
        case .exact: return candidates.first?.id
        case .none: return nil
        case .probable:
            let above = candidates.filter { $0.score >= threshold }
            return above.count == 1 ? above[0].id : nil
        }
    }
}
