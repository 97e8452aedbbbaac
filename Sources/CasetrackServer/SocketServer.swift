#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CasetrackCore
import CasetrackPOSIX
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Where the server accepts connections.
public enum Listener: Sendable, Hashable {
    /// A path the server binds itself: it replaces a stale socket left by a crash, sets the
    /// mode, and removes the socket when it stops.
    case path(String, mode: UInt32)
    /// A listening socket the service manager passed (socket activation), with its
    /// `FileDescriptorName=`. The manager owns the file: the server neither changes nor removes it.
    case inherited(fd: Int32, name: String)

    /// The name a connection's session records: the fd name, or `socket` for a bound path.
    /// (The roles layer maps names such as `ro` and `rw` to what a listener allows.)
    public var name: String {
        switch self {
        case .path: return "socket"
        case .inherited(_, let name): return name
        }
    }

    public var description: String {
        switch self {
        case .path(let path, _): return path
        case .inherited(let fd, let name): return "fd \(fd) (\(name), from systemd)"
        }
    }
}

/// The Unix-socket server: accepts connections on its listeners and runs each as a loop of
/// request lines answered in order (pipelining works; answers never interleave).
///
/// Shutdown is graceful: on the shutdown signal it stops accepting, lets each connection
/// finish the requests it already sent, tells it `BYE shutting-down`, and closes it.
public struct SocketServer: Service {
    public let listeners: [Listener]
    public let dispatcher: Dispatcher
    let group: any EventLoopGroup
    let logger: Logger
    let onListening: @Sendable ([Listener]) -> Void

    public init(listeners: [Listener], dispatcher: Dispatcher, group: any EventLoopGroup, logger: Logger,
                onListening: @escaping @Sendable ([Listener]) -> Void = { _ in }) {
        self.listeners = listeners
        self.dispatcher = dispatcher
        self.group = group
        self.logger = logger
        self.onListening = onListening
    }

    /// One bound path, for tests and the embedded default.
    public init(socketPath: String, socketMode: UInt32 = 0o660, dispatcher: Dispatcher, group: any EventLoopGroup,
                logger: Logger, onListening: @escaping @Sendable ([Listener]) -> Void = { _ in }) {
        self.init(listeners: [.path(socketPath, mode: socketMode)], dispatcher: dispatcher, group: group, logger: logger,
                  onListening: onListening)
    }

    /// An accepted connection: who it is, where it came in, what it may do at most, and
    /// whether a connection limit turns it away (it is told so, then closed).
    struct Connection: Sendable {
        let channel: NIOAsyncChannel<[InboundLine], ByteBuffer>
        let peer: PeerIdentity
        let listener: String
        let cap: Role
        let refusal: CasetrackError?
        let watch: ConnectionWatch
    }
    typealias ServerChannel = NIOAsyncChannel<Connection, Never>

    /// Answers to a batch of pipelined lines are written once this many bytes are waiting,
    /// rather than all at the end: a client reading as it goes gets its first answers sooner.
    static let batchedOutput = 64 * 1024

    /// How long connections get, after the shutdown signal, to finish before they are closed.
    static let shutdownGrace = TimeAmount.seconds(8)

    public func run() async throws {
        for case .path(let path, _) in listeners { try SocketServer.claim(path) }
        let accepted = AcceptedConnections()
        let live = LiveConnections()
        let counter = ConnectionCounter()
        var servers: [ServerChannel] = []
        do {
            for listener in listeners { servers.append(try await bind(listener, accepted: accepted, live: live, counter: counter)) }
        } catch {
            for server in servers { try? await server.channel.close() }
            throw error
        }
        onListening(listeners)
        for listener in listeners { logger.info("listening", metadata: ["socket": "\(listener.description)"]) }
        let group = self.group
        let bound = servers
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { listeners in
                for server in bound {
                    listeners.addTask {
                        try await server.executeThenClose { connections in
                            try await withThrowingDiscardingTaskGroup { group in
                                for try await connection in connections {
                                    accepted.remove(connection.channel)
                                    let executor = EventLoopTaskExecutor(connection.channel.channel.eventLoop)
                                    group.addTask(executorPreference: executor) { await serve(connection) }
                                }
                            }
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            for server in bound { server.channel.close(promise: nil) }
            // Connections finish what they read, then close. One that cannot (a client that
            // never reads its answers) is closed by force after a grace period, so the daemon
            // stops within the unit's stop timeout.
            group.any().scheduleTask(in: SocketServer.shutdownGrace) { live.closeAll() }
        }
        // Connections accepted while the listener closed never reached the loop above. Each
        // must still be closed through its async wrapper (dropping one unfinished traps).
        for connection in accepted.removeAll() {
            try? await connection.executeThenClose { _, _ in
                let bye = ResponseLine.bye(CasetrackError(.shuttingDown, "the daemon is stopping; reconnect later"))
                try await connection.channel.writeAndFlush(ByteBuffer(string: bye.encoded(.text) + "\n")).get()
            }
        }
        for case .path(let path, _) in listeners { unlink(path) }
        logger.info("stopped listening")
    }

    private func bind(_ listener: Listener, accepted: AcceptedConnections, live: LiveConnections,
                      counter: ConnectionCounter) async throws -> ServerChannel {
        let maximumLength = dispatcher.maximumLineLength
        let name = listener.name
        let cap = try Role.cap(forListener: name)
        let settings = dispatcher.settings
        let logger = self.logger
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            // Without it a client that sends and then half-closes (`echo PING | socat …`)
            // would be dropped before its answer.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
        let initializer: @Sendable (any Channel) -> EventLoopFuture<Connection> = { channel in
            PeerCredentials.read(channel).flatMapThrowing { peer -> Connection in
                let watch = ConnectionWatch()
                try channel.pipeline.syncOperations.addHandler(PartialLineTracker(watch: watch))
                try channel.pipeline.syncOperations.addHandler(
                    ByteToMessageHandler(RequestLineDecoder(maximumLength: maximumLength)))
                try channel.pipeline.syncOperations.addHandler(LineBatcher())
                let connection = try NIOAsyncChannel<[InboundLine], ByteBuffer>(wrappingChannelSynchronously: channel)
                accepted.insert(connection)
                live.insert(channel)
                let refusal = counter.admit(uid: peer.uid, limits: settings.current.limits)
                if let refusal {
                    logger.notice("client disconnected", metadata: [
                        "message_id": "\(MessageID.clientLimited)", "limit": "\(refusal.details.string("limit") ?? "")",
                        "peer_uid": "\(peer.uid)", "peer_pid": "\(peer.pid)",
                    ])
                } else {
                    watch.start(on: channel, settings: settings, peer: peer, logger: logger)
                }
                channel.closeFuture.whenComplete { _ in
                    live.remove(channel)
                    if refusal == nil { counter.release(uid: peer.uid) }
                }
                return Connection(channel: connection, peer: peer, listener: name, cap: cap, refusal: refusal, watch: watch)
            }
        }
        switch listener {
        case .inherited(let fd, _):
            return try await bootstrap.bind(fd, childChannelInitializer: initializer)
        case .path(let path, let mode):
            let server = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false,
                                                  childChannelInitializer: initializer)
            // Access to the socket is access to the data: set its mode explicitly rather than
            // trust the umask the daemon was started with.
            guard chmod(path, mode_t(mode)) == 0 else {
                let reason = String(cString: strerror(errno))
                try? await server.channel.close()
                throw CasetrackError(.internalError, "cannot set the mode of \(path): \(reason)")
            }
            return server
        }
    }

    private func serve(_ connection: Connection) async {
        var session = Session(peer: connection.peer)
        session.listener = connection.listener
        session.cap = connection.cap
        let channel = connection.channel
        let dispatcher = self.dispatcher
        let watch = connection.watch
        do {
            try await channel.executeThenClose { inbound, _ in
                // Answers and notices are written straight to the channel and awaited: each
                // returns once its bytes reached the socket, so nothing is left queued when the
                // connection closes. One write per answer or batch of notices: lines never mix.
                @Sendable func send(_ text: String) async throws {
                    // Watched: a client that leaves it unread past send_timeout is cut off.
                    watch.sendBegins()
                    defer { watch.sendEnds() }
                    try await channel.channel.writeAndFlush(ByteBuffer(string: text)).get()
                }
                /// Writes at once when called on the connection's event loop and the connection
                /// can take more; false otherwise (then `send` must be used, and waits).
                @Sendable func sendNow(_ text: String) -> Bool {
                    let nio = channel.channel
                    guard nio.eventLoop.inEventLoop, nio.isWritable else { return false }
                    watch.sendBegins()
                    nio.writeAndFlush(ByteBuffer(string: text)).whenComplete { _ in watch.sendEnds() }
                    return true
                }
                if let refusal = connection.refusal {
                    try await send(ResponseLine.bye(refusal).encoded(.text) + "\n")
                    return
                }
                try await send(dispatcher.greeting(for: session).encoded(.text) + "\n")
                try await withThrowingTaskGroup(of: NoticeFeed.Outcome.self) { feeds in
                    var running: Subscription?
                    /// Ends the running feed and returns where it stopped.
                    func stopFeed() async throws -> NoticeFeed.Outcome? {
                        guard let subscription = running else { return nil }
                        running = nil
                        subscription.stop()
                        return try await feeds.next()
                    }
                    // However the connection ends (even by a thrown error), its subscription ends
                    // with it: no queue stays registered in the hub.
                    defer { running?.stop() }
                    try await withGracefulShutdownHandler {
                        for try await lines in inbound {
                            // The answers to lines that came in together go out together.
                            var pending = ""
                            for line in lines {
                                let (reply, after) = await dispatcher.answer(line, session: &session)
                                if case .stopNotices = after { _ = try await stopFeed() }
                                if case .startNotices(let subscription) = after {
                                    // Registered: from here on the queue must be ended whatever happens.
                                    running = subscription
                                }
                                var text = ""
                                reply.write(session.format, into: &text)
                                let most = dispatcher.settings.current.limits.outputBuffer
                                let size = text.utf8.count
                                if size > most, !reply.acknowledgesWrite {
                                    text = ""
                                    Reply(error: .limitExceeded("output_buffer",
                                        "the answer would be \(size) bytes, more than the \(most) one connection may have queued; ask for less (a smaller limit= for LIST or EXPORT)"))
                                        .write(session.format, into: &text)
                                }
                                // One write never carries more than output_buffer allows
                                // (unless one answer alone does: a write's acknowledgement).
                                if !pending.isEmpty, pending.utf8.count + text.utf8.count > most {
                                    try await send(pending)
                                    pending = ""
                                }
                                pending += text
                                switch after {
                                case .close:
                                    try await send(pending)
                                    return
                                case .startNotices(let subscription):
                                    // The subscription's answer goes before its first notice.
                                    try await send(pending)
                                    pending = ""
                                    let granted = session
                                    let feed = NoticeFeed(store: dispatcher.store, format: session.format,
                                                          includePersonalData: session.includePersonalData,
                                                          lines: dispatcher.hub.lines,
                                                          currentRole: { dispatcher.role(of: granted) })
                                    let capacity = dispatcher.subscriberBuffer
                                    let format = session.format
                                    feeds.addTask {
                                        let outcome = await feed.run(subscription, capacity: capacity, send: send, sendNow: sendNow)
                                        // A feed that cannot go on says why and where to resume, then
                                        // the connection closes.
                                        let bye: CasetrackError
                                        switch outcome {
                                        case .closed: return outcome
                                        case .overflow(let last):
                                            bye = SocketServer.overflow(after: last)
                                        case .gap(let oldest, _):
                                            var details = Fields()
                                            details.append("oldest", oldest)
                                            bye = CasetrackError(.gap, "retention trimmed the log during the replay; the oldest kept is \(oldest)",
                                                                 details: details)
                                        case .revoked(let last):
                                            var details = Fields()
                                            details.append("after", last)
                                            bye = CasetrackError(.notPermitted,
                                                "this connection's role no longer allows this subscription (the configuration was reloaded)",
                                                details: details)
                                        case .failed(let error, let last):
                                            var details = Fields()
                                            details.append("after", last)
                                            bye = CasetrackError(error.code, "the notices stopped: \(error.message)", details: details)
                                        }
                                        try? await send(ResponseLine.bye(bye).encoded(format) + "\n")
                                        try? await channel.channel.close()
                                        return outcome
                                    }
                                case .keepOpen, .stopNotices:
                                    if pending.utf8.count >= SocketServer.batchedOutput {
                                        try await send(pending)
                                        pending = ""
                                    }
                                }
                            }
                            if !pending.isEmpty { try await send(pending) }
                        }
                    } onGracefulShutdown: {
                        // Stop reading new requests; the ones already read are answered first.
                        channel.channel.close(mode: .input, promise: nil)
                    }
                    // A subscriber keeps its sending side open; its end of input ends the feed too.
                    let outcome = try? await stopFeed()
                    // Notices written without waiting (sendNow) reach the socket before it
                    // closes: writes complete in order, so waiting for an empty one suffices.
                    try? await channel.channel.writeAndFlush(ByteBuffer()).get()
                    if Task.isShuttingDownGracefully {
                        var bye = CasetrackError(.shuttingDown, "the daemon is stopping; reconnect later")
                        if case .closed(let last) = outcome { bye.details.append("after", last) }
                        try await send(ResponseLine.bye(bye).encoded(session.format) + "\n")
                    }
                }
            }
        } catch {
            logger.debug("connection ended", metadata: ["error": "\(error)", "peer_uid": "\(session.peer.uid)"])
        }
    }

    static func overflow(after last: Int64) -> CasetrackError {
        var details = Fields()
        details.append("after", last)
        return CasetrackError(.overflow,
            "too many notices waited for this subscriber (it did not read them in time); resubscribe with since=\(last) to get the rest",
            details: details)
    }

    /// Makes `path` ours to bind: refuses when another daemon answers there, removes a stale
    /// socket left by a crash, refuses to replace anything that is not a socket.
    public static func claim(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw CasetrackError(.internalError, "\(path) exists and is not a socket; refusing to replace it")
        }
        switch UnixSocket.connect(to: path) {
        case .success(let probe):
            close(probe)
            throw CasetrackError(.internalError, "another daemon is already listening on \(path); stop it first or choose another --socket")
        case .failure(.pathTooLong):
            throw CasetrackError(.internalError, "socket path \(path) is too long for a Unix socket (max \(UnixSocket.maximumPathLength) bytes)")
        case .failure(.system(let code, _)) where code == ECONNREFUSED:
            break  // Nobody listens: a stale socket from a crash.
        case .failure(.system(_, let reason)):
            throw CasetrackError(.internalError, "cannot tell whether a daemon listens on \(path) (\(reason)); refusing to replace it")
        }
        unlink(path)
    }
}

/// Connections accepted but not yet taken by the accept loop.
final class AcceptedConnections: Sendable {
    private let waiting = Mutex<[ObjectIdentifier: NIOAsyncChannel<[InboundLine], ByteBuffer>]>([:])

    func insert(_ connection: NIOAsyncChannel<[InboundLine], ByteBuffer>) {
        waiting.withLock { $0[ObjectIdentifier(connection.channel)] = connection }
    }

    func remove(_ connection: NIOAsyncChannel<[InboundLine], ByteBuffer>) {
        _ = waiting.withLock { $0.removeValue(forKey: ObjectIdentifier(connection.channel)) }
    }

    func removeAll() -> [NIOAsyncChannel<[InboundLine], ByteBuffer>] {
        waiting.withLock { waiting in
            defer { waiting = [:] }
            return Array(waiting.values)
        }
    }
}

/// Every open connection, so that shutdown can close the ones that do not finish.
final class LiveConnections: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    func insert(_ channel: any Channel) { channels.withLock { $0[ObjectIdentifier(channel)] = channel } }

    func remove(_ channel: any Channel) { _ = channels.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) } }

    func closeAll() {
        for channel in channels.withLock({ Array($0.values) }) { channel.close(promise: nil) }
    }
}
