// The people a case's news is for: relatives and others to inform (contacts), and the log of
// who asked about the person and what they were told (enquiries). Contacts are personal data
// of people who are not the case: readers and above only, never in an observer's notice,
// never in the journal, and outside the event log (a removed contact is not kept in a
// history no one can rewrite).

/// A numbered id with a letter of its own: `K-000001` for a contact, `E-000001` for an enquiry.
public protocol NumberedID: Hashable, Comparable, Sendable, CustomStringConvertible {
    static var letter: String { get }
    static var noun: String { get }
    var number: Int64 { get }
    init(number: Int64)
}

extension NumberedID {
    /// Parses `K-000012` or `k-12`.
    public init?(_ text: some StringProtocol) {
        let upper = text.uppercased()
        guard upper.hasPrefix(Self.letter + "-") else { return nil }
        let digits = upper.dropFirst(2)
        guard !digits.isEmpty, digits.count <= 15, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let number = Int64(digits), number > 0 else { return nil }
        self.init(number: number)
    }

    public var description: String {
        let digits = String(number)
        return Self.letter + "-" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.number < rhs.number }

    static func parse(_ text: String, field: String) throws -> Self {
        guard let id = Self(text) else {
            throw CasetrackError.badArgument("\(field): '\(text.prefix(40))' is not \(noun == "enquiry" ? "an" : "a") \(noun) id (\(letter)- and a number, e.g. \(letter)-000001)")
        }
        return id
    }
}

public struct ContactID: NumberedID {
    public static let letter = "K"
    public static let noun = "contact"
    public let number: Int64
    public init(number: Int64) { self.number = number }
}

public struct EnquiryID: NumberedID {
    public static let letter = "E"
    public static let noun = "enquiry"
    public let number: Int64
    public init(number: Int64) { self.number = number }
}

/// Someone to inform about a case.
public struct Contact: Hashable, Sendable {
    public var id: ContactID
    public var caseID: CaseID
    public var name: String
    /// To the person: mother, brother, lawyer, unit commander…
    public var relation: String
    public var phone: String?
    public var email: String?
    /// The language to write in (`uk`, `en`, `Ukrainian`…), as the office writes it.
    public var language: String?
    /// Whether they agreed to be contacted; `nil`: not asked.
    public var consent: Bool?
    public var note: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(id: ContactID, caseID: CaseID, name: String, relation: String, phone: String? = nil, email: String? = nil,
                language: String? = nil, consent: Bool? = nil, note: String? = nil, createdAt: Timestamp, updatedAt: Timestamp) {
        self.id = id
        self.caseID = caseID
        self.name = name
        self.relation = relation
        self.phone = phone
        self.email = email
        self.language = language
        self.consent = consent
        self.note = note
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    public var fields: Fields {
        var fields = Fields()
        fields.append("contact", id.description)
        fields.append("id", caseID.description)
        fields.append("name", name)
        fields.append("relation", relation)
        fields.append("phone", phone)
        fields.append("email", email)
        fields.append("language", language)
        fields.append("consent", consent.map { $0 ? "yes" : "no" })
        fields.append("note", note)
        fields.append("created_at", createdAt.description)
        fields.append("updated_at", updatedAt.description)
        return fields
    }

    public init(fields: Fields) throws {
        guard let id = fields.string("contact").flatMap({ ContactID($0) }), let caseID = fields.string("id").flatMap({ CaseID($0) }),
              let name = fields.string("name"), let relation = fields.string("relation"),
              let created = fields.string("created_at").flatMap({ Timestamp($0) }),
              let updated = fields.string("updated_at").flatMap({ Timestamp($0) })
        else { throw CasetrackError(.badResponse, "contact line without contact, id, name, relation or times") }
        self.init(id: id, caseID: caseID, name: name, relation: relation, phone: fields.string("phone"),
                  email: fields.string("email"), language: fields.string("language"),
                  consent: fields.string("consent").map { $0 == "yes" }, note: fields.string("note"),
                  createdAt: created, updatedAt: updated)
    }
}

/// What a `CONTACT-ADD` or `CONTACT-UPDATE` gives: `nil` leaves a field, `.some(nil)` clears it.
public struct ContactChange: Hashable, Sendable {
    public var name: String?
    public var relation: String?
    public var phone: String??
    public var email: String??
    public var language: String??
    public var consent: Bool??
    public var note: String??

    public init(name: String? = nil, relation: String? = nil, phone: String?? = nil, email: String?? = nil,
                language: String?? = nil, consent: Bool?? = nil, note: String?? = nil) {
        self.name = name
        self.relation = relation
        self.phone = phone
        self.email = email
        self.language = language
        self.consent = consent
        self.note = note
    }

    public var isEmpty: Bool { self == ContactChange() }

    /// Applies the change; returns whether anything differs.
    public func apply(to contact: inout Contact) -> Bool {
        let before = contact
        if let name { contact.name = name }
        if let relation { contact.relation = relation }
        if let phone { contact.phone = phone }
        if let email { contact.email = email }
        if let language { contact.language = language }
        if let consent { contact.consent = consent }
        if let note { contact.note = note }
        return contact != before
    }
}

/// Who asked: one of the case's contacts, or an organisation (a ministry, the ICRC, a lawyer's
/// office) named as written.
public enum EnquirySource: Hashable, Sendable {
    case contact(ContactID)
    case organisation(String)

    /// `K-…` names a contact; anything else is an organisation.
    public init(_ text: String) {
        self = ContactID(text).map(EnquirySource.contact) ?? .organisation(text)
    }

    public var text: String {
        switch self {
        case .contact(let id): id.description
        case .organisation(let name): name
        }
    }
}

/// Someone asked about a case; the office answered (or has yet to).
public struct Enquiry: Hashable, Sendable {
    public var id: EnquiryID
    public var caseID: CaseID
    public var from: EnquirySource
    public var question: String
    public var askedOn: PartialDate
    public var answer: String?
    public var answeredOn: PartialDate?
    public var recordedAt: Timestamp

    public init(id: EnquiryID, caseID: CaseID, from: EnquirySource, question: String, askedOn: PartialDate,
                answer: String? = nil, answeredOn: PartialDate? = nil, recordedAt: Timestamp) {
        self.id = id
        self.caseID = caseID
        self.from = from
        self.question = question
        self.askedOn = askedOn
        self.answer = answer
        self.answeredOn = answeredOn
        self.recordedAt = recordedAt
    }

    public var fields: Fields {
        var fields = Fields()
        fields.append("enquiry", id.description)
        fields.append("id", caseID.description)
        fields.append("from", from.text)
        fields.append("asked", askedOn.description)
        fields.append("question", question)
        fields.append("answered", answeredOn?.description)
        fields.append("answer", answer)
        fields.append("recorded_at", recordedAt.description)
        return fields
    }

    public init(fields: Fields) throws {
        guard let id = fields.string("enquiry").flatMap({ EnquiryID($0) }), let caseID = fields.string("id").flatMap({ CaseID($0) }),
              let from = fields.string("from"), let question = fields.string("question"),
              let asked = fields.string("asked").flatMap({ PartialDate($0) }),
              let recorded = fields.string("recorded_at").flatMap({ Timestamp($0) })
        else { throw CasetrackError(.badResponse, "enquiry line without enquiry, id, from, question, asked or recorded_at") }
        self.init(id: id, caseID: caseID, from: EnquirySource(from), question: question, askedOn: asked,
                  answer: fields.string("answer"), answeredOn: fields.string("answered").flatMap { PartialDate($0) },
                  recordedAt: recorded)
    }

    /// Unanswered, and asked at least `age` before `today` (counted from the first day its date
    /// may mean: an enquiry of `2026-05` waits since May 1st at the latest).
    public func isUnanswered(olderThan age: HeldDuration, today: Day) -> Bool {
        answer == nil && age.isReached(from: askedOn.firstDay, to: today)
    }
}
