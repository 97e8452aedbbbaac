import CasetrackCore

/// Where several offices keep one register: a database server (PostgreSQL, see the
/// CasetrackPostgres module) holding every writer round of every office in one total order.
///
/// Each office keeps its own SQLite database as a copy of the register that follows the shared
/// log. A writer round runs against the office's copy as on a single host; the rows it changed
/// (a changeset of SQLite's session extension) are appended to the shared log as round `n`
/// *before* the copy commits, in one statement that succeeds only if `n - 1` is still the last
/// round. If another office appended first, nothing is written: the copy applies the rounds it
/// missed and runs the writes again against them. So every office's copy goes through the
/// same rounds in the same order, event sequence numbers are gap-free in commit order across
/// offices, and a write is checked (versions, references, the lifecycle) against everything
/// acknowledged anywhere before it. The queries, filters and rules stay the ones SQLite runs:
/// written once.
///
/// The shared log is the durable copy: a round is acknowledged only once the server has
/// committed it (with synchronous replication, on its standby too). An office's copy can be
/// lost and is made again from the log.
public protocol SharedLog: Sendable {
    /// The office this daemon writes as (recorded in every round and every event).
    var office: String { get }

    /// Connects (when not connected), creates the register if the store holds none, and checks
    /// its schema against `schema` (the number of migrations this office's database has): a
    /// register of an older schema is moved to this one (every office must then run this
    /// version), a newer one is refused. Throws ``CasetrackError/Code/storageUnavailable``
    /// when the server cannot be reached, ``CasetrackError/Code/storageFailure`` when the
    /// register needs a newer casetrackd.
    func open(schema: Int) throws -> SharedRegister

    /// Stores the database file at `path` as the register's starting point (a single-host
    /// register moved in), all or nothing; refused unless the register is empty.
    func storeBase(path: String, sha256: String) throws

    /// Writes the register's starting point into the file at `path` (truncated first) and
    /// returns its SHA-256 as stored; nil when the register began empty.
    func fetchBase(to path: String) throws -> String?

    /// Connects and reads the register without changing anything (nil: the store holds none
    /// yet; the first daemon to start creates it). For `casetrackd --check-config`.
    func probe() throws -> SharedRegister?

    /// Appends `changeset` as round `round`, with its ``SharedRound/digest(round:office:changeset:)``,
    /// which must follow the last one: round `round - 1` must be the register's last, and,
    /// when `previous` is given, have that digest (one the register stored). Blocks the
    /// calling thread (the writer's) for one round trip.
    ///
    /// Returns ``SharedAppend/behind`` when the register has moved past `round - 1`, or holds
    /// another round `round - 1` than `previous`: nothing was written. Throws
    /// ``SharedLogFailure``.
    func append(round: Int64, changeset: [UInt8], firstSeq: Int64, lastSeq: Int64,
                digest: String, previous: String?) throws -> SharedAppend

    /// The rounds after `round`, oldest first: at most `limit`, and past the first only while
    /// the changesets before each come to under `maxBytes` (an import's or a trim's round can
    /// be megabytes; a fetch must arrive within the store's timeout). So fewer than `limit`
    /// with under `maxBytes` in all is the end of the register. With them, in the same
    /// statement, what the register holds as round `round` itself: the copy that asks holds
    /// it, and checks that it is the same round.
    func rounds(after round: Int64, limit: Int, maxBytes: Int) throws -> SharedRounds

    /// Until the task is cancelled, calls `onRound` whenever another office may have appended
    /// a round (the server's notification, a wake-up only), after each reconnection, and every
    /// `seconds` (a notification can be lost with its connection).
    func follow(every seconds: Double, _ onRound: @escaping @Sendable () -> Void) async

    /// Closes the connections.
    func close()
}

/// What an append did.
public enum SharedAppend: Sendable, Equatable {
    /// The round is in the register, committed.
    case appended
    /// Another office appended first: nothing was written.
    case behind
}

/// One writer round of the register, as the shared log keeps it.
public struct SharedRound: Sendable, Equatable {
    public var round: Int64
    public var office: String
    public var changeset: [UInt8]

    public init(round: Int64, office: String, changeset: [UInt8]) {
        self.round = round
        self.office = office
        self.changeset = changeset
    }

    /// What names a round: SHA-256 of its number, office and changeset, as 64 hexadecimal
    /// digits. Kept with the round in the register and, for the last round it holds, in each
    /// office's copy. Round numbers alone do not tell one history from another: a register
    /// that lost its last rounds (a failover to a standby that was not synchronous) hands the
    /// same numbers out again, and an office that held the lost ones would take the new rounds
    /// after them as if they followed what it holds.
    public static func digest(round: Int64, office: String, changeset: [UInt8]) -> String {
        var hash = SHA256Digest()
        hash.update(String(round).utf8)
        hash.update([0])
        hash.update(office.utf8)
        hash.update([0])
        hash.update(changeset)
        return hash.hex()
    }

    public var digest: String { Self.digest(round: round, office: office, changeset: changeset) }
}

/// A fetch of rounds (``SharedLog/rounds(after:limit:maxBytes:)``).
public struct SharedRounds: Sendable, Equatable {
    public var rounds: [SharedRound]
    /// The round the fetch started after, as the register holds it.
    public var after: RoundInRegister

    public init(rounds: [SharedRound], after: RoundInRegister) {
        self.rounds = rounds
        self.after = after
    }
}

/// What the register holds under a round number.
public enum RoundInRegister: Sendable, Equatable {
    /// Round 0: the register's beginning, before any round.
    case beginning
    /// No round: the register holds fewer.
    case missing
    /// A round with this digest; nil for one appended by a casetrackd that kept none.
    case round(digest: String?)
}

/// The shared store answers, but this office may not write to it: the register was moved on
/// by a newer casetrackd, or the store now holds another register. Writes are refused until
/// the operator acts (upgrades this office, points it at its register); reads, notices and
/// waits go on from the office's copy.
public struct SharedRegisterRefusal: Error, Sendable {
    public var error: CasetrackError

    public init(_ error: CasetrackError) { self.error = error }
}

/// Why an append failed, and whether the round may be in the register all the same.
public struct SharedLogFailure: Error, Sendable {
    /// The request may have reached the server and been committed (the connection broke, or
    /// the answer did not come in time).
    public var outcomeUnknown: Bool
    public var message: String

    public init(outcomeUnknown: Bool, message: String) {
        self.outcomeUnknown = outcomeUnknown
        self.message = message
    }

    /// The error of a write that did not reach the store at all (a read, or a catch-up, failed).
    public var notMade: CasetrackError { SharedLogFailure(outcomeUnknown: false, message: message).error }

    /// The error a write gets.
    public var error: CasetrackError {
        var details = Fields()
        if outcomeUnknown {
            details.append("outcome", "unknown")
            return CasetrackError(.storageUnavailable,
                "the shared store stopped answering while the change was being recorded (\(message)): it may or may not have been recorded. Retry with the same request_id to learn which; the office's copy follows the register again once the store answers",
                details: details)
        }
        return CasetrackError(.storageUnavailable,
            "the shared store cannot be reached (\(message)); the change was not made. Reads are served from this office's copy; writes resume when the store answers again",
            details: details)
    }
}
