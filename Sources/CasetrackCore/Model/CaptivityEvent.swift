// What happened to a person in captivity, beyond the status: the events an information bureau
// records (Third Geneva Convention, Art. 122-123) and the facts a family asks about.

/// The kinds of captivity event a case worker records with `EVENT ID TYPE`.
public enum CaptivityEventType: String, CaseIterable, Sendable, Hashable {
    /// Moved from one place of detention to another (`to=`, `from=`).
    case transfer
    /// A stay in a hospital (`place=`, from `at=` until `until=`).
    case hospital
    /// Seen or heard of alive (`proof=` letter, call, testimony, video, visit; `place=`): a
    /// proof of life.
    case sighting
    /// A letter or call from the person to the family (`proof=` letter or call): a proof of
    /// life too.
    case communication
    /// How the person died (`place=`, `cause=`; `at=` the day of death): only on a deceased case.
    case death
    /// What became of the remains (`remains=`, `place=`): only on a deceased case.
    case remains
    /// A wrong event withdrawn (`corrects=SEQ`): it stays in the history and no longer counts.
    case retraction

    public var eventKind: EventKind {
        switch self {
        case .transfer: .transfer
        case .hospital: .hospital
        case .sighting: .sighting
        case .communication: .communication
        case .death: .death
        case .remains: .remains
        case .retraction: .retraction
        }
    }

    public init?(_ kind: EventKind) {
        guard let type = CaptivityEventType.allCases.first(where: { $0.eventKind == kind }) else { return nil }
        self = type
    }

    /// Whether an event of this type is a proof that the person was alive on its day.
    public var provesLife: Bool { self == .sighting || self == .communication }

    public static func parse(_ text: String, field: String) throws -> CaptivityEventType {
        guard let type = CaptivityEventType(rawValue: text.lowercased()) else {
            throw CasetrackError.badArgument("\(field): '\(text)' is not an event type; use \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return type
    }
}

/// How a proof of life came.
public enum ProofKind: String, CaseIterable, Sendable, Hashable {
    case letter, call, testimony, video, visit

    /// The kinds a communication (from the person to the family) can have.
    public static let communication: [ProofKind] = [.letter, .call]

    public static func parse(_ text: String, field: String, among allowed: [ProofKind] = allCases) throws -> ProofKind {
        guard let kind = ProofKind(rawValue: text.lowercased()), allowed.contains(kind) else {
            throw CasetrackError.badArgument("\(field): '\(text)' is not a kind of proof here; use \(allowed.map(\.rawValue).joined(separator: ", "))")
        }
        return kind
    }
}

/// What became of a dead person's remains.
public enum RemainsState: String, CaseIterable, Sendable, Hashable {
    case repatriated, identified, buried, unknown

    public static func parse(_ text: String, field: String) throws -> RemainsState {
        guard let state = RemainsState(rawValue: text.lowercased()) else {
            throw CasetrackError.badArgument("\(field): '\(text)' is not a state of remains; use \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return state
    }
}

/// The last proof that a person was alive: its day (as precisely as known) and how it came.
public struct ProofOfLife: Hashable, Sendable {
    public var on: PartialDate
    public var kind: ProofKind

    public init(on: PartialDate, kind: ProofKind) {
        self.on = on
        self.kind = kind
    }
}

/// What a captivity event says beyond the provenance every event has (day, source,
/// confidence, note). Stored with the event and hashed with it.
public struct CaptivityDetails: Hashable, Sendable {
    public var place: String?
    public var from: String?
    public var to: String?
    /// A hospital stay's last day.
    public var until: PartialDate?
    public var proof: ProofKind?
    public var cause: String?
    public var remains: RemainsState?
    /// The seq of the wrong event of the same case this one replaces (or, for a retraction,
    /// withdraws).
    public var corrects: Int64?

    public init(place: String? = nil, from: String? = nil, to: String? = nil, until: PartialDate? = nil,
                proof: ProofKind? = nil, cause: String? = nil, remains: RemainsState? = nil, corrects: Int64? = nil) {
        self.place = place
        self.from = from
        self.to = to
        self.until = until
        self.proof = proof
        self.cause = cause
        self.remains = remains
        self.corrects = corrects
    }

    /// As answer fields (HISTORY, notices) and as stored: only what is set.
    public func append(to fields: inout Fields) {
        fields.append("place", place)
        fields.append("from", from)
        fields.append("to", to)
        fields.append("until", until?.description)
        fields.append("proof", proof?.rawValue)
        fields.append("cause", cause)
        fields.append("remains", remains?.rawValue)
        if let corrects { fields.append("corrects", corrects) }
    }

    /// The stored form: the fields as one line of the protocol.
    public var text: String {
        var fields = Fields()
        append(to: &fields)
        return fields.text
    }

    /// Reads the fields back; unknown values are an error (a damaged or foreign row).
    public init(fields: Fields) throws {
        func date(_ key: String) throws -> PartialDate? {
            try fields.string(key).map { text in
                guard let date = PartialDate(text) else { throw CasetrackError(.badResponse, "event with a bad \(key) '\(text)'") }
                return date
            }
        }
        self.init(
            place: fields.string("place"), from: fields.string("from"), to: fields.string("to"), until: try date("until"),
            proof: try fields.string("proof").map { try ProofKind.parse($0, field: "proof") },
            cause: fields.string("cause"),
            remains: try fields.string("remains").map { try RemainsState.parse($0, field: "remains") },
            corrects: fields.int("corrects"))
    }

    public init(text: String) throws {
        try self.init(fields: try Fields(text: text))
    }
}
