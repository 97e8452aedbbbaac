#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CasetrackCore
import CasetrackPOSIX
import CasetrackServer
import CasetrackStore
import Logging
import NIOPosix
import ServiceLifecycle

@main
struct CasetrackDaemon: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "casetrackd",
        abstract: "Keep the record of missing and captive people and answer on a Unix socket.",
        discussion: """
            casetrackd owns the case database and serves the casetrack line protocol (docs/PROTOCOL.md) \
            on a Unix socket. Every acknowledged change is committed to disk first. SIGTERM or SIGINT \
            stops it gracefully.

            Settings come from the built-in defaults, then the configuration file, then these options.
            """,
        version: version)

    @Option(name: .long, help: ArgumentHelp("The Unix socket to listen on.", valueName: "path"))
    var socket: String?

    @Option(name: .long, help: ArgumentHelp("The SQLite database file (created if missing).", valueName: "path"))
    var database: String?

    @Option(name: .long, help: ArgumentHelp(
        "The configuration file. Default: \(DaemonConfiguration.defaultPath) if it exists.", valueName: "file"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp(
        "Log level: \(DaemonConfiguration.logLevels.joined(separator: ", ")).", valueName: "level"))
    var logLevel: String?

    func run() async throws {
        let settings: DaemonConfiguration
        do {
            settings = try loadSettings()
        } catch let error as CasetrackError {
            throw ValidationError(error.message)
        }
        // Everything the daemon creates (database, WAL, folders) is for the service user only.
        umask(0o077)
        // SIGHUP will mean "reload"; until then it must not kill the daemon and strand its socket.
        signal(SIGHUP, SIG_IGN)
        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "casetrackd")

        let hub = NoticeHub()
        let store: SQLiteCaseStore
        do {
            // Refuse a busy socket before creating or opening anything.
            try SocketServer.claim(settings.socketPath)
            try Self.makeParentDirectory(of: settings.databasePath)
            store = try SQLiteCaseStore(path: settings.databasePath, busyTimeout: Double(settings.busyTimeout),
                                        onCommit: hub.publish)
            hub.begin(after: try await store.lastSequence())
        } catch {
            Self.fail("casetrackd: \((error as? CasetrackError)?.message ?? "\(error)")")
        }
        let dispatcher = Dispatcher(
            store: store, hub: hub, serverName: "casetrackd/\(Self.version)", maximumLineLength: settings.maximumLineLength,
            subscriberBuffer: settings.subscriberBuffer, logger: logger, now: Self.now)
        let housekeeping = Housekeeping(
            store: store, alerts: settings.alerts, retention: settings.retention,
            interval: .seconds(settings.housekeepingInterval), actor: Actor(uid: getuid(), pid: getpid()),
            logger: logger, now: Self.now)
        let server = SocketServer(
            socketPath: settings.socketPath, socketMode: settings.socketMode, dispatcher: dispatcher, group: MultiThreadedEventLoopGroup.singleton,
            logger: logger,
            onListening: { path in
                Self.write(1, "casetrackd: listening on \(path) (database \(settings.databasePath))\n")
            })
        // Order matters: services stop in reverse, so the server drains its connections while
        // the store's writer still commits their writes.
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: store), .init(service: housekeeping), .init(service: server)], logger: logger)
        configuration.gracefulShutdownSignals = [.sigterm, .sigint]
        // A client that never reads its answers must not hold the daemon past systemd's stop
        // timeout: after this long, in-flight work is cancelled and the daemon exits.
        configuration.maximumGracefulShutdownDuration = .seconds(15)
        configuration.maximumCancellationDuration = .seconds(5)
        let group = ServiceGroup(configuration: configuration)
        do {
            try await group.run()
        } catch {
            try? store.close()
            Self.fail("casetrackd: stopping on error: \((error as? CasetrackError)?.message ?? "\(error)")")
        }
        try store.close()
    }

    private func loadSettings() throws -> DaemonConfiguration {
        var settings = DaemonConfiguration()
        let path = config ?? (access(DaemonConfiguration.defaultPath, F_OK) == 0 ? DaemonConfiguration.defaultPath : nil)
        if let path {
            guard let text = Self.readFile(path) else {
                throw CasetrackError.badArgument("cannot read the configuration file \(path)")
            }
            try settings.apply(fileText: text, origin: path)
        }
        if let socket { settings.socketPath = socket }
        if let database { settings.databasePath = database }
        if let logLevel {
            guard DaemonConfiguration.logLevels.contains(logLevel) else {
                throw CasetrackError.badArgument("--log-level must be one of \(DaemonConfiguration.logLevels.joined(separator: ", "))")
            }
            settings.logLevel = logLevel
        }
        return settings
    }

    static func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(unixMilliseconds: Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000)
    }

    static func readFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Creates the database's folder (mode 0700: the data is personal) when it is missing.
    static func makeParentDirectory(of path: String) throws {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        let directory = String(path[..<slash])
        if access(directory, F_OK) == 0 { return }
        try makeParentDirectory(of: directory)
        guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
            throw CasetrackError(.storageFailure, "cannot create the folder \(directory): \(String(cString: strerror(errno)))")
        }
    }

    static func fail(_ message: String) -> Never {
        write(2, message + "\n")
        Glibc.exit(1)
    }

    static func write(_ fd: Int32, _ text: String) { FileDescriptorOutput.write(fd, text) }
}
