import CasetrackCore

/// The verbs on notices: subscribe, unsubscribe, record a test notice.
extension Dispatcher {
    func subscribe(_ filter: NoticeFilter, since: Int64?, _ call: Call,
                   session: inout Session) async throws -> (Reply, After) {
        guard session.subscription == nil else {
            throw CasetrackError(.alreadySubscribed, "this connection is already subscribed; send UNSUBSCRIBE first, or use another connection")
        }
        let subscription = try await notices.subscribe(filter, since: since, format: session.format,
                                                       includePersonalData: call.role >= .reader)
        session.subscription = subscription
        return (Replies.subscribed(subscription), .startNotices(subscription))
    }

    func unsubscribe(session: inout Session) throws -> (Reply, After) {
        guard let subscription = session.subscription else {
            throw CasetrackError.badArgument("this connection has no subscription")
        }
        session.subscription = nil
        return (Reply(), .stopNotices(subscription))
    }

    func testNotice(note: String?, _ call: Call, session: Session) async throws -> Reply {
        let notice = try await store.recordTestNotice(note: note, actor: session.peer.actor, clock: call.clock)
        session.logger.notice("test notice", metadata: ["seq": "\(notice.seq)", "kind": "test"])
        var reply = Reply(final: ["seq": .int(notice.seq)])
        reply.acknowledgesWrite = true
        return reply
    }
}
