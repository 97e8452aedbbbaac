import CasetrackCore
import GRDB

// Contacts and enquiries: rows of their own, written by the one writer like everything else,
// but outside the event log and its chain (see Contact.swift for why).

extension SQLiteCaseStore {
    /// A row of the case `?` or of a case merged into it, at any depth (A merged into B, then
    /// B into C: A's rows are C's too): one person, so their captivity events, contacts and
    /// enquiries are one.
    static let ofCaseOrMergedIn = """
        case_id IN (WITH RECURSIVE merged_in(id) AS (
                        SELECT ? UNION SELECT merged_cases.id FROM merged_cases JOIN merged_in ON merged_cases.merged_into = merged_in.id)
                    SELECT id FROM merged_in)
        """

    public func addContact(_ id: CaseID, _ change: ContactChange, actor: Actor, clock: WriteClock) async throws -> Contact {
        try await writer.submit { db in
            _ = try Self.load(id, db)
            guard let name = change.name, let relation = change.relation else {
                throw CasetrackError.badArgument("a contact needs name= and relation=")
            }
            var contact = Contact(id: ContactID(number: try Self.bump("contact_id", db)), caseID: id, name: name,
                                  relation: relation, createdAt: clock.now, updatedAt: clock.now)
            _ = change.apply(to: &contact)
            try Self.run("""
                INSERT INTO contacts (id, case_id, name, relation, phone, email, language, consent, note, created_at, updated_at, actor_uid)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, StatementArguments(Self.contactValues(contact) + [Int64(actor.uid).databaseValue]), db)
            return contact
        }
    }

    public func updateContact(_ id: ContactID, _ change: ContactChange, actor: Actor, clock: WriteClock) async throws -> Contact {
        try await writer.submit { db in
            var contact = try Self.contact(id, db)
            guard change.apply(to: &contact) else { throw CasetrackError.badArgument("the update changes nothing in \(id)") }
            contact.updatedAt = clock.now
            try Self.run("""
                UPDATE contacts SET case_id = ?, name = ?, relation = ?, phone = ?, email = ?, language = ?, consent = ?, note = ?,
                    created_at = ?, updated_at = ?, actor_uid = ? WHERE id = ?
                """, StatementArguments(Array(Self.contactValues(contact).dropFirst())
                                        + [Int64(actor.uid).databaseValue, id.number.databaseValue]), db)
            return contact
        }
    }

    public func removeContact(_ id: ContactID, actor: Actor, clock: WriteClock) async throws -> Contact {
        try await writer.submit { db in
            let contact = try Self.contact(id, db)
            try Self.run("UPDATE contacts SET removed_at = ?, actor_uid = ? WHERE id = ?",
                         [clock.now.unixMilliseconds, Int64(actor.uid), id.number], db)
            return contact
        }
    }

    public func contacts(of id: CaseID) async throws -> [Contact]? {
        try await read { db in
            guard try Self.fetch(id, db) != nil || Self.mergedError(id, db) != nil else { return nil }
            return try Row.fetchAll(db, sql: """
                SELECT * FROM contacts WHERE removed_at IS NULL
                    AND \(Self.ofCaseOrMergedIn)
                ORDER BY id
                """, arguments: [id.number]).map(Self.contact)
        }
    }

    /// Every contact, by id, each under the case it belongs to now: a contact of a case merged
    /// away is its target's (the merged case is exported no more, and the family with it).
    public func allContacts(after: ContactID?, limit: Int) async throws -> [Contact] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM contacts WHERE removed_at IS NULL AND id > ? ORDER BY id LIMIT ?",
                             arguments: [after?.number ?? 0, max(0, limit)]).map { row in
                var contact = Self.contact(row)
                if let now = try Self.mergedPath(contact.caseID, db).last { contact.caseID = now }
                return contact
            }
        }
    }

    /// Whether any case has a contact: a replay of many notices looks each one up only then.
    static func anyContacts(_ db: Database) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM contacts WHERE removed_at IS NULL)")) ?? false
    }

    /// The ids of a case's contacts (with those of cases merged into it), for the notices of
    /// its status changes: a script that writes the letters finds whom to write to.
    static func contactIDs(_ id: CaseID, _ db: Database) throws -> [ContactID] {
        try Int64.fetchAll(db.cachedStatement(sql: """
            SELECT id FROM contacts WHERE removed_at IS NULL
                AND \(Self.ofCaseOrMergedIn)
            ORDER BY id
            """), arguments: [id.number]).map(ContactID.init(number:))
    }

    public func addEnquiry(_ id: CaseID, from: EnquirySource, question: String, asked: PartialDate, actor: Actor,
                           clock: WriteClock) async throws -> Enquiry {
        try await writer.submit { db in
            _ = try Self.load(id, db)
            if case .contact(let contactID) = from {
                let contact = try Self.contact(contactID, db)
                let owned = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM contacts WHERE id = ? AND \(Self.ofCaseOrMergedIn))",
                                              arguments: [contactID.number, id.number]) ?? false
                guard owned else {
                    throw CasetrackError.badArgument("from: \(contactID) is a contact of \(contact.caseID), not of \(id)")
                }
            }
            let enquiry = Enquiry(id: EnquiryID(number: try Self.bump("enquiry_id", db)), caseID: id, from: from,
                                  question: question, askedOn: asked, recordedAt: clock.now)
            try Self.run("""
                INSERT INTO enquiries (id, case_id, source, question, asked, asked_day, recorded_at, asked_by_uid)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, [enquiry.id.number, id.number, from.text, question, asked.description, asked.firstDay.daysSinceEpoch,
                      clock.now.unixMilliseconds, Int64(actor.uid)], db)
            return enquiry
        }
    }

    public func answerEnquiry(_ id: EnquiryID, answer: String, answered: PartialDate, actor: Actor,
                              clock: WriteClock) async throws -> Enquiry {
        try await writer.submit { db in
            guard var enquiry = try Row.fetchOne(db, sql: "SELECT * FROM enquiries WHERE id = ?", arguments: [id.number])
                .map(Self.enquiry) else { throw CasetrackError(.notFound, "no enquiry \(id)") }
            if let given = enquiry.answeredOn {
                throw CasetrackError.badArgument("\(id) was answered on \(given) already; record a new enquiry for a new question")
            }
            guard answered.lastDay >= enquiry.askedOn.firstDay else {
                throw CasetrackError.badArgument("at: the answer (\(answered)) would come before the question (\(enquiry.askedOn))")
            }
            enquiry.answer = answer
            enquiry.answeredOn = answered
            try Self.run("UPDATE enquiries SET answer = ?, answered = ?, answered_by_uid = ? WHERE id = ?",
                         [answer, answered.description, Int64(actor.uid), id.number], db)
            return enquiry
        }
    }

    public func enquiries(of id: CaseID?, unansweredOlder: HeldDuration?, today: Day) async throws -> [Enquiry] {
        var clauses: [String] = []
        var arguments: [DatabaseValue] = []
        if let id {
            clauses.append("\(Self.ofCaseOrMergedIn)")
            arguments.append(id.number.databaseValue)
        }
        if let unansweredOlder {
            clauses.append("answer IS NULL AND asked_day <= ?")
            arguments.append(unansweredOlder.latestStart(reaching: today).daysSinceEpoch.databaseValue)
        }
        let query = "SELECT * FROM enquiries" + (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")) + " ORDER BY id"
        let bound = StatementArguments(arguments)
        return try await read { db in
            if let id, try Self.fetch(id, db) == nil, let merged = try Self.mergedError(id, db) { throw merged }
            return try Row.fetchAll(db, sql: query, arguments: bound).map(Self.enquiry)
        }
    }

    // MARK: Rows

    static func contact(_ id: ContactID, _ db: Database) throws -> Contact {
        guard let contact = try Row.fetchOne(db, sql: "SELECT * FROM contacts WHERE id = ? AND removed_at IS NULL",
                                             arguments: [id.number]).map(contact) else {
            throw CasetrackError(.notFound, "no contact \(id)")
        }
        return contact
    }

    /// The row's values from `id` to `updated_at`, in the order of the table.
    static func contactValues(_ contact: Contact) -> [DatabaseValue] {
        let values: [(any DatabaseValueConvertible)?] = [contact.id.number, contact.caseID.number, contact.name, contact.relation, contact.phone, contact.email, contact.language,
         contact.consent.map { $0 ? 1 : 0 }, contact.note, contact.createdAt.unixMilliseconds, contact.updatedAt.unixMilliseconds]
        return values.map { $0?.databaseValue ?? .null }
    }

    static func contact(_ row: Row) -> Contact {
        Contact(id: ContactID(number: row["id"]), caseID: CaseID(number: row["case_id"]), name: row["name"],
                relation: row["relation"], phone: row["phone"], email: row["email"], language: row["language"],
                consent: (row["consent"] as Int64?).map { $0 != 0 }, note: row["note"],
                createdAt: Timestamp(unixMilliseconds: row["created_at"]), updatedAt: Timestamp(unixMilliseconds: row["updated_at"]))
    }

    static func enquiry(_ row: Row) throws -> Enquiry {
        guard let asked = PartialDate(row["asked"] as String) else { throw RowCoding.corrupt("enquiry \(row["id"] as Int64) has a bad date") }
        return Enquiry(id: EnquiryID(number: row["id"]), caseID: CaseID(number: row["case_id"]), from: EnquirySource(row["source"]),
                       question: row["question"], askedOn: asked, answer: row["answer"],
                       answeredOn: (row["answered"] as String?).flatMap { PartialDate($0) },
                       recordedAt: Timestamp(unixMilliseconds: row["recorded_at"]))
    }
}
