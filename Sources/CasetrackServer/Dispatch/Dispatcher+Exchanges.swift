import CasetrackCore
import Logging

/// The verbs on exchanges: create, list people on a phase, take them off, complete a phase,
/// show one, list all.
extension Dispatcher {
    func createExchange(_ name: String, date: PartialDate, phases: Int, note: String?,
                        _ call: Call, session: Session) async throws -> Reply {
        let exchange = try await store.createExchange(
            Exchange(name: name, date: date, phases: phases, note: note, createdAt: call.clock.now), actor: session.peer.actor)
        session.logger.info("exchange created", metadata: ["exchange": "\(exchange.name)", "phases": "\(phases)"])
        var final = Fields()
        final.append("exchange", exchange.name)
        final.append("date", exchange.date.description)
        final.append("phases", exchange.phases)
        return Reply(final: final)
    }

    func listOnExchange(_ name: String, phase: Int, ids: [CaseID]) async throws -> Reply {
        let added = try await store.listOnExchange(name, phase: phase, ids: ids)
        var final = Fields()
        final.append("exchange", name)
        final.append("phase", phase)
        final.append("added", added)
        return Reply(final: final)
    }

    func removeFromExchange(_ name: String, ids: [CaseID]) async throws -> Reply {
        var final = Fields()
        final.append("exchange", name)
        final.append("removed", try await store.removeFromExchange(name, ids: ids))
        return Reply(final: final)
    }

    func completePhase(_ name: String, phase: Int, details: EventDetails, _ call: Call,
                       session: Session) async throws -> Reply {
        let completion = try await store.completePhase(name, phase: phase, details: details, actor: session.peer.actor,
                                                       clock: call.clock)
        for change in completion.changes { logChange(change, session: session) }
        var metadata: Logger.Metadata = [
            "message_id": "\(MessageID.exchangeCompleted)", "exchange": "\(completion.exchange.name)",
            "phase": "\(phase)", "seq": "\(completion.event.seq)", "returned": "\(completion.returned.values.reduce(0, +))",
        ]
        for category in Category.allCases { metadata[category.rawValue] = "\(completion.returned[category] ?? 0)" }
        session.logger.notice("exchange phase completed", metadata: metadata)
        return Replies.completed(completion)
    }

    func showExchange(_ name: String) async throws -> Reply {
        guard let (exchange, phases) = try await store.exchangeReport(name) else {
            throw CasetrackError(.notFound, "no exchange \(LineCodec.quote(name)); EXCHANGE-LIST shows those on record")
        }
        var final = Fields()
        final.append("exchange", exchange.name)
        final.append("date", exchange.date.description)
        final.append("phases", exchange.phases)
        final.append("listed", phases.map(\.total.listed).reduce(0, +))
        final.append("returned", phases.map(\.total.returned).reduce(0, +))
        final.append("note", exchange.note)
        return Reply(data: phases.flatMap(\.lines), final: final)
    }

    func listExchanges(_ call: Call) async throws -> Reply {
        let summaries = try await store.exchanges()
        // The note is free text: only for roles that may read records.
        return Reply(data: summaries.map { $0.fields(includeNote: call.role >= .reader) },
                     final: ["count": .int(Int64(summaries.count))])
    }
}
