import CasetrackCore
import Logging

/// The verbs on cases: open, change, read, list, count, break down.
extension Dispatcher {
    func add(_ new: NewCase, details: EventDetails, _ call: Call, session: Session) async throws -> Reply {
        let change = try await store.add(new, details: details, actor: session.peer.actor, clock: call.clock)
        logChange(change, session: session)
        return Replies.written(change, today: call.today)
    }

    func setStatus(_ id: CaseID, to status: Status, details: EventDetails, expectVersion: Int?, correction: Bool,
                   _ call: Call, session: Session) async throws -> Reply {
        let change = try await store.setStatus(id, to: status, details: details, actor: session.peer.actor,
                                               expectVersion: expectVersion, correction: correction, clock: call.clock)
        logChange(change, session: session)
        return Replies.written(change, today: call.today)
    }

    func update(_ id: CaseID, _ update: CaseUpdate, details: EventDetails, expectVersion: Int?,
                _ call: Call, session: Session) async throws -> Reply {
        let change = try await store.update(id, update, details: details, actor: session.peer.actor,
                                            expectVersion: expectVersion, clock: call.clock)
        logChange(change, session: session)
        return Replies.written(change, today: call.today)
    }

    func recordEvent(_ id: CaseID, _ type: CaptivityEventType, _ captivity: CaptivityDetails, details: EventDetails,
                     expectVersion: Int?, _ call: Call, session: Session) async throws -> Reply {
        let change = try await store.recordEvent(id, type, captivity, details: details, actor: session.peer.actor,
                                                 expectVersion: expectVersion, clock: call.clock)
        logChange(change, session: session)
        return Replies.written(change, today: call.today)
    }

    func get(_ id: CaseID, _ call: Call) async throws -> Reply {
        guard let record = try await store.get(id) else { throw CasetrackError(.notFound, "no case \(id)") }
        return Reply(data: [record.fields(today: call.today)])
    }

    func history(_ id: CaseID) async throws -> Reply {
        guard let events = try await store.history(id) else { throw CasetrackError(.notFound, "no case \(id)") }
        return Reply(data: events.map(\.fields), final: ["count": .int(Int64(events.count))])
    }

    func list(_ filter: CaseFilter, limit: Int, after: CaseID?, _ call: Call) async throws -> Reply {
        let (records, final) = try await page(filter, limit: limit, after: after, today: call.today)
        return Reply(data: records.map { $0.fields(today: call.today) }, final: final)
    }

    func count(_ filter: CaseFilter, _ call: Call) async throws -> Reply {
        let count = try await store.count(filter, today: call.today)
        return Reply(final: ["count": .int(Int64(count))])
    }

    func stats(_ query: StatisticsQuery, _ call: Call) async throws -> Reply {
        let table = try await store.statistics(query, today: call.today)
        return Reply(data: table.lines, final: table.final)
    }

    /// One page of a LIST or EXPORT, with `count=` and, when more follow, `next=`.
    func page(_ filter: CaseFilter, limit: Int, after: CaseID?, today: Day) async throws -> ([CaseRecord], Fields) {
        // One more than asked tells whether another page follows.
        var records = try await store.list(filter, today: today, limit: limit + 1, after: after)
        var final = Fields()
        let more = records.count > limit
        if more { records.removeLast() }
        final.append("count", records.count)
        if more, let last = records.last { final.append("next", last.id.description) }
        return (records, final)
    }

    /// Every committed change of a case goes to the log, without who the person is unless the
    /// operator turned that on.
    func logChange(_ change: CaseChange, session: Session) {
        let event = change.event
        var metadata: Logger.Metadata = [
            "message_id": "\(MessageID.caseChanged)", "case": "\(event.caseID)", "kind": "\(event.kind.rawValue)",
            "old": "\(event.oldStatus?.rawValue ?? "-")", "new": "\(event.newStatus?.rawValue ?? "-")",
            "seq": "\(event.seq)",
        ]
        if settings.current.logPersonalData, let name = change.record.names.first { metadata["name"] = "\(name)" }
        session.logger.info("case changed", metadata: metadata)
    }
}
