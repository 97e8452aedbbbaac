import CasetrackCore

/// What connections need of the notices: a subscription registered against the store's log
/// and the hub, and the feed that sends it. Injected into the dispatcher (SUBSCRIBE) and into
/// each connection (which runs the feed), so that neither reaches into the other's parts.
public struct NoticeService: Sendable {
    let store: any CaseStore
    let hub: NoticeHub
    let settings: LiveSettings

    public init(store: any CaseStore, hub: NoticeHub, settings: LiveSettings) {
        self.store = store
        self.hub = hub
        self.settings = settings
    }

    /// Registers a subscription that starts after `since` (or now), or says why it cannot:
    /// the events after `since` were trimmed (`gap`), `since` lies beyond the newest event, or
    /// `max_subscribers` are running.
    func subscribe(_ filter: NoticeFilter, since: Int64?, format: WireFormat,
                   includePersonalData: Bool) async throws -> Subscription {
        if let since {
            let trimmed = try await store.trimmedThrough()
            if since < trimmed {
                var details = Fields()
                details.append("oldest", trimmed + 1)
                throw CasetrackError(.gap,
                    "events \(since + 1) to \(trimmed) were trimmed by retention; the oldest kept is \(trimmed + 1). Resync what you keep (LIST), then SUBSCRIBE since=\(trimmed)",
                    details: details)
            }
            let newest = hub.lastSequence
            if since > newest {
                throw CasetrackError.badArgument(
                    "since=\(since) is after the newest event, \(newest): was the database restored from an older backup? Subscribe with since=\(newest) or less")
            }
        }
        let current = settings.current
        let limit = current.limits.maxSubscribers
        guard let (queue, registered) = hub.subscribe(filter: filter, capacity: current.subscriberBuffer, limit: limit) else {
            throw CasetrackError.limitExceeded("max_subscribers",
                "\(limit) subscriptions are running, the most this daemon allows; try again later")
        }
        return Subscription(hub: hub, queue: queue, registeredAfter: registered, since: since, filter: filter,
                            format: format, includePersonalData: includePersonalData)
    }

    /// Sends the subscription's notices until it stops or cannot go on (see ``NoticeFeed``).
    /// `currentRole` is asked again whenever the settings are replaced, so that a reload takes
    /// effect with the next notice.
    func run(_ subscription: Subscription, currentRole: @escaping @Sendable () -> Role?,
             output: ConnectionOutput) async -> NoticeFeed.Outcome {
        let feed = NoticeFeed(store: store, lines: hub.lines, currentRole: currentRole, settings: settings)
        return await feed.run(subscription, capacity: settings.current.subscriberBuffer, hub: hub, output: output,
                              send: output.send)
    }

    /// How many subscriptions are running.
    public var subscriberCount: Int { hub.subscriberCount }
}
