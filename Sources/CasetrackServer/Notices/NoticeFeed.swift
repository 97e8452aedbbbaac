import CasetrackCore

/// A subscription as the dispatcher accepted it: registered with the hub, not yet running.
public struct Subscription: Sendable {
    let queue: NoticeQueue
    /// Every notice after this one reaches the queue; the ones before it are in the store.
    let registeredAfter: Int64
    /// Where the subscriber asked to start (`since=`); `nil`: live only.
    let since: Int64?
    let filter: NoticeFilter
}

/// Sends one connection's notices: the stored ones after `since=`, then the live ones from its
/// queue, with neither a gap nor a duplicate at the seam.
///
/// The queue was registered before the replay began, at sequence number `R`: the replay sends
/// stored events up to `R`, the queue everything after `R`. A queue that overflows during a
/// long replay is replaced by a new registration and the replay goes on to its new `R`; once
/// live, an overflow ends the subscription with a marker saying where to resume.
struct NoticeFeed {
    let store: any CaseStore
    let hub: NoticeHub
    let format: WireFormat
    let includeNames: Bool

    /// How a feed ended; `last` is the sequence number through which the subscriber has been
    /// served (resuming with `since=last` loses nothing).
    enum Outcome: Sendable {
        case closed(last: Int64)
        case overflow(last: Int64)
        case gap(oldest: Int64, last: Int64)
    }

    static let replayPage = 512
    static let liveBatch = 1_024

    func run(_ subscription: Subscription, capacity: Int, send: (String) async throws -> Void) async throws -> Outcome {
        var queue = subscription.queue
        var registered = subscription.registeredAfter
        var last = subscription.since ?? registered
        defer { hub.unsubscribe(queue) }
        while last < registered {
            // UNSUBSCRIBE, end of input or shutdown: stop replaying too.
            if queue.closed { return .closed(last: last) }
            let page = try await store.notices(after: last, limit: NoticeFeed.replayPage)
            // Retention trimmed the log while we were replaying it.
            guard let first = page.first else { return .gap(oldest: registered + 1, last: last) }
            if first.seq != last + 1 { return .gap(oldest: first.seq, last: last) }
            var text = ""
            for notice in page where notice.seq <= registered {
                if subscription.filter.matches(notice) { append(notice, to: &text) }
                last = notice.seq
            }
            if !text.isEmpty { try await send(text) }
            // Still replaying: the store has what the queue dropped. Register again and read on.
            if queue.overflowed {
                hub.unsubscribe(queue)
                (queue, registered) = hub.subscribe(filter: subscription.filter, capacity: capacity)
            }
        }
        last = max(last, registered)
        while true {
            switch await queue.take(maximum: NoticeFeed.liveBatch) {
            case .success(let batch):
                var text = ""
                for notice in batch where notice.seq > last {
                    append(notice, to: &text)
                    last = notice.seq
                }
                if !text.isEmpty { try await send(text) }
            case .failure(let ended):
                return ended.end == .overflow ? .overflow(last: last) : .closed(last: last)
            }
        }
    }

    private func append(_ notice: Notice, to text: inout String) {
        text += ResponseLine.notice(notice.fields(includeNames: includeNames)).encoded(format)
        text += "\n"
    }
}
