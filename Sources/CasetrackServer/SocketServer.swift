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

/// The Unix-socket server: binds its listeners, accepts connections and hands each to a
/// ``Connection`` on the connection's own event loop.
///
/// Shutdown is graceful: on the shutdown signal it stops accepting, lets each connection
/// finish the requests it already sent (the connection then says `BYE shutting-down`), and
/// closes those that do not finish within a grace period.
public struct SocketServer: Service {
    public let listeners: [Listener]
    public let dispatcher: Dispatcher
    public let notices: NoticeService
    let group: any EventLoopGroup
    let logger: Logger
    let onListening: @Sendable ([Listener]) -> Void

    public init(listeners: [Listener], dispatcher: Dispatcher, notices: NoticeService, group: any EventLoopGroup,
                logger: Logger, onListening: @escaping @Sendable ([Listener]) -> Void = { _ in }) {
        self.listeners = listeners
        self.dispatcher = dispatcher
        self.notices = notices
        self.group = group
        self.logger = logger
        self.onListening = onListening
    }

    typealias ServerChannel = NIOAsyncChannel<Connection, Never>

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
                                    group.addTask(executorPreference: executor) { await connection.run() }
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
        let dispatcher = self.dispatcher
        let notices = self.notices
        let bootstrap = ServerBootstrap(group: group)
            // Clients reconnecting at once after a restart (a thousand subscribers) wait in
            // this queue; a full one refuses them. The kernel's ceiling (SOMAXCONN), as
            // systemd's socket units have by default.
            .serverChannelOption(.backlog, value: Self.backlog)
            // Without it a client that sends and then half-closes (`echo PING | socat …`)
            // would be dropped before its answer.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
        let initializer: @Sendable (any Channel) -> EventLoopFuture<Connection> = { channel in
            PeerCredentials.read(channel).flatMapThrowing { peer -> Connection in
                let watch = ConnectionWatch()
                try channel.pipeline.syncOperations.addHandler(NoticeOutlet())
                try channel.pipeline.syncOperations.addHandler(PartialLineTracker(watch: watch))
                try channel.pipeline.syncOperations.addHandler(
                    ByteToMessageHandler(RequestLineDecoder(maximumLength: maximumLength,
                                                            dropsTail: { watch.dropsTail.load(ordering: .relaxed) })))
                let state = ConnectionState(session: Session(peer: peer, listener: name, cap: cap, logger: logger))
                try channel.pipeline.syncOperations.addHandler(ImmediateReads(state: state, dispatcher: dispatcher, watch: watch))
                try channel.pipeline.syncOperations.addHandler(LineBatcher())
                let connection = try NIOAsyncChannel<[InboundLine], ByteBuffer>(wrappingChannelSynchronously: channel)
                accepted.insert(connection)
                live.insert(channel)
                let peerLogger = state.session.logger
                let refusal = counter.admit(uid: peer.uid, limits: settings.current.limits)
                if let refusal {
                    peerLogger.notice("client disconnected", metadata: [
                        "message_id": "\(MessageID.clientLimited)", "limit": "\(refusal.details.string("limit") ?? "")",
                    ])
                } else {
                    watch.start(on: channel, settings: settings, logger: peerLogger)
                }
                channel.closeFuture.whenComplete { _ in
                    live.remove(channel)
                    if refusal == nil { counter.release(uid: peer.uid) }
                }
                return Connection(channel: connection, refusal: refusal, watch: watch,
                                  logger: peerLogger, dispatcher: dispatcher, notices: notices,
                                  state: NIOLoopBound(state, eventLoop: channel.eventLoop))
            }
        }
        switch listener {
        case .inherited(let fd, _):
            let server = try await bootstrap.bind(fd, childChannelInitializer: initializer)
            // NIO listens again on a socket it is handed, with its default queue of 128, before
            // the option above applies: systemd's queue (Backlog=, SOMAXCONN) is given back.
            _ = Glibc.listen(fd, Self.backlog)
            return server
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

    static let backlog: Int32 = 4096

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
