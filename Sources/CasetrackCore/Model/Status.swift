/// Where a person is, as far as the office knows.
public enum Status: String, Sendable, CaseIterable, Comparable {
    /// Whereabouts unknown.
    case missing
    /// Known to be held (prisoner of war, detained civilian).
    case captive
    /// Came home.
    case returned
    /// Known to have died.
    case deceased

    /// An open case still needs the office's work: the person has not come home.
    public var isOpen: Bool { self == .missing || self == .captive }

    public static func < (lhs: Status, rhs: Status) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    static func parse(_ text: String, field: String) throws -> Status {
        guard let status = Status(rawValue: text.lowercased()) else {
            throw CasetrackError.badArgument(
                "\(field): '\(text)' is not a status; use one of \(Status.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return status
    }
}

/// The lifecycle of a case: the one table from which the code, the error messages and the
/// documentation (docs/PROTOCOL.md, "Lifecycle") are written.
public enum Lifecycle {
    /// Status changes that an ordinary write may make. Anything else needs a correction.
    ///
    /// A person who came home or died stays so: if that entry was wrong (a name on an exchange
    /// list who was not in fact on the bus), a *correction* replaces it and history keeps both.
    public static let transitions: KeyValuePairs<Status, [Status]> = [
        .missing: [.captive, .returned, .deceased],
        .captive: [.missing, .returned, .deceased],
        .returned: [],
        .deceased: [],
    ]

    /// The statuses a new case may start in: offices also register people who already came
    /// home or are known dead, to keep the whole record.
    public static let initialStatuses: [Status] = Status.allCases

    /// The statuses `status` may move to without a correction.
    public static func allowed(from status: Status) -> [Status] {
        transitions.first(where: { $0.key == status })?.value ?? []
    }

    /// Checks an ordinary (non-correcting) change of `id` from `old` to `new`.
    public static func check(_ id: CaseID, from old: Status, to new: Status) throws {
        if old == new {
            throw CasetrackError(.illegalTransition, "\(id) is already \(new.rawValue); nothing to change")
        }
        let allowed = allowed(from: old)
        guard allowed.contains(new) else {
            let options = allowed.isEmpty
                ? "none: \(old.rawValue) is final"
                : allowed.map(\.rawValue).joined(separator: ", ")
            throw CasetrackError(.illegalTransition,
                "\(id) cannot go from \(old.rawValue) to \(new.rawValue); allowed from \(old.rawValue): \(options). If the current entry is wrong, send a correction")
        }
    }
}

/// Military or civilian: exchanges and statistics count them apart.
public enum Category: String, Sendable, CaseIterable, Comparable {
    case military, civilian

    public static func < (lhs: Category, rhs: Category) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The order reports give categories in: military first, as the public figures do
    /// ("270 military and 120 civilians").
    public static let reportOrder: [Category] = [.military, .civilian]

    static func parse(_ text: String, field: String) throws -> Category {
        guard let value = Category(rawValue: text.lowercased()) else {
            throw CasetrackError.badArgument("\(field): '\(text)' is not a category; use military or civilian")
        }
        return value
    }
}

/// How sure the source of an event is.
public enum Confidence: String, Sendable, CaseIterable {
    case preliminary, confirmed

    static func parse(_ text: String, field: String) throws -> Confidence {
        guard let value = Confidence(rawValue: text.lowercased()) else {
            throw CasetrackError.badArgument("\(field): '\(text)' is not a confidence; use preliminary or confirmed")
        }
        return value
    }
}

/// What an event in a case's history did.
public enum EventKind: String, Sendable, CaseIterable {
    /// The case was opened.
    case created
    /// The status changed along the lifecycle.
    case status
    /// A wrong status entry was replaced; the wrong one stays in history.
    case correction
    /// Other fields of the record changed.
    case update
    /// An open case crossed a configured held duration (a time alert; the case is unchanged).
    case held
    /// An open case had no update for a configured number of days (a time alert).
    case stale
    /// An operator's test notice, to check hooks end to end; it belongs to no case.
    case test
    /// A phase of an exchange was completed (with how many came home); it belongs to no
    /// case: each listed case has its own `status` event.
    case exchange
    /// Two cases were found to be one person: the source was merged into the target. Each
    /// of the two has this event; `changes` says what the target gained.
    case merged
    /// A merge was undone: both cases are back as they were before it.
    case unmerged
    /// A case just opened is probably a duplicate of others (`changes` names them, with
    /// their scores); it was added all the same, for a person to decide.
    case possibleDuplicate = "possible-duplicate"
    /// Captivity events (``CaptivityEventType``): what happened to the person, each with its
    /// own details; they change the record's derived facts (place, proof of life, remains).
    case transfer, hospital, sighting, communication, death, remains, retraction
    /// An open case's last proof of life (or, without one, its start) is older than a
    /// configured age (a time alert; the case is unchanged).
    case proofStale = "proof-stale"

    /// Whether an event of this kind changes its case's record (the others only tell of it).
    public var changesRecord: Bool {
        switch self {
        case .created, .status, .correction, .update, .merged, .unmerged: true
        case .transfer, .hospital, .sighting, .communication, .death, .remains, .retraction: true
        case .held, .stale, .proofStale, .test, .exchange, .possibleDuplicate: false
        }
    }

    static func parse(_ text: String, field: String) throws -> EventKind {
        guard let value = EventKind(rawValue: text.lowercased()) else {
            throw CasetrackError.badArgument("\(field): '\(text)' is not an event kind; use \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }
}
