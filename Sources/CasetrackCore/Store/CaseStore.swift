/// Where cases and their history live. The core, the server and the tests know only this
/// protocol; SQLite is one implementation, a replicated database server can be another.
///
/// Contract for every implementation:
/// - a write returns only after its transaction is durably committed;
/// - a refused write (any thrown ``CasetrackError``) changes nothing;
/// - event sequence numbers are strictly increasing and gap-free in commit order;
/// - every committed event reaches the store's commit observer as a ``Notice``, after its
///   commit, in sequence order, exactly once (that is what subscribers are told);
/// - queries mean what ``CaseFilter/matches(_:today:)`` means.
public protocol CaseStore: Sendable {
    func add(_ new: NewCase, details: EventDetails, actor: Actor, clock: WriteClock) async throws -> CaseChange
    func setStatus(_ id: CaseID, to status: Status, details: EventDetails, actor: Actor, expectVersion: Int?,
                   correction: Bool, clock: WriteClock) async throws -> CaseChange
    func update(_ id: CaseID, _ update: CaseUpdate, details: EventDetails, actor: Actor, expectVersion: Int?,
                clock: WriteClock) async throws -> CaseChange
    /// Records a captivity event (``CaptivityRules``) and the facts it changes.
    func recordEvent(_ id: CaseID, _ type: CaptivityEventType, _ captivity: CaptivityDetails, details: EventDetails,
                     actor: Actor, expectVersion: Int?, clock: WriteClock) async throws -> CaseChange

    func get(_ id: CaseID) async throws -> CaseRecord?

    // MARK: Contacts and enquiries (outside the event log)

    func addContact(_ id: CaseID, _ change: ContactChange, actor: Actor, clock: WriteClock) async throws -> Contact
    func updateContact(_ id: ContactID, _ change: ContactChange, actor: Actor, clock: WriteClock) async throws -> Contact
    func removeContact(_ id: ContactID, actor: Actor, clock: WriteClock) async throws -> Contact
    /// The contacts of a case (and of the cases merged into it); `nil` when there is no such case.
    func contacts(of id: CaseID) async throws -> [Contact]?
    func addEnquiry(_ id: CaseID, from: EnquirySource, question: String, asked: PartialDate, actor: Actor,
                    clock: WriteClock) async throws -> Enquiry
    func answerEnquiry(_ id: EnquiryID, answer: String, answered: PartialDate, actor: Actor, clock: WriteClock) async throws -> Enquiry
    /// The enquiries of a case (nil: of every case), oldest first; with `unansweredOlder`, only
    /// those still unanswered that long.
    func enquiries(of id: CaseID?, unansweredOlder: HeldDuration?, today: Day) async throws -> [Enquiry]
    /// Every contact not removed, by id, after `after`, at most `limit`.
    func allContacts(after: ContactID?, limit: Int) async throws -> [Contact]
    /// The cases, in order, read on the calling thread without waiting when the store can do
    /// that (a few microseconds each), together in one read that sees every change
    /// acknowledged before it began. It stops at the first case it does not serve (there is
    /// none, or the read would wait or fails): ``get(_:)`` says which, for that one and the
    /// rest. So the result is the cases of a prefix of `ids`, possibly empty.
    ///
    /// `whenBegun` is called once the read's snapshot is taken (the first case read), before
    /// the rest is read; not at all when none is served. A read begun in it sees at least
    /// what this one does.
    func getNow(_ ids: [CaseID], whenBegun: () -> Void) -> [CaseRecord]
    /// The events of a case, oldest first; `nil` when there is no such case.
    func history(_ id: CaseID) async throws -> [HistoryEvent]?
    func list(_ filter: CaseFilter, today: Day, limit: Int, after: CaseID?) async throws -> [CaseRecord]
    func count(_ filter: CaseFilter, today: Day) async throws -> Int
    func statistics(_ filter: CaseFilter, today: Day) async throws -> CaseStatistics
    /// The sequence number of the newest stored event (0 when none).
    func lastSequence() async throws -> Int64

    // MARK: Notices

    /// Stored events after `seq` as notices (names included), oldest first, at most `limit`.
    func notices(after seq: Int64, limit: Int) async throws -> [Notice]
    /// The sequence number through which retention trimmed the log (0: nothing trimmed).
    func trimmedThrough() async throws -> Int64
    /// Records an operator's test event, which belongs to no case.
    func recordTestNotice(note: String?, actor: Actor, clock: WriteClock) async throws -> Notice
    /// Records every time alert `policy` says is due at `clock.now` and not yet recorded, as
    /// made by `actor` (the daemon itself).
    func recordDueAlerts(_ policy: AlertPolicy, actor: Actor, clock: WriteClock) async throws -> [Notice]
    /// Deletes the events `retention` no longer keeps; returns how many.
    func trim(_ retention: Retention, clock: WriteClock) async throws -> Int

    // MARK: Statistics

    /// The answer to `STATS` for any breakdown; every figure counts cases that `query.filter`
    /// selects, as ``count(_:today:)`` does.
    func statistics(_ query: StatisticsQuery, today: Day) async throws -> StatisticsTable

    // MARK: Exchanges

    /// Records a new exchange; refuses a name already used (compared as ``Exchange/key(_:)``).
    func createExchange(_ exchange: Exchange, actor: Actor) async throws -> Exchange
    /// Lists cases on a phase, all or none: every id must exist and be on no other phase of
    /// the exchange, and the phase must not be completed. Returns how many were newly listed.
    func listOnExchange(_ name: String, phase: Int, ids: [CaseID]) async throws -> Int
    /// Takes cases off an exchange's list, all or none (none may be on a completed phase).
    func removeFromExchange(_ name: String, ids: [CaseID]) async throws -> Int
    /// Changes every case listed on the phase to `returned` in one transaction, or none when
    /// any cannot (the error names each), and records the phase's own event.
    func completePhase(_ name: String, phase: Int, details: EventDetails, actor: Actor,
                       clock: WriteClock) async throws -> PhaseCompletion
    /// An exchange and its phases, counted from the cases as they are now; nil if unknown.
    func exchangeReport(_ name: String) async throws -> (Exchange, [PhaseReport])?
    func exchanges() async throws -> [ExchangeSummary]

    // MARK: One person, one record

    /// Pairs of cases that are probably one person, best first, each at least
    /// `minimumScore` and not decided otherwise (``markNotDuplicate(_:_:note:undo:actor:clock:)``):
    /// those of case `id` only, or of the whole register; at most `limit` of them.
    func duplicates(of id: CaseID?, minimumScore: Double, limit: Int) async throws -> DuplicateReport

    /// Merges `source` into `target` (see ``MergeRules``): the target gains what the source
    /// knows, the source leaves every list, count and exchange phase and answers `merged`
    /// from then on. `expectVersion` and `targetVersion` guard each side against a change
    /// made meanwhile. All or nothing.
    func merge(_ source: CaseID, into target: CaseID, prefer: [MergeField: MergeSide], details: EventDetails,
               actor: Actor, expectVersion: Int?, targetVersion: Int?, clock: WriteClock) async throws -> MergeChange
    /// Undoes the merge of `source`: both cases as they were before it (each at a new
    /// version), refused when the target changed since.
    func unmerge(_ source: CaseID, details: EventDetails, actor: Actor, clock: WriteClock) async throws -> MergeChange
    /// Records (or, with `undo`, forgets) that two cases are not one person, so that the pair
    /// is no longer suggested. Returns whether anything changed.
    func markNotDuplicate(_ a: CaseID, _ b: CaseID, note: String?, undo: Bool, actor: Actor,
                          clock: WriteClock) async throws -> Bool
    /// The case each row of a list is, from one snapshot (see ``MatchOutcome``); at most
    /// `limit` candidates a row.
    func match(_ rows: [MatchRow], minimumScore: Double, limit: Int) async throws -> [MatchOutcome]

    // MARK: Import and backup

    /// Opens a case for each row whose references are not on record, in one transaction: a
    /// row in conflict refuses the whole batch (the error names the row). With `dryRun`,
    /// decides the same way and writes nothing.
    func importRows(_ rows: [ImportRow], dryRun: Bool, actor: Actor, clock: WriteClock) async throws -> [ImportOutcome]
    /// Applies each row to the case its references name (``CaseRules/revise(_:_:actor:clock:)``),
    /// one event per changed case, in one transaction: a row that names no case, or two, or
    /// the case of an earlier row, or whose change the rules refuse, refuses the whole batch
    /// (the error names the row). With `dryRun`, decides every row and writes nothing.
    func reviseRows(_ rows: [UpdateRow], dryRun: Bool, actor: Actor, clock: WriteClock) async throws -> [RevisionOutcome]
    /// Writes a consistent copy of the database to `path`, a new file, while writes go on.
    func backup(to path: String) async throws -> BackupSummary

    /// Recomputes the event chain and checks the cases against it (see `VERIFY`).
    /// With `kept`, also that the chain still leads to that head.
    func verify(kept: ChainHead?) async throws -> ChainReport
    /// The newest link of the event chain, read in one snapshot.
    func chainHead() async throws -> ChainHead

    // MARK: Named requests

    /// Keeps the answer of a write named by `request_id` (recorded with the write, see
    /// ``WriteRequest``), for a repeat; without waiting for it to be durable.
    func keepAnswer(_ answer: String, for id: String)
    /// A named write done before: its kept answer, if it was kept, and its events.
    func doneRequest(_ id: String) async throws -> DoneRequest?
}

/// A write named by `request_id` that was done before.
public struct DoneRequest: Sendable {
    /// Its answer as kept (``Reply/stored``); nil when the daemon stopped before keeping it.
    public var answer: String?
    /// The events it recorded (`lastSeq < firstSeq`: none).
    public var firstSeq: Int64
    public var lastSeq: Int64
    /// Without the answer, for a write that changed one case: the case as it is now, and the
    /// version the write left it at.
    public var record: CaseRecord?
    public var version: Int?

    public init(answer: String?, firstSeq: Int64, lastSeq: Int64) {
        self.answer = answer
        self.firstSeq = firstSeq
        self.lastSeq = lastSeq
    }
}

/// What `IMPORT update=yes` did (or, in a dry run, would do) with one row.
public enum RevisionOutcome: Hashable, Sendable {
    /// The case changed: its new record and its one event (sequence number 0 in a dry run).
    case changed(CaseChange)
    /// The case holds everything the row says already.
    case unchanged(CaseID)
    /// Only in a dry run: why the row would refuse the batch.
    case refused(CasetrackError)
}

/// What an import did (or, in a dry run, would do) with one row.
public struct ImportOutcome: Hashable, Sendable {
    public var decision: ImportDecision
    /// The case opened, with its event (not in a dry run).
    public var change: CaseChange?

    public init(decision: ImportDecision, change: CaseChange? = nil) {
        self.decision = decision
        self.change = change
    }
}

/// A backup that was written and read back.
public struct BackupSummary: Hashable, Sendable {
    public var path: String
    public var bytes: Int64
    public var cases: Int
    public var events: Int
    /// The newest event in the copy: a subscriber of the restored daemon resumes from at most this.
    public var lastSequence: Int64
    /// The event chain's head in the copy: kept elsewhere, it proves later that the history up
    /// to it was not rewritten.
    public var head = ""

    public init(path: String, bytes: Int64, cases: Int, events: Int, lastSequence: Int64) {
        self.path = path
        self.bytes = bytes
        self.cases = cases
        self.events = events
        self.lastSequence = lastSequence
    }
}

/// The time a write is recorded at. Passed in so that tests can fix it.
public struct WriteClock: Sendable {
    public var now: Timestamp

    public init(now: Timestamp) { self.now = now }

    public var today: Day { now.day }
}

/// What a successful write produced: the record as it now is and the event that recorded it.
public struct CaseChange: Hashable, Sendable {
    public var record: CaseRecord
    public var event: HistoryEvent
    /// For a case just opened: the cases it is probably a duplicate of, best first, and the
    /// `possible-duplicate` event that says so (it is added all the same).
    public var possibleDuplicates: [DuplicateCandidate] = []
    public var duplicateEvent: HistoryEvent?
    /// For a status change: the case's contacts, named in the notice to readers.
    public var contacts: [ContactID] = []

    public init(record: CaseRecord, event: HistoryEvent) {
        self.record = record
        self.event = event
    }

    /// Its notices, in sequence order.
    public var notices: [Notice] {
        var notice = Notice(event: event, record: record)
        notice.contacts = contacts
        return [notice] + (duplicateEvent.map { [Notice(event: $0, record: record)] } ?? [])
    }
}

/// What a merge or an unmerge did to the two cases: each one's record as it now is (a
/// merged-away source's record as it was when it left) and the event each got.
public struct MergeChange: Hashable, Sendable {
    public var target: CaseChange
    public var source: CaseChange

    public init(target: CaseChange, source: CaseChange) {
        self.target = target
        self.source = source
    }
}

/// Duplicate candidates, with what finding them took.
public struct DuplicateReport: Sendable {
    public var candidates: [DuplicateCandidate] = []
    /// The main name of each case in `candidates`, read with them.
    public var names: [CaseID: String] = [:]
    /// Pairs above the threshold before `limit` cut the list (a scan of the register).
    public var total = 0
    /// Pairs compared.
    public var compared = 0
    /// Blocks of more than ``DuplicateBlocking/maxBlockSize`` cases sharing one key, left
    /// out: such a key says little (a very common name with no year) and would cost its square.
    public var oversizedBlocks = 0

    public init() {}

    /// A score as the protocol writes it: two decimals.
    public static func format(_ score: Double) -> String {
        let hundredths = Int((score * 100).rounded())
        return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
    }

    public static func bestFirst(_ x: DuplicateCandidate, _ y: DuplicateCandidate) -> Bool {
        (x.score, y.a, y.b) > (y.score, x.a, x.b)
    }
}

extension CaseStore {
    /// A store that cannot read without waiting answers every read through ``get(_:)``.
    public func getNow(_ ids: [CaseID], whenBegun: () -> Void) -> [CaseRecord] { [] }

    public func getNow(_ ids: [CaseID]) -> [CaseRecord] { getNow(ids, whenBegun: {}) }
}
