#if canImport(Glibc)
import Glibc
#endif
import CasetrackCore
import Foundation
import Synchronization

/// A throw-away PostgreSQL cluster for the shared-store tests: `initdb` in a folder of its
/// own, the server on a Unix socket in that folder only (no TCP), started and stopped with
/// `pg_ctl -w` (which waits for the server to accept or to be gone), trust authentication
/// for the user `casetrack`. As root (CI), the cluster belongs to the `postgres` user, since
/// PostgreSQL refuses to run as root.
///
/// `@unchecked Sendable`: its state is set once at `init`; the calls run programs.
public final class PostgresCluster: @unchecked Sendable {
    public let folder: URL
    public let data: URL
    /// Where the server's Unix socket is: beside the data, not in it (a base backup of the
    /// data would copy the socket's lock file, and the standby would refuse to start).
    public let sockets: URL
    public let user = "casetrack"
    private let asRoot = getuid() == 0
    private let bin: String

    /// The programs' folder of the newest installed PostgreSQL (Debian: /usr/lib/postgresql/N/bin).
    public static var binFolder: String? {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        return versions.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "/usr/lib/postgresql/\($0)/bin" }
            .first { FileManager.default.isExecutableFile(atPath: "\($0)/initdb") }
    }

    /// Creates and starts a cluster. `settings` are extra `-c name=value` server settings.
    /// With `standbyOf`, the cluster is a streaming standby of that one (pg_basebackup -R).
    public init(settings: [String] = [], standbyOf primary: PostgresCluster? = nil) throws {
        guard let bin = Self.binFolder else {
            throw CasetrackError(.internalError, "PostgreSQL is not installed (make deps installs Debian's postgresql)")
        }
        self.bin = bin
        // Under /tmp with mode 0755: the postgres user must reach the folder.
        folder = URL(fileURLWithPath: "/tmp").appendingPathComponent("ct-pg-\(UUID().uuidString.prefix(8))")
        data = folder.appendingPathComponent("data")
        sockets = folder.appendingPathComponent("sockets")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: sockets, withIntermediateDirectories: true)
        chmod(folder.path, 0o755)
        chmod(data.path, 0o700)
        if asRoot { try Self.run("/bin/chown", ["-R", "postgres", folder.path]) }
        if let primary {
            try run("pg_basebackup", ["-h", primary.sockets.path, "-U", user, "-D", data.path, "-R", "--no-sync", "-X", "stream"])
        } else {
            try run("initdb", ["-D", data.path, "-A", "trust", "-U", user, "--no-sync", "-E", "UTF8", "--locale=C"])
        }
        let options = ["-k", sockets.path, "-c", "listen_addresses=", "-c", "fsync=on", "-c", "synchronous_commit=on"]
            + settings.flatMap { ["-c", $0] }
        self.options = options
        try start(options: options)
        // A suite's cluster is a static that lives to the end of the test process, whose
        // deinit never runs: the server is stopped at exit instead of outliving the tests.
        _ = Self.stopAtExit
        let pgctl = "\(bin)/pg_ctl", path = data.path, folder = self.folder.path, asRoot = self.asRoot
        Self.running.withLock { $0[path] = (pgctl, folder, asRoot) }
    }

    private static let running = Mutex<[String: (pgctl: String, folder: String, asRoot: Bool)]>([:])
    private static let stopAtExit: Void = { atexit { PostgresCluster.stopAll() } }()

    private static func stopAll() {
        for (data, cluster) in running.withLock({ $0 }) {
            let arguments = ["-D", data, "-m", "immediate", "-w", "stop"]
            _ = cluster.asRoot ? try? Spawned.detached("/usr/sbin/runuser", ["-u", "postgres", "--", cluster.pgctl] + arguments).wait()
                : try? Spawned.detached(cluster.pgctl, arguments).wait()
            try? FileManager.default.removeItem(atPath: cluster.folder)
        }
    }

    private var options: [String] = []

    deinit {
        _ = try? run("pg_ctl", ["-D", data.path, "-m", "immediate", "-w", "stop"])
        _ = Self.running.withLock { $0.removeValue(forKey: data.path) }
        try? FileManager.default.removeItem(at: folder)
    }

    /// A libpq connection string for `database`, as `postgresql =` takes it.
    public func connInfo(database: String) -> String { "host=\(sockets.path) dbname=\(database) user=\(user)" }

    /// Creates an empty database.
    public func createDatabase(_ name: String) throws { try psql("CREATE DATABASE \(name)", database: "postgres") }

    /// Runs SQL through psql; returns its unaligned, tuples-only output.
    @discardableResult
    public func psql(_ sql: String, database: String) throws -> String {
        try run("psql", ["-h", sockets.path, "-U", user, "-d", database, "-v", "ON_ERROR_STOP=1", "-Atc", sql])
    }

    /// Stops the server (fast shutdown: connections are cut, nothing committed is lost).
    public func stop() throws { try run("pg_ctl", ["-D", data.path, "-m", "fast", "-w", "stop"]) }

    /// Stops the server as a crash would (immediate shutdown: no checkpoint, recovery at the
    /// next start): the loss of the database host, as far as its clients can tell.
    public func crash() throws { try run("pg_ctl", ["-D", data.path, "-m", "immediate", "-w", "stop"]) }

    /// Makes a standby the primary (waits until it accepts writes).
    public func promote() throws { try run("pg_ctl", ["-D", data.path, "-w", "promote"]) }

    /// Starts it again after `stop`.
    public func start() throws { try start(options: options) }

    private func start(options: [String]) throws {
        let quoted = options.map { "'\($0)'" }.joined(separator: " ")
        let arguments = ["-D", data.path, "-l", folder.appendingPathComponent("server.log").path, "-o", quoted, "-w", "-t", "60", "start"]
        // Not through Foundation's Process: see Spawned.
        let status = asRoot ? try Spawned.detached("/usr/sbin/runuser", ["-u", "postgres", "--", "\(bin)/pg_ctl"] + arguments).wait()
            : try Spawned.detached("\(bin)/pg_ctl", arguments).wait()
        guard status == 0 else {
            let log = (try? String(contentsOf: folder.appendingPathComponent("server.log"), encoding: .utf8)) ?? ""
            throw CasetrackError(.internalError, "pg_ctl start failed (\(status)): \(log.suffix(600))")
        }
    }

    /// Runs one of PostgreSQL's programs (as the postgres user when root).
    @discardableResult
    private func run(_ program: String, _ arguments: [String]) throws -> String {
        let path = "\(bin)/\(program)"
        return asRoot ? try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", path] + arguments) : try Self.run(path, arguments)
    }

    @discardableResult
    static func run(_ path: String, _ arguments: [String]) throws -> String {
        // From /: PostgreSQL's programs, run as the postgres user, fail in a folder it cannot read.
        let result = try DaemonProcess.run(URL(fileURLWithPath: path), arguments, directory: URL(fileURLWithPath: "/"))
        guard result.status == 0 else {
            throw CasetrackError(.internalError, "\(path) \(arguments.joined(separator: " ")) failed: \((result.stdout + result.stderr).suffix(600))")
        }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

