import CasetrackCore
import Logging
import Synchronization

/// A store in memory, for the dispatcher's own tests: cases open, change and read back by
/// the core's write rules, and each commit is handed to `onCommit` as the store contract
/// says; anything else says it is not here. `failure`, when set, is what every call throws,
/// as a failing disk or a bug in a real store would.
actor StoreDouble: CaseStore {
    let onCommit: @Sendable ([Notice]) -> Void
    private var records: [CaseID: CaseRecord] = [:]
    private var events: [HistoryEvent] = []
    private var seq: Int64 = 0
    var failure: (any Error)?
    var trimmed: Int64 = 0
    /// With `servesNow`, the records as ``getNow(_:)`` reads them without waiting (a copy
    /// kept at each commit, as a real store's committed pages are).
    nonisolated let servesNow: Bool
    private nonisolated let committed = Mutex<[CaseID: CaseRecord]>([:])

    init(servesNow: Bool = false, onCommit: @escaping @Sendable ([Notice]) -> Void) {
        self.servesNow = servesNow
        self.onCommit = onCommit
    }

    nonisolated func getNow(_ ids: [CaseID], whenBegun: () -> Void) -> [CaseRecord] {
        guard servesNow else { return [] }
        let records = committed.withLock { committed in
            var records: [CaseRecord] = []
            for id in ids {
                guard let record = committed[id] else { break }
                records.append(record)
            }
            return records
        }
        // The copy was taken whole, under the lock: its snapshot began before this.
        if !records.isEmpty { whenBegun() }
        return records
    }

    func fail(with error: (any Error)?) { failure = error }

    func trim(through seq: Int64) { trimmed = seq }

    private func check() throws { if let failure { throw failure } }

    private func commit(_ change: CaseChange) -> CaseChange {
        seq += 1
        var change = change
        change.event.seq = seq
        records[change.record.id] = change.record
        committed.withLock { $0[change.record.id] = change.record }
        events.append(change.event)
        onCommit([Notice(event: change.event, record: change.record)])
        return change
    }

    private func current(_ id: CaseID) throws -> CaseRecord {
        guard let record = records[id] else { throw CasetrackError(.notFound, "no case \(id)") }
        return record
    }

    func add(_ new: NewCase, details: EventDetails, actor: Actor, clock: WriteClock) async throws -> CaseChange {
        try check()
        return commit(try CaseRules.open(new, id: CaseID(number: Int64(records.count + 1)), details: details, actor: actor,
                                         clock: clock))
    }

    func setStatus(_ id: CaseID, to status: Status, details: EventDetails, actor: Actor, expectVersion: Int?,
                   correction: Bool, clock: WriteClock) async throws -> CaseChange {
        try check()
        return commit(try CaseRules.setStatus(try current(id), to: status, details: details, actor: actor,
                                              expectVersion: expectVersion, correction: correction, clock: clock))
    }

    func update(_ id: CaseID, _ update: CaseUpdate, details: EventDetails, actor: Actor, expectVersion: Int?,
                clock: WriteClock) async throws -> CaseChange {
        try check()
        return commit(try CaseRules.update(try current(id), update, details: details, actor: actor,
                                           expectVersion: expectVersion, clock: clock))
    }

    func recordEvent(_ id: CaseID, _ type: CaptivityEventType, _ captivity: CaptivityDetails, details: EventDetails,
                     actor: Actor, expectVersion: Int?, clock: WriteClock) async throws -> CaseChange {
        try check()
        let earlier = events.filter { $0.caseID == id && $0.details != nil }
        return commit(try CaptivityRules.record(try current(id), type, captivity, details: details, earlier: earlier,
                                                actor: actor, expectVersion: expectVersion, clock: clock))
    }

    func addContact(_ id: CaseID, _ change: ContactChange, actor: Actor, clock: WriteClock) async throws -> Contact { throw Self.absent }
    func updateContact(_ id: ContactID, _ change: ContactChange, actor: Actor, clock: WriteClock) async throws -> Contact {
        throw Self.absent
    }
    func removeContact(_ id: ContactID, actor: Actor, clock: WriteClock) async throws -> Contact { throw Self.absent }
    func contacts(of id: CaseID) async throws -> [Contact]? { throw Self.absent }
    func addEnquiry(_ id: CaseID, from: EnquirySource, question: String, asked: PartialDate, actor: Actor,
                    clock: WriteClock) async throws -> Enquiry { throw Self.absent }
    func answerEnquiry(_ id: EnquiryID, answer: String, answered: PartialDate, actor: Actor, clock: WriteClock) async throws -> Enquiry {
        throw Self.absent
    }
    func enquiries(of id: CaseID?, unansweredOlder: HeldDuration?, today: Day) async throws -> [Enquiry] { throw Self.absent }
    func allContacts(after: ContactID?, limit: Int) async throws -> [Contact] { throw Self.absent }

    func get(_ id: CaseID) async throws -> CaseRecord? {
        try check()
        return records[id]
    }

    func history(_ id: CaseID) async throws -> [HistoryEvent]? {
        try check()
        guard records[id] != nil else { return nil }
        return events.filter { $0.caseID == id }
    }

    func list(_ filter: CaseFilter, today: Day, limit: Int, after: CaseID?) async throws -> [CaseRecord] {
        try check()
        let matching = records.values.filter { record in
            filter.matches(record, today: today) && (after.map { record.id > $0 } ?? true)
        }
        return Array(matching.sorted { $0.id < $1.id }.prefix(limit))
    }

    func count(_ filter: CaseFilter, today: Day) async throws -> Int {
        try check()
        return records.values.filter { filter.matches($0, today: today) }.count
    }

    func statistics(_ filter: CaseFilter, today: Day) async throws -> CaseStatistics { throw Self.absent }

    func lastSequence() async throws -> Int64 {
        try check()
        return seq
    }

    func notices(after seq: Int64, limit: Int) async throws -> [Notice] {
        try check()
        return events.filter { $0.seq > max(seq, trimmed) }.prefix(limit).map { Notice(event: $0, record: records[$0.caseID]) }
    }

    func trimmedThrough() async throws -> Int64 {
        try check()
        return trimmed
    }

    func recordTestNotice(note: String?, actor: Actor, clock: WriteClock) async throws -> Notice { throw Self.absent }
    func recordDueAlerts(_ policy: AlertPolicy, actor: Actor, clock: WriteClock) async throws -> [Notice] { [] }
    func trim(_ retention: Retention, clock: WriteClock) async throws -> Int { 0 }
    func statistics(_ query: StatisticsQuery, today: Day) async throws -> StatisticsTable { throw Self.absent }
    func createExchange(_ exchange: Exchange, actor: Actor) async throws -> Exchange { throw Self.absent }
    func listOnExchange(_ name: String, phase: Int, ids: [CaseID]) async throws -> Int { throw Self.absent }
    func removeFromExchange(_ name: String, ids: [CaseID]) async throws -> Int { throw Self.absent }
    func completePhase(_ name: String, phase: Int, details: EventDetails, actor: Actor,
                       clock: WriteClock) async throws -> PhaseCompletion { throw Self.absent }
    func exchangeReport(_ name: String) async throws -> (Exchange, [PhaseReport])? { throw Self.absent }
    func exchanges() async throws -> [ExchangeSummary] { throw Self.absent }
    func importRows(_ rows: [ImportRow], dryRun: Bool, actor: Actor, clock: WriteClock) async throws -> [ImportOutcome] {
        throw Self.absent
    }
    func backup(to path: String) async throws -> BackupSummary { throw Self.absent }
    func reviseRows(_ rows: [UpdateRow], dryRun: Bool, actor: Actor, clock: WriteClock) async throws -> [RevisionOutcome] {
        throw Self.absent
    }
    func match(_ rows: [MatchRow], minimumScore: Double, limit: Int) async throws -> [MatchOutcome] { throw Self.absent }
    nonisolated func keepAnswer(_ answer: String, for id: String) {}
    func verify(kept: ChainHead?) async throws -> ChainReport { throw Self.absent }
    func chainHead() async throws -> ChainHead { throw Self.absent }
    func doneRequest(_ id: String) async throws -> DoneRequest? { throw Self.absent }
    func merge(_ source: CaseID, into target: CaseID, prefer: [MergeField: MergeSide], details: EventDetails,
               actor: Actor, expectVersion: Int?, targetVersion: Int?, clock: WriteClock) async throws -> MergeChange {
        throw Self.absent
    }
    func duplicates(of id: CaseID?, minimumScore: Double, limit: Int) async throws -> DuplicateReport { throw Self.absent }
    func unmerge(_ source: CaseID, details: EventDetails, actor: Actor, clock: WriteClock) async throws -> MergeChange {
        throw Self.absent
    }
    func markNotDuplicate(_ a: CaseID, _ b: CaseID, note: String?, undo: Bool, actor: Actor,
                          clock: WriteClock) async throws -> Bool { throw Self.absent }

    /// Not a ``CasetrackError``: the dispatcher must not pass its text on to the client.
    struct Absent: Error, CustomStringConvertible {
        var description: String { "the store double does not do this (secret detail)" }
    }
    static let absent = Absent()
}

/// Keeps every log entry, with the logger's metadata merged in, so that a test can see what
/// the journal would get.
final class LogCapture: Sendable {
    struct Entry: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: [String: String]
    }

    private let entries = Mutex<[Entry]>([])

    var all: [Entry] { entries.withLock { $0 } }

    func append(_ entry: Entry) { entries.withLock { $0.append(entry) } }

    var logger: Logger {
        Logger(label: "test") { _ in Handler(capture: self) }
    }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged = metadata
            if let extra = event.metadata { merged.merge(extra) { $1 } }
            capture.append(Entry(level: event.level, message: "\(event.message)",
                                 metadata: merged.mapValues { "\($0)" }))
        }
    }
}
