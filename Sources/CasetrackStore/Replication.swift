import CSQLiteSession
import CasetrackCore
import GRDB
import Synchronization

// An office's database as a copy of a shared register (see SharedLog): joining the register,
// recording what a writer round changed, applying the rounds other offices appended.

/// The writer's link to the shared register.
final class Replica: Sendable {
    let log: any SharedLog
    /// The database file (for messages).
    let path: String
    /// Set by the follower when another office may have appended; taken by the writer.
    private let wanted = Atomic<Bool>(false)
    /// Whether this database was checked against the register since the daemon started:
    /// nothing is appended before.
    private let joinedFlag = Atomic<Bool>(false)
    /// Opened at the first round to apply; used on the writer's thread only.
    private let applier = Mutex<RoundApplier?>(nil)
    /// Set once the register refused this office (``SharedRegisterRefusal``): from then on it
    /// takes nothing from the register either. A newer schema's rounds, or another register's,
    /// would apply in part (SQLite skips changes to tables it does not know) and for good.
    private let refusal = Mutex<CasetrackError?>(nil)

    init(log: any SharedLog, path: String) {
        self.log = log
        self.path = path
    }

    func want() { wanted.store(true, ordering: .relaxed) }
    func takeWanted() -> Bool { wanted.exchange(false, ordering: .relaxed) }
    var joined: Bool { joinedFlag.load(ordering: .acquiring) }

    /// Stops following the register, for `error`, until the daemon is restarted.
    func refuse(_ error: CasetrackError) { refusal.withLock { if $0 == nil { $0 = error } } }

    /// The connection that applies other offices' rounds (see ``RoundApplier``).
    func roundApplier() throws -> RoundApplier {
        try applier.withLock { applier in
            if let applier { return applier }
            let opened = try RoundApplier(path: path)
            applier = opened
            return opened
        }
    }

    /// Closes the applier's connection (the writer has stopped).
    func close() {
        log.close()
        applier.withLock { $0 = nil }
    }

    /// Connects to the register and checks this database against it (see
    /// ``SQLiteCaseStore/join(_:path:_:)``), once; then applies what it missed, telling
    /// `publish` the notices of each part as it is committed.
    @discardableResult
    func join(_ pool: DatabasePool, publish: ([Notice]) -> Void) throws -> Int {
        if let refused = refusal.withLock({ $0 }) { throw SharedRegisterRefusal(refused) }
        if !joined {
            let schema = try pool.read { db in try Schema.migrator.appliedIdentifiers(db).count }
            let register = try log.open(schema: schema)
            try pool.write { db in try SQLiteCaseStore.join(register, path: path, db) }
            joinedFlag.store(true, ordering: .releasing)
        }
        return try SQLiteCaseStore.followRegister(self, pool, publish: publish)
    }
}

/// The rows a writer round changed, recorded by SQLite's session extension.
struct ChangeSession {
    private let handle: UnsafeMutableRawPointer

    init(_ db: Database) throws {
        var code: Int32 = 0
        guard let connection = db.sqliteConnection,
              let handle = ct_session_begin(UnsafeMutableRawPointer(connection), &code) else {
            throw CasetrackError(.storageFailure, "cannot record the changes of a write (SQLite session, code \(code))")
        }
        self.handle = handle
    }

    var isEmpty: Bool { ct_session_isempty(handle) != 0 }

    func changeset() throws -> [UInt8] {
        var size: Int32 = 0
        var bytes: UnsafeMutableRawPointer?
        let code = ct_session_changeset(handle, &size, &bytes)
        guard code == 0 else { throw CasetrackError(.storageFailure, "cannot collect the changes of a write (SQLite session, code \(code))") }
        defer { ct_free(bytes) }
        return Array(UnsafeRawBufferPointer(start: bytes, count: Int(size)))
    }

    func end() { ct_session_end(handle) }

    /// Applies a round another office recorded to `connection` (a sqlite3 *); a row not as
    /// the round expects it aborts it. Any other failure (a full disk, an I/O error) is
    /// thrown as SQLite's own error, to be told apart as a write's is: the copy may be sound.
    static func apply(_ round: SharedRound, to connection: UnsafeMutableRawPointer) throws {
        var message = [CChar](repeating: 0, count: 256)
        let code = round.changeset.withUnsafeBytes { bytes in
            ct_changeset_apply(connection, Int32(bytes.count), bytes.baseAddress, &message, message.count)
        }
        guard code == 0 else {
            // Only the conflict handler writes a message: without one, no row disagreed.
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // The code the apply returned, not the connection's last error: after a full disk
            // rolled the transaction back, that is its own cleanup's ("no such savepoint").
            guard !text.isEmpty else { throw DatabaseError(resultCode: ResultCode(rawValue: code)) }
            throw CasetrackError(.storageDamaged,
                "this office's database does not follow the shared register: round \(round.round) (from office \(round.office)) does not apply to it (\(text)). Writes are refused; stop the daemon, move the database file aside and start again: the copy is made anew from the register")
        }
    }
}

/// Thrown inside a writer round when another office appended first: the round rolls back.
struct SharedBehind: Error {}

extension SQLiteCaseStore {
    /// The last round of the register this database holds.
    static func sharedRound(_ db: Database) throws -> Int64 { try counter("shared_round", db) }

    /// The `office_local` entry that holds the digest of that round (``SharedRound/digest``),
    /// as "ROUND DIGEST".
    static let roundDigestName = "round_digest"

    /// The stored value for round `round`'s digest.
    static func roundDigestValue(round: Int64, digest: String) -> String { "\(round) \(digest)" }

    /// The digest in `stored` if it is round `round`'s. A casetrackd that kept no digest may
    /// have moved the copy on since (a version rolled back for a while, then upgraded again):
    /// a digest of an older round names nothing, and is not compared with anything.
    static func roundDigest(_ stored: String?, round: Int64) -> String? {
        guard let parts = stored?.split(separator: " "), parts.count == 2, Int64(parts[0]) == round else { return nil }
        return String(parts[1])
    }

    static func localValue(_ name: String, _ db: Database) throws -> String? {
        try String.fetchOne(db, sql: "SELECT value FROM office_local WHERE name = ?", arguments: [name])
    }

    static func setLocalValue(_ name: String, _ value: String?, _ db: Database) throws {
        if let value {
            try db.execute(sql: "INSERT INTO office_local (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                           arguments: [name, value])
        } else {
            try db.execute(sql: "DELETE FROM office_local WHERE name = ?", arguments: [name])
        }
    }

    /// Ties this database to the register (the first time), or checks that it follows it.
    /// Refuses a database with a history of its own (it would not apply the register's rounds),
    /// one that follows another register, and one ahead of the register (the register lost
    /// rounds this office saw: restored from an older state, or a failover without synchronous
    /// replication).
    static func join(_ register: SharedRegister, path: String, _ db: Database) throws {
        let round = try sharedRound(db)
        if let followed = try localValue("register", db) {
            guard followed == register.id else {
                throw CasetrackError(.storageFailure,
                    "the database \(path) follows another register (\(followed)) than the shared store's (\(register.id)); nothing was changed. Point store settings at the register it belongs to, or start with a new database file to join this one")
            }
        } else {
            let events = try Int.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0
            let cases = try Int.fetchOne(db, sql: "SELECT count(*) FROM cases") ?? 0
            guard !register.hasBase else {
                throw CasetrackError(.storageFailure,
                    "the register began as a register moved in from one host, and \(path) is not a copy of it; nothing was changed. Start this office with a new (empty) database file: the copy is made from the register")
            }
            guard events == 0, cases == 0, round == 0 else {
                throw CasetrackError(.storageFailure,
                    "the database \(path) holds a register of its own (\(cases) cases, \(events) events) and cannot join the shared store's; nothing was changed. Move it into the shared store with casetrackd --migrate-to-postgresql, or start with a new database file to join the register as it is")
            }
            try setLocalValue("register", register.id, db)
        }
        // As when the loss is found later (checkHeld): writes refused, reads served, at
        // every start; not a daemon that stops and takes the copy's reads away with it.
        guard round <= register.round else { throw fewerRounds(held: round, path: path) }
    }

    /// Applies the rounds of the register this database does not hold yet, in transactions of
    /// up to `batch` rounds, through the replica's ``RoundApplier``; returns how many it
    /// applied. The notices of each transaction's events go to `publish` (subscribers) as soon
    /// as it committed, oldest first: a later transaction that fails, or a fetch that does
    /// not answer, must not take back what subscribers of this office are owed, because the
    /// next follow starts after it. Runs on the writer connection's queue (the writer's
    /// thread, or before the writer starts), which stays out of a transaction meanwhile.
    @discardableResult
    static func followRegister(_ replica: Replica, batch: Int = 256, maxBytes: Int = 8 << 20, _ pool: DatabasePool,
                               publish: ([Notice]) -> Void) throws -> Int {
        var applied = 0
        // Read on the applier's connection: a reader of the pool cost a queue hop and a
        // transaction per follow, on the thread every round waits for.
        var held = try replica.roundApplier().sharedRound()
        var heldDigest = try replica.roundApplier().roundDigest(of: held)
        while true {
            let fetched = try replica.log.rounds(after: held, limit: batch, maxBytes: maxBytes)
            try checkHeld(held, digest: heldDigest, against: fetched.after, path: replica.path)
            let rounds = fetched.rounds
            guard !rounds.isEmpty else { return applied }
            let (notices, digest) = try pool.writeWithoutTransaction { [held] db in
                let lastSeq = try eventSeq(db)
                let digest = try replica.roundApplier().apply(rounds, after: held)
                return (try noticeRows(after: lastSeq, limit: .max, db), digest)
            }
            if !notices.isEmpty { publish(notices) }
            applied += rounds.count
            held += Int64(rounds.count)
            heldDigest = digest
            if rounds.count < batch, rounds.reduce(0, { $0 + $1.changeset.count }) < maxBytes { return applied }
        }
    }
}

extension SQLiteCaseStore {
    /// Refuses to go on from round `held` when the register holds another round under its
    /// number, or none: it lost rounds this copy holds (restored from an older state, or a
    /// failover to a standby that was not synchronous), and whatever follows there was
    /// written without them. Taking it would mix two histories in this copy for good; writing
    /// on would hand out again numbers that subscribers have seen. `digest` nil: a copy
    /// written by a casetrackd that kept none, which cannot tell (nor can a register round
    /// kept without one).
    static func checkHeld(_ held: Int64, digest: String?, against found: RoundInRegister, path: String) throws {
        switch found {
        case .beginning:
            return
        case .missing:
            throw fewerRounds(held: held, path: path)
        case .round(let stored):
            guard let digest, let stored, digest != stored else { return }
            throw SharedRegisterRefusal(CasetrackError(.storageDamaged,
                "the shared register's round \(held) is not the round \(held) this office's copy (\(path)) holds: the register lost rounds this office saw, and other offices wrote others under their numbers (PostgreSQL restored from an older state, or a failover to a standby that was not synchronous). This office takes no writes and no rounds, so that the two histories are not mixed; reads are served from its copy as it is. See README: Several offices, when the register lost rounds"))
        }
    }
}

extension SQLiteCaseStore {
    /// The register lost rounds this copy holds, and none were written past them.
    static func fewerRounds(held: Int64, path: String) -> SharedRegisterRefusal {
        SharedRegisterRefusal(CasetrackError(.storageDamaged,
            "the shared register holds fewer rounds than this office's copy (\(path) holds round \(held)): it lost changes that were acknowledged (PostgreSQL restored from an older state, or a failover to a standby that was not synchronous). This office takes no writes and no rounds while its copy and the register disagree, restarted or not; reads are served from its copy as it is. See README: Several offices, when the register lost rounds"))
    }
}

/// The register as the shared store describes it.
public struct SharedRegister: Sendable, Equatable {
    /// Made when the register was created: a copy follows one register only.
    public var id: String
    /// Its last round.
    public var round: Int64
    /// It began as a single-host register moved in (casetrackd --migrate-to-postgresql):
    /// a copy starts from that database, not from an empty one.
    public var hasBase: Bool

    public init(id: String, round: Int64, hasBase: Bool = false) {
        self.id = id
        self.round = round
        self.hasBase = hasBase
    }
}
