import CasetrackCore

/// The verbs that keep one person one record: duplicates, matching a list, merge, unmerge,
/// not a duplicate.
extension Dispatcher {
    func duplicates(of id: CaseID?, minimumScore: Double, limit: Int) async throws -> Reply {
        Replies.duplicates(try await store.duplicates(of: id, minimumScore: minimumScore, limit: limit))
    }

    func match(_ texts: [String], minimumScore: Double, limit: Int, _ call: Call) async throws -> Reply {
        let today = call.today
        let rows = try await Self.offTheLoop {
            try texts.enumerated().map { index, text in
                do {
                    var row = try MatchRow(text, today: today)
                    row.number = index + 1
                    return row
                } catch let error as CasetrackError {
                    var details = error.details
                    details.append("row", index + 1)
                    throw CasetrackError(error.code, "row \(index + 1): \(error.message)", details: details)
                }
            }
        }
        return Replies.matched(try await store.match(rows, minimumScore: minimumScore, limit: limit))
    }

    func merge(_ source: CaseID, into target: CaseID, prefer: [MergeField: MergeSide], details: EventDetails,
               expectVersion: Int?, targetVersion: Int?, _ call: Call, session: Session) async throws -> Reply {
        let change = try await store.merge(source, into: target, prefer: prefer, details: details, actor: session.peer.actor,
                                           expectVersion: expectVersion, targetVersion: targetVersion, clock: call.clock)
        logChange(change.source, session: session)
        logChange(change.target, session: session)
        return Replies.merged(change, today: call.today)
    }

    func unmerge(_ source: CaseID, details: EventDetails, _ call: Call, session: Session) async throws -> Reply {
        let change = try await store.unmerge(source, details: details, actor: session.peer.actor, clock: call.clock)
        logChange(change.source, session: session)
        logChange(change.target, session: session)
        return Replies.unmerged(change, today: call.today)
    }

    func notDuplicate(_ a: CaseID, _ b: CaseID, note: String?, undo: Bool, _ call: Call, session: Session) async throws -> Reply {
        let changed = try await store.markNotDuplicate(a, b, note: note, undo: undo, actor: session.peer.actor, clock: call.clock)
        session.logger.info("not a duplicate", metadata: ["a": "\(a)", "b": "\(b)", "undo": "\(undo)", "changed": "\(changed)"])
        var reply = Reply(final: ["changed": .string(changed ? "yes" : "no")])
        reply.acknowledgesWrite = true
        return reply
    }
}
