// Over 400 lines: the daemon's start is one sequence (settings, store, hub, server, systemd,
// the fault and reload hooks) that reads best top to bottom in one place.
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CasetrackCore
#if Postgres
import CasetrackPostgres
#endif
import CasetrackPOSIX
import CasetrackServer
import CasetrackStore
import CasetrackSystemd
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

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

    @Option(name: .long, help: ArgumentHelp(
        "Where to log: auto (journald when present, else standard error), journal or stderr.", valueName: "target"))
    var logTarget: String?

    @Flag(name: .long, help: "Read the configuration, report the first error (or that it is good), and exit.")
    var checkConfig = false

    @Flag(name: .long, help: ArgumentHelp(
        "Remake the database from its event log alone, verify it, put it in place of the old file (kept beside it), and exit.",
        discussion: "The daemon must be stopped. If the log is damaged it is cut at the last event that reads and links, and the old file stays in place unless --accept-loss is given."))
    var rebuild = false

    @Flag(name: .long, help: "With --rebuild: put the rebuilt file in place even if the log was cut or a table could not be copied.")
    var acceptLoss = false

    @Option(name: .customLong("migrate-to-postgresql"), help: ArgumentHelp(
        "Move this host's register (the database) into an empty PostgreSQL database, as the shared register of several offices, verify it, and exit.",
        discussion: "CONNINFO is a connection string as for the postgresql setting. Ids, history, sequence numbers and the event chain are kept; the daemon must be stopped. Then set store = postgresql in the configuration and start it.",
        valueName: "conninfo"))
    var migrateToPostgresql: String?

    func validate() throws {
        if acceptLoss && !rebuild { throw ValidationError("--accept-loss only goes with --rebuild") }
        if rebuild && checkConfig { throw ValidationError("--rebuild and --check-config do not go together") }
        if migrateToPostgresql != nil && (rebuild || checkConfig) {
            throw ValidationError("--migrate-to-postgresql goes with neither --rebuild nor --check-config")
        }
    }

    func run() async throws {
        let settings: DaemonConfiguration
        let access: AccessPolicy
        do {
            settings = try loadSettings()
            access = try Self.accessPolicy(settings)
        } catch let error as CasetrackError {
            throw ValidationError(error.message)
        }
        // Before anything uses NIO's loops (the shared store's connections do too); NIO takes
        // this once, and only before its first use.
        let eventLoops = settings.eventLoopCount(cores: System.coreCount)
        NIOSingletons.groupLoopCountSuggestion = eventLoops
        if checkConfig {
            if settings.store == .postgresql {
                // The shared store must answer too: a configuration that cannot reach it is not good.
                do {
                    let shared = try Self.sharedLog(settings, logger: Logger(label: "casetrackd"))
                    defer { shared.close() }
                    let register = try shared.probe()
                    Self.write(1, "casetrackd: the shared store answers; " + (register.map {
                        "it holds the register \($0.id) at round \($0.round)\n"
                    } ?? "it holds no register yet (the first daemon to start creates it)\n"))
                } catch let failure as SharedLogFailure {
                    throw ValidationError("the shared store cannot be reached: \(failure.message)")
                } catch let error as CasetrackError {
                    throw ValidationError(error.message)
                }
            }
            Self.write(1, "casetrackd: the configuration is good\n")
            return
        }
        if rebuild {
            umask(0o077)
            throw ExitCode(Self.rebuild(settings.databasePath, acceptLoss: acceptLoss))
        }
        if let connInfo = migrateToPostgresql {
            umask(0o077)
            throw ExitCode(await Self.migrate(settings, to: connInfo))
        }
        // Everything the daemon creates (database, WAL, folders) is for the service user only.
        umask(0o077)
        // SIGHUP means "reload": until the reload service traps it, it must not kill the daemon.
        signal(SIGHUP, SIG_IGN)
        let level = SharedLogLevel(Logger.Level(rawValue: settings.logLevel) ?? .info)
        let target = LogTarget(rawValue: settings.logTarget) ?? .auto
        LoggingSystem.bootstrap { _ in JournalLogHandler(identifier: "casetrackd", target: target, level: level) }
        let logger = Logger(label: "casetrackd")
        let journal = target.resolved == .journal ? logger : nil
        logger.notice("casetrackd \(Self.version) starting", metadata: [
            "message_id": "\(MessageID.started)", "database": "\(settings.databasePath)", "log_target": "\(target.resolved)",
            "event_loops": "\(eventLoops)",
        ])

        let hub = NoticeHub()
        // Why writes are being refused (a full disk, a damaged file), for the status line.
        let writeFault = Mutex<CasetrackError?>(nil)
        let live = LiveSettings(settings, access: access)
        // One file descriptor per client: the usual soft limit (1024) is below max_connections.
        let files = FilePermissions.raiseOpenFileLimit(to: settings.limits.maxConnections + 256)
        if files < settings.limits.maxConnections + 64 {
            logger.warning("only \(files) open files are allowed (ulimit -n): fewer connections than max_connections = \(settings.limits.maxConnections) can be accepted; raise LimitNOFILE=")
        }
        let store: SQLiteCaseStore
        let listeners: [Listener]
        let shared: (any SharedLog)?
        do {
            listeners = try Self.listeners(settings, logger: logger)
            // Refuse a busy socket before creating or opening anything.
            for case .path(let path, _) in listeners { try SocketServer.claim(path) }
            try Self.makeParentDirectory(of: settings.databasePath)
            shared = settings.store == .postgresql ? try Self.sharedLog(settings, logger: logger) : nil
            store = try SQLiteCaseStore(path: settings.databasePath, busyTimeout: Double(settings.busyTimeout),
                                        shared: shared, office: settings.office,
                                        onCommit: hub.publish, onFault: { fault in
                writeFault.withLock { $0 = fault }
                switch fault?.code {
                case .storageFull?:
                    logger.critical("the disk is full: writes are refused until there is space; reads go on", metadata: [
                        "message_id": "\(MessageID.storageFull)", "database": "\(settings.databasePath)", "error": "\(fault?.message ?? "")",
                    ])
                case .storageDamaged? where shared != nil:
                    // An office's copy: made anew from the register, not rebuilt; the error
                    // says which disagreement it is and what to do.
                    logger.critical("writes are refused: \(fault?.message ?? "")", metadata: [
                        "message_id": "\(MessageID.storageDamaged)", "database": "\(settings.databasePath)",
                    ])
                case .storageDamaged?:
                    logger.critical("the database file is damaged: writes are refused; stop the daemon and run casetrackd --rebuild, or restore the latest backup", metadata: [
                        "message_id": "\(MessageID.storageDamaged)", "database": "\(settings.databasePath)", "error": "\(fault?.message ?? "")",
                    ])
                case .storageUnavailable?:
                    logger.error("the shared store cannot be reached: writes are refused until it answers; reads are served from this office's copy", metadata: [
                        "message_id": "\(MessageID.storageUnavailable)", "postgresql": "\(settings.postgresql?.description ?? "")",
                        "error": "\(fault?.message ?? "")",
                    ])
                case nil:
                    logger.notice("writes resumed", metadata: ["message_id": "\(MessageID.writesResumed)"])
                default:
                    logger.critical("writes are refused: \(fault?.message ?? "")", metadata: ["message_id": "\(MessageID.storageFailure)"])
                }
            })
            // A refusal by the register was told through onFault already, with its own id.
            if let problem = store.startupProblem, problem.code == .storageUnavailable {
                logger.error("\(problem.message)", metadata: ["message_id": "\(MessageID.storageUnavailable)"])
            }
            hub.begin(after: try await store.lastSequence())
            // Personal data: the folder and the files are for the service user only.
            let folder = settings.databasePath.lastIndex(of: "/").map { String(settings.databasePath[..<$0]) } ?? "."
            let warnings = [FilePermissions.warning(for: folder.isEmpty ? "/" : folder, expected: 0o700, what: "the data folder")]
                + ["", "-wal", "-shm"].map {
                    FilePermissions.warning(for: settings.databasePath + $0, expected: 0o600, what: "the database file")
                }
            for case let warning? in warnings { logger.warning("\(warning)") }
        } catch {
            Self.fail("casetrackd: \((error as? CasetrackError)?.message ?? "\(error)")", journal: journal,
                      id: (error as? CasetrackError)?.code == .storageFailure ? MessageID.storageFailure : MessageID.startFailed)
        }
        let notices = NoticeService(store: store, hub: hub, settings: live)
        let dispatcher = Dispatcher(
            store: store, notices: notices, serverName: "casetrackd/\(Self.version)", maximumLineLength: settings.maximumLineLength,
            settings: live, logger: logger, now: Self.now)
        let housekeeping = Housekeeping(store: store, settings: live, actor: Actor(uid: getuid(), pid: getpid()),
                                        logger: logger, now: Self.now)
        let ready = ReadySignal()
        let server = SocketServer(
            listeners: listeners, dispatcher: dispatcher, notices: notices, group: MultiThreadedEventLoopGroup.singleton, logger: logger,
            onListening: { listeners in
                let where_ = listeners.map(\.description).joined(separator: ", ")
                Self.write(1, "casetrackd: listening on \(where_) (database \(settings.databasePath))\n")
                logger.notice("ready", metadata: ["message_id": "\(MessageID.ready)", "socket": "\(where_)"])
                ready.open()
            })
        // The case count changes only with an event: counted again only then.
        let counted = Mutex<(seq: Int64, cases: Int)?>(nil)
        let status: @Sendable () async -> String = {
            let seq = hub.lastSequence
            var cases = counted.withLock { $0?.seq == seq ? $0?.cases : nil }
            if cases == nil, let fresh = try? await store.count(CaseFilter(), today: Self.now().day) {
                counted.withLock { $0 = (seq, fresh) }
                cases = fresh
            }
            let head = (try? await store.chainHead()).map { ", chain head \($0.hash.prefix(16))" } ?? ""
            let serving = "serving \(cases.map(String.init) ?? "?") cases, \(hub.subscriberCount) subscribers, last event \(seq)\(head)"
            switch writeFault.withLock({ $0?.code }) {
            case .storageFull?: return "disk full: writes refused, reads served; " + serving
            case .storageDamaged?: return "database damaged: writes refused, restore a backup; " + serving
            case .storageUnavailable?: return "shared store unreachable: writes refused, reads served from this office's copy; " + serving
            default: return serving
            }
        }
        let notify = NotifyService(ready: ready, logger: logger, status: status, healthCheck: {
            // The event loop turns and a reader gets through: otherwise no keep-alive.
            try await MultiThreadedEventLoopGroup.singleton.any().submit {}.get()
            _ = try await store.lastSequence()
        })
        let reload = ReloadService(ready: ready) {
            await self.reload(live, level: level, shared: shared, logger: logger)
            return await status()
        }
        // Order matters: services stop in reverse, so STOPPING=1 goes out first, and the
        // server drains its connections while the store's writer still commits their writes.
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: store), .init(service: housekeeping), .init(service: server),
                       .init(service: reload), .init(service: notify)],
            logger: logger)
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
            let message = (error as? CasetrackError)?.message ?? "\(error)"
            Self.fail("casetrackd: stopping on error: \(message)", journal: journal, id: MessageID.storageFailure)
        }
        try store.close()
        logger.notice("stopped", metadata: ["message_id": "\(MessageID.stopping)"])
    }

    /// The shared store of `store = postgresql`, not yet connected. The office is named by the
    /// configuration, else after this host.
    static func sharedLog(_ settings: DaemonConfiguration, logger: Logger) throws -> any SharedLog {
        guard let connInfo = settings.postgresql else {
            throw CasetrackError.badArgument("store = postgresql needs postgresql = \"host=... dbname=... user=...\"")
        }
        #if Postgres
        return try PostgresSharedLog(connInfo, password: try password(settings), office: settings.office ?? hostName(),
                                     defaultUser: SystemAccounts().userName(uid: getuid()) ?? "casetrack", logger: logger)
        #else
        throw CasetrackError(.storageFailure,
            "this casetrackd was built without PostgreSQL (store = postgresql needs a build with the trait Postgres: make build-postgres, or the package of make deb PACKAGE_TRAITS=Postgres); nothing was changed")
        #endif
    }

    /// Points the shared store at `connInfo` (a reload).
    static func reconnect(_ shared: any SharedLog, to connInfo: PostgresConnInfo, settings: DaemonConfiguration) throws {
        #if Postgres
        guard let postgres = shared as? PostgresSharedLog else { return }
        try postgres.reconfigure(connInfo, password: try password(settings), defaultUser: SystemAccounts().userName(uid: getuid()) ?? "casetrack")
        #endif
    }

    static func password(_ settings: DaemonConfiguration) throws -> String? {
        guard let file = settings.postgresqlPasswordFile else { return nil }
        guard let text = readFile(file) else {
            throw CasetrackError.badArgument("cannot read postgresql_password_file \(file)")
        }
        return text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
    }

    /// This host's name, as an office name (only the characters an office name may have).
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "office" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let cleaned = String(name.prefix(64).map { DaemonConfiguration.isOfficeName(String($0)) ? $0 : "-" })
        return cleaned.isEmpty ? "office" : cleaned
    }

    /// Where to listen: the sockets systemd passed, else the configured path.
    static func listeners(_ settings: DaemonConfiguration, logger: Logger) throws -> [Listener] {
        let inherited = try ListenedSocket.fromEnvironment()
        guard !inherited.isEmpty else { return [.path(settings.socketPath, mode: settings.socketMode)] }
        // A socket name that is not a role would leave its reach unclear: refuse to start.
        for socket in inherited { _ = try Role.cap(forListener: socket.name) }
        return inherited.map { .inherited(fd: $0.fd, name: $0.name) }
    }

    /// The role lists of the configuration, looked up in the system's accounts.
    static func accessPolicy(_ settings: DaemonConfiguration) throws -> AccessPolicy {
        try AccessPolicy(members: settings.members, ownUID: getuid(), directory: SystemAccounts())
    }

    /// Re-reads the configuration file. A file that does not read or parse changes nothing.
    func reload(_ live: LiveSettings, level: SharedLogLevel, shared: (any SharedLog)?, logger: Logger) async {
        do {
            // Options given on the command line still win over the file (loadSettings applies them).
            let fresh = try loadSettings()
            let access = try Self.accessPolicy(fresh)
            let (next, needRestart) = live.current.reloaded(from: fresh)
            // The shared store moved (a failover to a promoted standby): connect there.
            if let shared, let connInfo = next.postgresql,
               connInfo != live.current.postgresql || next.postgresqlPasswordFile != live.current.postgresqlPasswordFile {
                try Self.reconnect(shared, to: connInfo, settings: next)
            }
            live.replace(with: next, access: access)
            level.value = Logger.Level(rawValue: next.logLevel) ?? .info
            logger.notice("configuration reloaded", metadata: [
                "message_id": "\(MessageID.reloaded)", "log_level": "\(next.logLevel)",
                "held_alerts": "\(next.alerts.heldThresholds.map(\.description).joined(separator: ","))",
                "proof_alerts": "\(next.alerts.proofThresholds.map(\.description).joined(separator: ","))",
                "retention": "\(next.retention)",
            ])
            if !needRestart.isEmpty {
                logger.warning("changed settings that take effect only at the next start: \(needRestart.joined(separator: ", "))")
            }
        } catch {
            let message = (error as? CasetrackError)?.message ?? "\(error)"
            logger.error("configuration refused, the previous one stays in force: \(message)",
                         metadata: ["message_id": "\(MessageID.reloadRefused)"])
        }
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
        if let logTarget {
            guard DaemonConfiguration.logTargets.contains(logTarget) else {
                throw CasetrackError.badArgument("--log-target must be one of \(DaemonConfiguration.logTargets.joined(separator: ", "))")
            }
            settings.logTarget = logTarget
        }
        return settings
    }

    /// `--rebuild`: what an operator needs to know, on standard output; progress on standard error.
    static func rebuild(_ path: String, acceptLoss: Bool) -> Int32 {
        let outcome: LogRebuild.Outcome
        do {
            outcome = try LogRebuild.run(path: path, acceptLoss: acceptLoss) { write(2, "casetrackd: \($0)\n") }
        } catch {
            write(2, "casetrackd: \((error as? CasetrackError)?.message ?? "\(error)")\n")
            return 1
        }
        var lines: [String] = []
        if let cut = outcome.cut {
            lines.append("the log ends early: \(cut); every change after event \(outcome.lastSeq) is lost")
        }
        for table in outcome.lostTables { lines.append("could not copy \(table); it is empty in the rebuilt file") }
        lines.append("rebuilt from the log: \(outcome.events) events (1 to \(outcome.lastSeq)), \(outcome.cases) cases, chain head \(outcome.head); verified")
        if let old = outcome.oldFile {
            lines.append("\(path) is the rebuilt database; the old file is kept as \(old)")
        } else {
            lines.append("the old file was left in place; the rebuilt one is \(outcome.rebuiltFile). Compare them, then run again with --accept-loss to use it")
        }
        write(1, lines.joined(separator: "\n") + "\n")
        return outcome.oldFile == nil ? 1 : 0
    }

    /// `--migrate-to-postgresql`: the register moved, or why not; progress on standard error.
    static func migrate(_ settings: DaemonConfiguration, to connInfo: String) async -> Int32 {
        var moving = settings
        moving.store = .postgresql
        do {
            moving.postgresql = try PostgresConnInfo(connInfo)
            let shared = try sharedLog(moving, logger: Logger(label: "casetrackd"))
            defer { shared.close() }
            let moved = try await SQLiteCaseStore.move(settings.databasePath, into: shared) { write(2, "casetrackd: \($0)\n") }
            write(1, """
                moved \(moved.cases) cases and \(moved.events) events (through \(moved.lastSequence), chain head \(moved.head)) into the shared register \(moved.register); read back and verified
                now set in the configuration: store = postgresql and postgresql = "\(connInfo)", then start the daemon; other offices join with an empty database file

                """)
            return 0
        } catch let failure as SharedLogFailure {
            write(2, "casetrackd: the shared store cannot be reached: \(failure.message); nothing was moved\n")
        } catch {
            write(2, "casetrackd: \((error as? CasetrackError)?.message ?? "\(error)")\n")
        }
        return 1
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

    /// Reports a fatal error and exits 1: on standard error (whoever started the daemon sees
    /// why it stopped) and, when logging to journald, there too with its MESSAGE_ID.
    static func fail(_ message: String, journal: Logger?, id: String) -> Never {
        journal?.critical("\(message)", metadata: ["message_id": "\(id)"])
        // Under systemd standard error is the journal already: one entry is enough.
        if journal == nil || !standardErrorIsJournal { write(2, message + "\n") }
        Glibc.exit(1)
    }

    /// Whether standard error is the journal stream systemd connected (`JOURNAL_STREAM`).
    static var standardErrorIsJournal: Bool {
        guard let stream = getenv("JOURNAL_STREAM").map({ String(cString: $0) }) else { return false }
        var info = stat()
        guard fstat(2, &info) == 0 else { return false }
        return stream == "\(info.st_dev):\(info.st_ino)"
    }

    static func write(_ fd: Int32, _ text: String) { FileDescriptorOutput.write(fd, text) }
}
