// Reading the arguments of the contact and enquiry verbs.

extension Arguments {
    /// The `ID` (or `CONTACT`, `ENQUIRY`) positional value, as `T`.
    func numbered<T: NumberedID>(_ name: String) throws -> T {
        guard let text = try positional(0, name, required: true) else { throw CasetrackError.badArgument("missing \(name)") }
        return try T.parse(text, field: name)
    }

    /// The fields of `CONTACT-ADD` (`adding`: name and relation required) or `CONTACT-UPDATE`.
    func contactChange(adding: Bool) throws -> ContactChange {
        func required(_ key: String) throws -> String? {
            guard let value = try text(key, limit: 200) else {
                if adding { throw CasetrackError.badArgument("CONTACT-ADD needs \(key)=") }
                return nil
            }
            guard let value else { throw CasetrackError.badArgument("\(key): must not be empty") }
            return value
        }
        var change = ContactChange(name: try required("name"), relation: try required("relation"))
        change.phone = try text("phone", limit: 40).map { phone in
            try phone.map { value in
                guard value.allSatisfy({ $0.isASCII && ($0.isNumber || " +-()./".contains($0)) }),
                      value.contains(where: \.isNumber) else {
                    throw CasetrackError.badArgument("phone: '\(value.prefix(40))' is not a phone number (digits, spaces and + - ( ) . / only)")
                }
                return value
            }
        }
        change.email = try text("email", limit: 254).map { email in
            try email.map { value in
                let parts = value.split(separator: "@", omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !value.contains(where: \.isWhitespace) else {
                    throw CasetrackError.badArgument("email: '\(value.prefix(60))' is not an e-mail address")
                }
                return value
            }
        }
        change.language = try text("language", limit: 40)
        if let consent = try single("consent") {
            change.consent = consent.isEmpty ? .some(nil) : .some(try flag("consent"))
        }
        change.note = try text("note", limit: 2_000, multiline: true)
        if !adding, change.isEmpty {
            throw CasetrackError.badArgument("CONTACT-UPDATE needs at least one field to change, e.g. phone=… or consent=yes")
        }
        return change
    }

    func enquiryAdd() throws -> Command {
        let id: CaseID = try caseID()
        guard let from = try text("from", limit: 200) ?? nil else {
            throw CasetrackError.badArgument("ENQUIRY-ADD needs from= (a contact of the case, K-…, or who else asked)")
        }
        guard let question = try text("question", limit: 10_000, multiline: true) ?? nil else {
            throw CasetrackError.badArgument("ENQUIRY-ADD needs question= (what was asked)")
        }
        return .enquiryAdd(id, from: EnquirySource(from), question: question, asked: try knownDate("at"))
    }

    func enquiryAnswer() throws -> Command {
        let id: EnquiryID = try numbered("ENQUIRY")
        guard let answer = try text("answer", limit: 10_000, multiline: true) ?? nil else {
            throw CasetrackError.badArgument("ENQUIRY-ANSWER needs answer= (what the office told them)")
        }
        return .enquiryAnswer(id, answer: answer, answered: try knownDate("at"))
    }

    func enquiries() throws -> Command {
        let id = try positional(0, "ID", required: false).map { try CaseID.parse($0, field: "ID") }
        return .enquiries(id, unansweredOlder: try single("unanswered_older").map { try HeldDuration.parse($0, field: "unanswered_older") })
    }

    /// A date that must be known (default: today, filled in by the store).
    private func knownDate(_ key: String) throws -> PartialDate? {
        guard let given = try date(key) else { return nil }
        guard let date = given else { throw CasetrackError.badArgument("\(key): give the date, not unknown") }
        return date
    }
}
