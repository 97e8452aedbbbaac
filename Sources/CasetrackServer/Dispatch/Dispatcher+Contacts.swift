import CasetrackCore
import Logging

/// The verbs on contacts and enquiries. Logged by id only: names, phones and questions are
/// personal data of people who are not the case, and never reach the journal.
extension Dispatcher {
    func contactAdd(_ id: CaseID, _ change: ContactChange, _ call: Call, session: Session) async throws -> Reply {
        let contact = try await store.addContact(id, change, actor: session.peer.actor, clock: call.clock)
        logContact("contact added", contact, session: session)
        return Replies.contact(contact)
    }

    func contactUpdate(_ id: ContactID, _ change: ContactChange, _ call: Call, session: Session) async throws -> Reply {
        let contact = try await store.updateContact(id, change, actor: session.peer.actor, clock: call.clock)
        logContact("contact changed", contact, session: session)
        return Replies.contact(contact)
    }

    func contactRemove(_ id: ContactID, _ call: Call, session: Session) async throws -> Reply {
        let contact = try await store.removeContact(id, actor: session.peer.actor, clock: call.clock)
        logContact("contact removed", contact, session: session)
        return Reply(final: ["contact": .string(contact.id.description), "id": .string(contact.caseID.description)])
    }

    func contacts(_ id: CaseID) async throws -> Reply {
        guard let contacts = try await store.contacts(of: id) else { throw CasetrackError(.notFound, "no case \(id)") }
        return Reply(data: contacts.map(\.fields), final: ["count": .int(Int64(contacts.count))])
    }

    func enquiryAdd(_ id: CaseID, from: EnquirySource, question: String, asked: PartialDate?, _ call: Call,
                    session: Session) async throws -> Reply {
        let enquiry = try await store.addEnquiry(id, from: from, question: question, asked: asked ?? PartialDate(call.today),
                                                 actor: session.peer.actor, clock: call.clock)
        session.logger.info("enquiry recorded", metadata: ["case": "\(id)", "enquiry": "\(enquiry.id)"])
        return Replies.enquiry(enquiry)
    }

    func enquiryAnswer(_ id: EnquiryID, answer: String, answered: PartialDate?, _ call: Call, session: Session) async throws -> Reply {
        let enquiry = try await store.answerEnquiry(id, answer: answer, answered: answered ?? PartialDate(call.today),
                                                    actor: session.peer.actor, clock: call.clock)
        session.logger.info("enquiry answered", metadata: ["case": "\(enquiry.caseID)", "enquiry": "\(id)"])
        return Replies.enquiry(enquiry)
    }

    func enquiries(_ id: CaseID?, unansweredOlder: HeldDuration?, _ call: Call) async throws -> Reply {
        let enquiries = try await store.enquiries(of: id, unansweredOlder: unansweredOlder, today: call.today)
        return Reply(data: enquiries.map(\.fields), final: ["count": .int(Int64(enquiries.count))])
    }

    /// One page of every contact: `next=` names where the next begins.
    func contactsExport(limit: Int, after: ContactID?) async throws -> Reply {
        var contacts = try await store.allContacts(after: after, limit: limit + 1)
        var final = Fields()
        let more = contacts.count > limit
        if more { contacts.removeLast() }
        final.append("count", contacts.count)
        if more, let last = contacts.last { final.append("next", last.id.description) }
        return Reply(data: contacts.map(\.fields), final: final)
    }

    private func logContact(_ message: Logger.Message, _ contact: Contact, session: Session) {
        session.logger.info(message, metadata: ["case": "\(contact.caseID)", "contact": "\(contact.id)"])
    }
}

extension Replies {
    static func contact(_ contact: Contact) -> Reply {
        Reply(data: [contact.fields], final: ["contact": .string(contact.id.description), "id": .string(contact.caseID.description)])
    }

    static func enquiry(_ enquiry: Enquiry) -> Reply {
        Reply(data: [enquiry.fields], final: ["enquiry": .string(enquiry.id.description), "id": .string(enquiry.caseID.description)])
    }
}
