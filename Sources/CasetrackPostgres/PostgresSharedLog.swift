#if Postgres
import CasetrackCore
import CasetrackStore
import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// The shared register in PostgreSQL (see ``SharedLog``): two tables, written by casetrackd
/// only.
///
/// - `casetrack_register`: one row, the register's id, its last round and the schema (number
///   of migrations) its rounds are written for;
/// - `casetrack_rounds`: every writer round of every office, by round number: the office,
///   the event sequence numbers it recorded, its rows as an SQLite changeset, and its digest
///   (``SharedRound/digest``), which an office checks against the round it holds;
/// - `casetrack_base`: for a register moved in from one host, that database as it was, in
///   parts: the rounds apply after it.
///
/// A round is appended by one statement that bumps the register's round only if it is still
/// the one before, and inserts the round in the same statement: numbers are gap-free in
/// commit order whichever office writes, and the locked part is one statement (through a
/// transaction of three round trips it fell to about a fifth of the rate). The same statement
/// notifies `casetrack_rounds`, which the other offices LISTEN on: a wake-up only; the table
/// is the truth.
///
/// The writer's calls block its thread (it has one of its own) for one round trip, bounded
/// by `timeout`: a server that does not answer is never waited for longer.
public final class PostgresSharedLog: SharedLog, Sendable {
    public let office: String
    /// Where the store is: replaced by a reload (a failover to a promoted standby).
    private let target: Mutex<(configuration: PostgresConnection.Configuration, connInfo: PostgresConnInfo)>
    private let logger: Logger
    private let timeout: TimeAmount
    /// The writer's connection (used from the writer's thread only; kept in a mutex for the
    /// close at shutdown).
    private let connection = Mutex<PostgresConnection?>(nil)
    /// The LISTENing connection, closed by a reload so that it connects to the new server.
    private let listening = Mutex<PostgresConnection?>(nil)
    /// What `open` found, checked again by every append.
    private let register = Mutex<(id: String, schema: Int)?>(nil)
    private let nextID = Atomic<Int>(1)
    /// Bumped by every ``reconfigure``: a connection made for an older target is not kept.
    private let generation = Atomic<Int>(0)
    /// Names this daemon's notifications (two daemons may share an office name).
    private let instance = UUID().uuidString
    static let channel = "casetrack_rounds"

    /// `password` is the content of `postgresql_password_file`, if any.
    public init(_ connInfo: PostgresConnInfo, password: String?, office: String, defaultUser: String,
                logger: Logger, timeout: Double = 5) throws {
        self.office = office
        self.logger = logger
        self.timeout = .milliseconds(Int64(timeout * 1000))
        target = Mutex((try Self.configuration(connInfo, password: password, defaultUser: defaultUser), connInfo))
    }

    /// Points the store at another server (a reload after a failover): the connections are
    /// closed, and the next request (and the listener) connect to the new one. The register
    /// must be the same: every append checks its id, and a copy ahead of it refuses writes.
    public func reconfigure(_ connInfo: PostgresConnInfo, password: String?, defaultUser: String) throws {
        let configuration = try Self.configuration(connInfo, password: password, defaultUser: defaultUser)
        target.withLock { $0 = (configuration, connInfo) }
        generation.add(1, ordering: .sequentiallyConsistent)
        let open = connection.withLock { connection -> PostgresConnection? in
            defer { connection = nil }
            return connection
        }
        let listener = listening.withLock { $0 }
        for stale in [open, listener].compactMap({ $0 }) { Self.close(stale) }
        // Worth a warning: a failover, or a mistake; either way an operator wants to see it.
        logger.warning("the shared store is now \(connInfo.description)")
    }

    static func configuration(_ connInfo: PostgresConnInfo, password: String?, defaultUser: String) throws -> PostgresConnection.Configuration {
        let user = connInfo.user ?? defaultUser
        var configuration: PostgresConnection.Configuration
        if connInfo.isUnixSocket {
            configuration = .init(unixSocketPath: connInfo.socketPath, username: user, password: password,
                                  database: connInfo.database ?? user)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            switch connInfo.sslMode {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            configuration = .init(host: connInfo.host, port: connInfo.port, username: user, password: password,
                                  database: connInfo.database ?? user, tls: tls)
        }
        configuration.options.connectTimeout = .seconds(Int64(connInfo.connectTimeout))
        return configuration
    }

    deinit { close() }

    // MARK: SharedLog

    public func open(schema: Int) throws -> SharedRegister {
        try query("SELECT pg_advisory_lock(\(Self.setupLock))", what: "lock the set-up")
        defer { _ = try? query("SELECT pg_advisory_unlock(\(Self.setupLock))", what: "unlock the set-up") }
        for statement in Self.setup { try query(PostgresQuery(unsafeSQL: statement), what: "create the register's tables") }
        try addDigests()
        try query("""
            INSERT INTO casetrack_register (id, register, round, schema) VALUES (1, gen_random_uuid()::text, 0, \(schema))
            ON CONFLICT (id) DO NOTHING
            """, what: "create the register")
        guard let found = try head() else {
            throw SharedLogFailure(outcomeUnknown: false, message: "the register's row is missing from casetrack_register")
        }
        if found.schema > schema {
            throw SharedRegisterRefusal(CasetrackError(.storageFailure,
                "the shared register is kept by a newer casetrackd (schema \(found.schema), this one knows \(schema)); every office must run the same version: upgrade this one. It takes no writes until then; reads are served from its copy"))
        }
        if found.schema < schema {
            try query("UPDATE casetrack_register SET schema = \(schema) WHERE id = 1 AND schema < \(schema)", what: "move the register to this schema")
            logger.warning("the shared register moved to schema \(schema): offices still running an older casetrackd are refused until they are upgraded")
        }
        register.withLock { $0 = (found.id, schema) }
        return SharedRegister(id: found.id, round: found.round, hasBase: found.base != nil)
    }

    public func storeBase(path: String, sha256: String) throws {
        guard let file = FileHandle(forReadingAtPath: path) else {
            throw CasetrackError(.storageFailure, "cannot read \(path)")
        }
        defer { try? file.close() }
        try query("BEGIN", what: "begin storing the register")
        do {
            let head = try query("SELECT round, base_sha256 FROM casetrack_register WHERE id = 1 FOR UPDATE", what: "lock the register")
            guard let row = head.rows.first else { throw CasetrackError(.storageFailure, "the register's row is missing") }
            let (round, base) = try row.decode((Int64, String?).self)
            guard round == 0, base == nil else {
                throw CasetrackError(.storageFailure, "the shared store holds a register already (round \(round)); nothing was moved")
            }
            var part: Int32 = 0
            var total: Int64 = 0
            while let chunk = try file.read(upToCount: Self.basePart), !chunk.isEmpty {
                var bytes = ByteBuffer()
                bytes.writeBytes(chunk)
                try query("INSERT INTO casetrack_base (part, bytes) VALUES (\(part), \(bytes))", what: "store the register")
                part += 1
                total += Int64(chunk.count)
            }
            try query("UPDATE casetrack_register SET base_sha256 = \(sha256), base_bytes = \(total) WHERE id = 1", what: "store the register")
            try query("COMMIT", what: "commit the register", sending: true)
        } catch {
            _ = try? query("ROLLBACK", what: "roll back")
            throw error
        }
    }

    public func fetchBase(to path: String) throws -> String? {
        // A store that holds no register yet has no starting point either.
        guard try registerExists(), let sha = try head()?.base else { return nil }
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CasetrackError(.storageFailure, "cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        var part: Int32 = 0
        while true {
            let result = try query("SELECT bytes FROM casetrack_base WHERE part = \(part)", what: "read the register's starting point")
            guard let row = result.rows.first else { break }
            let bytes = try row.decode(ByteBuffer.self)
            let written = bytes.readableBytesView.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard written == bytes.readableBytes else {
                throw CasetrackError(.storageFailure, "cannot write \(path): \(String(cString: strerror(errno)))")
            }
            part += 1
        }
        guard fsync(fd) == 0 else { throw CasetrackError(.storageFailure, "cannot sync \(path): \(String(cString: strerror(errno)))") }
        return sha
    }

    /// The starting point is stored in parts of this many bytes (one statement each).
    static let basePart = 4 << 20

    public func probe() throws -> SharedRegister? {
        guard try registerExists(), let found = try head() else { return nil }
        return SharedRegister(id: found.id, round: found.round, hasBase: found.base != nil)
    }

    /// Whether the store holds the register's tables (without creating them).
    private func registerExists() throws -> Bool {
        let exists = try query("SELECT to_regclass('casetrack_register') IS NOT NULL", what: "look for the register")
        return try exists.rows.first?.decode(Bool.self) ?? false
    }

    public func append(round: Int64, changeset: [UInt8], firstSeq: Int64, lastSeq: Int64,
                       digest: String, previous previousDigest: String?) throws -> SharedAppend {
        guard let (id, schema) = register.withLock({ $0 }) else {
            throw SharedLogFailure(outcomeUnknown: false, message: "the register was not opened")
        }
        var bytes = ByteBuffer()
        bytes.writeBytes(changeset)
        let previous = round - 1
        let result = try query("""
            WITH head AS (
                UPDATE casetrack_register SET round = round + 1
                WHERE id = 1 AND round = \(previous) AND register = \(id) AND schema = \(schema)
                  AND NOT EXISTS (SELECT 1 FROM casetrack_rounds
                                  WHERE round = \(previous) AND digest <> \(previousDigest))
                RETURNING round
            ), added AS (
                INSERT INTO casetrack_rounds (round, office, first_seq, last_seq, changeset, digest)
                SELECT round, \(office), \(firstSeq), \(lastSeq), \(bytes), \(digest) FROM head
                RETURNING round
            )
            SELECT round, pg_notify('\(unescaped: Self.channel)', \(instance) || ' ' || round::text) FROM added
            """, what: "append the change", sending: true)
        if !result.rows.isEmpty { return .appended }
        // Nothing matched: another office was first, or the register changed under us.
        guard let found = try head() else {
            throw CasetrackError(.storageFailure, "the shared register's row is gone from casetrack_register: writes are refused")
        }
        if let refusal = Self.refusal(id: found.id, schema: found.schema, following: (id, schema)) { throw refusal }
        return .behind
    }

    /// Why this office may no longer take the register's rounds nor write, if it may not: the
    /// store holds another register, or a newer casetrackd moved this one to its schema (whose
    /// rounds SQLite would apply only in part here, skipping tables it does not know).
    static func refusal(id: String, schema: Int, following: (id: String, schema: Int)) -> SharedRegisterRefusal? {
        if id != following.id {
            return SharedRegisterRefusal(CasetrackError(.storageFailure,
                "the shared store now holds another register (\(id)) than the one this office follows (\(following.id)): writes are refused, reads are served from this office's copy; see README: Several offices"))
        }
        if schema != following.schema {
            return SharedRegisterRefusal(CasetrackError(.storageFailure,
                "the shared register was moved to schema \(schema) by a newer casetrackd: this office (schema \(following.schema)) takes no more writes until it is upgraded, and none of its rounds; reads are served from its copy"))
        }
        return nil
    }

    public func rounds(after round: Int64, limit: Int, maxBytes: Int) throws -> SharedRounds {
        guard let following = register.withLock({ $0 }) else {
            throw SharedLogFailure(outcomeUnknown: false, message: "the register was not opened")
        }
        // The sizes come from the stored values' headers: nothing is sent past the limit. The
        // register's id and schema come first (as round -1): an office that only reads must
        // not take a newer schema's rounds either. Then the round asked after, without its
        // changeset: its digest only.
        let result = try query("""
            SELECT -1::bigint AS round, register AS office, schema::text AS digest, NULL::bytea AS changeset
            FROM casetrack_register WHERE id = 1
            UNION ALL
            SELECT round, office, digest, NULL::bytea FROM casetrack_rounds WHERE round = \(round)
            UNION ALL
            SELECT * FROM (
                SELECT round, office, digest, changeset FROM (
                    SELECT round, office, digest, changeset,
                           sum(octet_length(changeset)) OVER (ORDER BY round) - octet_length(changeset) AS before
                    FROM casetrack_rounds WHERE round > \(round) ORDER BY round LIMIT \(limit)
                ) AS fetched WHERE before < \(Int64(maxBytes))
            ) AS following
            ORDER BY round
            """, what: "read the register")
        var fetched = SharedRounds(rounds: [], after: round == 0 ? .beginning : .missing)
        var registerSeen = false
        for row in result.rows {
            let (number, office, digest, bytes) = try row.decode((Int64, String, String?, ByteBuffer?).self)
            if number == -1 {
                registerSeen = true
                if let refusal = Self.refusal(id: office, schema: digest.flatMap { Int($0) } ?? -1, following: following) { throw refusal }
            } else if number == round {
                fetched.after = .round(digest: digest)
            } else if let bytes {
                fetched.rounds.append(SharedRound(round: number, office: office, changeset: Array(bytes.readableBytesView)))
            }
        }
        guard registerSeen else {
            throw CasetrackError(.storageFailure, "the shared register's row is gone from casetrack_register: writes are refused")
        }
        return fetched
    }

    public func follow(every seconds: Double, _ onRound: @escaping @Sendable () -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                    onRound()
                }
            }
            group.addTask { await self.listen(onRound) }
            await group.waitForAll()
        }
    }

    public func close() {
        let open = connection.withLock { connection -> PostgresConnection? in
            defer { connection = nil }
            return connection
        }
        if let open {
            let closing: EventLoopFuture<Void> = open.close()
            try? closing.wait()
        }
    }

    // MARK: Connections

    /// Keeps a connection LISTENing on the channel until cancelled, calling `onRound` for each
    /// notification and after each (re)connection (something may have come meanwhile).
    private func listen(_ onRound: @escaping @Sendable () -> Void) async {
        var failing = false
        while !Task.isCancelled {
            do {
                let listener = try await PostgresConnection.connect(configuration: target.withLock { $0.configuration },
                                                                    id: nextID.add(1, ordering: .relaxed).newValue, logger: logger)
                listening.withLock { $0 = listener }
                failing = false
                do {
                    try await listener.listen(on: Self.channel) { notifications in
                        onRound()
                        // This daemon's own rounds are in its copy already: waking the writer
                        // for them cost a round trip per write.
                        let own = self.instance + " "
                        for try await notification in notifications where !notification.payload.hasPrefix(own) { onRound() }
                    }
                } catch {}
                try? await listener.close()
            } catch {
                if !failing { logger.warning("cannot listen to the shared store for other offices' changes: \(Self.describe(error)); polling meanwhile") }
                failing = true
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// The writer's connection, connected when missing.
    private func connected() throws -> PostgresConnection {
        if let open = connection.withLock({ $0 }), !open.isClosed { return open }
        let id = nextID.add(1, ordering: .relaxed).newValue
        let madeFor = generation.load(ordering: .sequentiallyConsistent)
        let (configuration, connInfo) = target.withLock { $0 }
        let logger = self.logger
        let made: PostgresConnection
        do {
            // A connection made after the wait gave up is closed, not left open on the server.
            made = try Self.blocking(timeout: timeout, late: { Self.close($0) }) {
                try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
            }
        } catch {
            throw SharedLogFailure(outcomeUnknown: false, message: "cannot connect to PostgreSQL at \(connInfo.description): \(Self.describe(error))")
        }
        // A reload while this connected (a failover): the connection may be to the server
        // the reload moved away from, which may still answer, read-only, for good.
        let kept = connection.withLock { connection -> Bool in
            guard generation.load(ordering: .sequentiallyConsistent) == madeFor else { return false }
            connection = made
            return true
        }
        guard kept else {
            Self.close(made)
            throw SharedLogFailure(outcomeUnknown: false, message: "the shared store was pointed elsewhere while connecting to \(connInfo.description)")
        }
        return made
    }

    /// Runs one statement on the writer's connection. A statement the server refused was not
    /// made; one whose answer did not come (a broken connection, the timeout) may have been,
    /// if `sending` says it changes something.
    @discardableResult
    private func query(_ query: PostgresQuery, what: String, sending: Bool = false) throws -> PostgresQueryResult {
        let open = try connected()
        let future = open.query(query, logger: logger)
        let promise = open.eventLoop.makePromise(of: PostgresQueryResult.self)
        future.cascade(to: promise)
        let timer = open.eventLoop.scheduleTask(in: timeout) { promise.fail(TimedOut()) }
        defer { timer.cancel() }
        do {
            return try promise.futureResult.wait()
        } catch let error as PSQLError where error.serverInfo != nil {
            // A standby (an old primary that came back as one, say) refuses every write:
            // connect afresh next time, to whatever the target is by then.
            if error.serverInfo?[.sqlState] == "25006" {
                connection.withLock { if $0 === open { $0 = nil } }
                Self.close(open)
            }
            throw SharedLogFailure(outcomeUnknown: false, message: "PostgreSQL refused to \(what): \(Self.describe(error))")
        } catch {
            // The connection is in an unknown state: start afresh next time.
            connection.withLock { $0 = nil }
            Self.close(open)
            throw SharedLogFailure(outcomeUnknown: sending, message: "PostgreSQL did not answer (\(what)): \(Self.describe(error))")
        }
    }

    private func head() throws -> (id: String, round: Int64, schema: Int, base: String?)? {
        let result = try query("SELECT register, round, schema, base_sha256 FROM casetrack_register WHERE id = 1", what: "read the register")
        guard let row = result.rows.first else { return nil }
        let (id, round, schema, base) = try row.decode((String, Int64, Int32, String?).self)
        return (id, round, Int(schema), base)
    }

    /// An advisory lock key for creating the tables (two offices starting at once).
    static let setupLock: Int64 = 0x6361_7365_7472_6b00

    static let setup = [
        """
        CREATE TABLE IF NOT EXISTS casetrack_register (
            id integer PRIMARY KEY CHECK (id = 1),
            register text NOT NULL,
            round bigint NOT NULL,
            schema integer NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            base_sha256 text,
            base_bytes bigint
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS casetrack_base (
            part integer PRIMARY KEY,
            bytes bytea NOT NULL
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS casetrack_rounds (
            round bigint PRIMARY KEY,
            office text NOT NULL,
            first_seq bigint NOT NULL,
            last_seq bigint NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            changeset bytea NOT NULL
        )
        """,
    ]

    /// Gives a register made before rounds had digests (``SharedRound/digest``) their column,
    /// once: its rounds so far have none. Looked up first, because `ALTER TABLE` takes the
    /// table's strongest lock even when the column is there, and would wait behind a
    /// `pg_dump` while every office's appends waited behind it.
    private func addDigests() throws {
        let found = try query("""
            SELECT count(*) FROM pg_attribute
            WHERE attrelid = 'casetrack_rounds'::regclass AND attname = 'digest' AND NOT attisdropped
            """, what: "look at the register's tables")
        guard try found.rows.first?.decode(Int64.self) == 0 else { return }
        try query("ALTER TABLE casetrack_rounds ADD COLUMN IF NOT EXISTS digest text", what: "add digests to the register's rounds")
    }
}
#endif
