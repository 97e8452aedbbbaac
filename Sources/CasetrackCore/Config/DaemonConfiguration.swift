/// The daemon's settings: built-in defaults, overridden by the configuration file, overridden
/// by command-line options.
///
/// The file has one `key = value` a line; `#` starts a comment; values may be quoted like
/// protocol values. An unknown key or a bad value is an error that names the line.
public struct DaemonConfiguration: Hashable, Sendable {
    /// Where the daemon listens when systemd does not hand it a socket.
    public var socketPath = "/run/casetrack.sock"
    /// Permissions of the socket the daemon binds itself: owner and group may connect.
    public var socketMode: UInt32 = 0o660
    /// The SQLite database file.
    public var databasePath = "/var/lib/casetrack/casetrack.sqlite"
    /// `trace`, `debug`, `info`, `notice`, `warning`, `error` or `critical`.
    public var logLevel = "info"
    /// How long a write waits for a lock another process holds on the database, in seconds,
    /// before the daemon gives up and stops (it never answers a write it could not commit).
    public var busyTimeout = 10
    /// The longest request line, in bytes.
    public var maximumLineLength = 65_536
    /// Threads that read requests and write answers and notices; nil (`auto`): one fewer
    /// than the cores, at least one (``eventLoopCount(cores:)``).
    public var eventLoops: Int?
    /// Time alerts: held thresholds and days without update.
    public var alerts = AlertPolicy()
    /// How much of the event log to keep.
    public var retention = Retention.all
    /// Notices queued for one subscriber that has not read them yet; past this it gets a
    /// final `BYE overflow` line saying where to resume, and is disconnected.
    public var subscriberBuffer = 10_000
    /// Seconds between two looks for due time alerts and events to trim (also done at start).
    public var housekeepingInterval = 300
    /// `auto` (journald when present, else standard error), `journal` or `stderr`.
    public var logTarget = "auto"
    /// Whether log messages may carry names. Off: the journal holds ids, statuses and
    /// sequence numbers, never who the person is.
    public var logPersonalData = false
    /// Users and groups per role, as the `observers`, `readers`, `writers` and `admins` keys
    /// name them; looked up into an ``AccessPolicy`` when the daemon reads the file. Empty:
    /// only root and the daemon's own user may do anything.
    public var members: [Role: [Principal]] = [:]
    /// Whether each read of full records (GET, HISTORY, LIST) is logged with who read what.
    public var auditReads = false
    /// What one client may take of the daemon.
    public var limits = ConnectionLimits()
    /// Where the register is kept: one SQLite file, or PostgreSQL shared by several offices
    /// (the SQLite file is then this office's copy).
    public var store = StoreKind.sqlite
    /// The shared store (`store = postgresql`).
    public var postgresql: PostgresConnInfo?
    /// A file holding the PostgreSQL password (its first line), for password authentication.
    public var postgresqlPasswordFile: String?
    /// This office's name, recorded in every event it writes (several offices on one register).
    public var office: String?

    public enum StoreKind: String, CaseIterable, Sendable {
        case sqlite
        case postgresql
    }

    /// Keys a reload (SIGHUP) puts in force; the others need a restart.
    public static let reloadableKeys = ["log_level", "log_personal_data", "held_alerts", "stale_after", "proof_alerts", "retention",
                                        "subscriber_buffer", "housekeeping_interval", "observers", "readers", "writers",
                                        "admins", "audit_reads", "postgresql", "postgresql_password_file"] + ConnectionLimits.keys
    public static let logTargets = ["auto", "journal", "stderr"]

    /// This configuration with the reloadable settings of `new`, and the names of the other
    /// settings that differ in `new` (they wait for a restart).
    public func reloaded(from new: DaemonConfiguration) -> (DaemonConfiguration, needRestart: [String]) {
        var result = self
        result.logLevel = new.logLevel
        result.logPersonalData = new.logPersonalData
        result.alerts = new.alerts
        result.retention = new.retention
        result.subscriberBuffer = new.subscriberBuffer
        result.housekeepingInterval = new.housekeepingInterval
        result.members = new.members
        result.auditReads = new.auditReads
        result.limits = new.limits
        // A failover moves the shared store: the daemon connects to the new server.
        if new.store == store, store == .postgresql {
            result.postgresql = new.postgresql
            result.postgresqlPasswordFile = new.postgresqlPasswordFile
        }
        var needRestart: [String] = []
        if new.socketPath != socketPath { needRestart.append("socket") }
        if new.socketMode != socketMode { needRestart.append("socket_mode") }
        if new.databasePath != databasePath { needRestart.append("database") }
        if new.busyTimeout != busyTimeout { needRestart.append("busy_timeout") }
        if new.maximumLineLength != maximumLineLength { needRestart.append("max_line_length") }
        if new.eventLoops != eventLoops { needRestart.append("event_loops") }
        if new.logTarget != logTarget { needRestart.append("log_target") }
        if new.store != store { needRestart.append("store") }
        if new.postgresql != result.postgresql { needRestart.append("postgresql") }
        if new.postgresqlPasswordFile != result.postgresqlPasswordFile { needRestart.append("postgresql_password_file") }
        if new.office != office { needRestart.append("office") }
        return (result, needRestart)
    }

    public static let defaultPath = "/etc/casetrack/casetrackd.conf"
    /// Every key the file may set.
    public static let keys = ["socket", "socket_mode", "database", "busy_timeout", "log_level", "log_target",
                              "log_personal_data", "max_line_length", "event_loops", "held_alerts", "stale_after", "proof_alerts", "retention",
                              "subscriber_buffer", "housekeeping_interval", "observers", "readers", "writers", "admins",
                              "audit_reads", "store", "postgresql", "postgresql_password_file", "office"] + ConnectionLimits.keys
    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    public init() {}

    /// Applies the settings of a configuration file's text. `origin` names the file in errors.
    public mutating func apply(fileText: String, origin: String) throws {
        // All or nothing: a file with one bad line leaves the settings as they were.
        var updated = self
        // By any line end: Swift takes "\r\n" as one character, so a file saved with Windows
        // line ends split on "\n" alone was one line, cut at its first comment: every
        // setting silently dropped.
        for (offset, rawLine) in fileText.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let number = offset + 1
            let text = String(DaemonConfiguration.withoutComment(rawLine)).trimmingWhitespace()
            if text.isEmpty { continue }
            func fail(_ message: String) -> CasetrackError {
                CasetrackError.badArgument("\(origin):\(number): \(message)")
            }
            guard let equals = text.firstIndex(of: "=") else { throw fail("expected key = value") }
            let key = String(text[..<equals]).trimmingWhitespace()
            let rawValue = String(text[text.index(after: equals)...]).trimmingWhitespace()
            let value: String
            do {
                let tokens = try LineCodec.tokenize(rawValue)
                guard tokens.count == 1, case .value(let single) = tokens[0] else {
                    throw fail("the value of \(key) must be one word or a quoted string")
                }
                value = single
            } catch let error as CasetrackError where error.code == .badRequest {
                throw fail(error.message)
            }
            try updated.set(key, value, fail: fail)
        }
        if updated.store == .postgresql, updated.postgresql == nil {
            throw CasetrackError.badArgument("\(origin): store = postgresql needs postgresql = \"host=... dbname=... user=...\" (the shared store's connection string)")
        }
        self = updated
    }

    /// How many event loops to run on a machine with `cores` cores. `auto` leaves a core to
    /// the store's one writer thread, which every write waits for: measured on two cores, a
    /// second loop beside it took the core the writer and the subscribers' own reads needed,
    /// and a notice's p99 with 1,000 subscribers was 15-62 ms against 7-8 ms with one loop
    /// (docs/PERFORMANCE.md).
    public func eventLoopCount(cores: Int) -> Int { eventLoops ?? max(1, cores - 1) }

    /// An office name: short, one word, readable in history and notices.
    public static func isOfficeName(_ name: String) -> Bool {
        (1...64).contains(name.count) && name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" }
    }

    static func yesNo(_ key: String, _ value: String, fail: (String) -> CasetrackError) throws -> Bool {
        switch value {
        case "yes": return true
        case "no": return false
        default: throw fail("\(key) must be yes or no")
        }
    }

    /// The line up to a `#` that stands outside quotes.
    static func withoutComment(_ line: Substring) -> Substring {
        var quoted = false
        var escaped = false
        for index in line.indices {
            let character = line[index]
            if escaped { escaped = false; continue }
            if quoted, character == "\\" { escaped = true; continue }
            if character == "\"" { quoted.toggle() }
            if character == "#", !quoted { return line[..<index] }
        }
        return line
    }

    private mutating func set(_ key: String, _ value: String, fail: (String) -> CasetrackError) throws {
        switch key {
        case "socket":
            guard value.hasPrefix("/") else { throw fail("socket must be an absolute path") }
            socketPath = value
        case "socket_mode":
            guard value.count <= 4, let mode = UInt32(value, radix: 8), mode <= 0o777 else {
                throw fail("socket_mode must be octal permissions such as 0660")
            }
            socketMode = mode
        case "database":
            guard value.hasPrefix("/") else { throw fail("database must be an absolute path") }
            databasePath = value
        case "log_level":
            guard DaemonConfiguration.logLevels.contains(value) else {
                throw fail("log_level must be one of \(DaemonConfiguration.logLevels.joined(separator: ", "))")
            }
            logLevel = value
        case "busy_timeout":
            guard let seconds = Int(value), (1...3_600).contains(seconds) else {
                throw fail("busy_timeout must be a number of seconds from 1 to 3600")
            }
            busyTimeout = seconds
        case "max_line_length":
            guard let number = Int(value), (1_024...16_777_216).contains(number) else {
                throw fail("max_line_length must be a number of bytes from 1024 to 16777216")
            }
            maximumLineLength = number
        case "event_loops":
            if value == "auto" {
                eventLoops = nil
            } else {
                guard let number = Int(value), (1...256).contains(number) else {
                    throw fail("event_loops must be auto or a number of threads from 1 to 256")
                }
                eventLoops = number
            }
        case "log_target":
            guard DaemonConfiguration.logTargets.contains(value) else {
                throw fail("log_target must be one of \(DaemonConfiguration.logTargets.joined(separator: ", "))")
            }
            logTarget = value
        case "log_personal_data":
            logPersonalData = try DaemonConfiguration.yesNo(key, value, fail: fail)
        case "audit_reads":
            auditReads = try DaemonConfiguration.yesNo(key, value, fail: fail)
        case "observers", "readers", "writers", "admins":
            guard let role = Role.allCases.first(where: { $0.listKey == key }) else { throw fail("unknown key '\(key)'") }
            var principals: [Principal] = []
            for part in value.split(separator: ",") {
                let entry = String(part).trimmingWhitespace()
                if entry.isEmpty { continue }
                guard let principal = Principal(entry) else {
                    throw fail("\(key): '\(entry.prefix(70))' is not a user (name or uid) or a group (@name or @gid)")
                }
                principals.append(principal)
            }
            members[role] = principals
        case "held_alerts", "proof_alerts":
            var thresholds: [HeldDuration] = []
            if value != "off" {
                for part in value.split(separator: ",", omittingEmptySubsequences: false) {
                    guard let duration = HeldDuration(String(part).trimmingWhitespace()), duration.rank > 0 else {
                        throw fail("\(key) must be off or durations such as \(key == "held_alerts" ? "1y,5y,8y" : "1y,3y")")
                    }
                    thresholds.append(duration)
                }
                guard Set(thresholds.map(\.rank)).count == thresholds.count else { throw fail("\(key) lists a duration twice") }
            }
            thresholds.sort { $0.rank < $1.rank }
            if key == "held_alerts" { alerts.heldThresholds = thresholds } else { alerts.proofThresholds = thresholds }
        case "stale_after":
            if value == "off" { alerts.staleAfterDays = nil; return }
            guard value.hasSuffix("d"), let days = Int(value.dropLast()), (1...36_500).contains(days) else {
                throw fail("stale_after must be off or a number of days such as 180d")
            }
            alerts.staleAfterDays = days
        case "retention":
            guard let retention = Retention(value) else {
                throw fail("retention must be all, a number of days such as 730d, or a number of events such as 1000000")
            }
            self.retention = retention
        case "subscriber_buffer":
            guard let number = Int(value), (16...1_000_000).contains(number) else {
                throw fail("subscriber_buffer must be a number of notices from 16 to 1000000")
            }
            subscriberBuffer = number
        case "housekeeping_interval":
            guard let seconds = Int(value), (1...86_400).contains(seconds) else {
                throw fail("housekeeping_interval must be a number of seconds from 1 to 86400")
            }
            housekeepingInterval = seconds
        case "store":
            guard let kind = StoreKind(rawValue: value) else {
                throw fail("store must be one of \(StoreKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            store = kind
        case "postgresql":
            do {
                postgresql = try PostgresConnInfo(value)
            } catch let error as CasetrackError {
                throw fail(error.message)
            }
        case "postgresql_password_file":
            guard value.hasPrefix("/") else { throw fail("postgresql_password_file must be an absolute path") }
            postgresqlPasswordFile = value
        case "office":
            guard Self.isOfficeName(value) else {
                throw fail("office must be 1 to 64 letters, digits, '.', '-' or '_' (it names this office in every event)")
            }
            office = value
        case _ where ConnectionLimits.keys.contains(key):
            try limits.set(key, value, fail: fail)
        default:
            throw fail("unknown key '\(key)'; known keys: \(DaemonConfiguration.keys.joined(separator: ", "))")
        }
    }
}
