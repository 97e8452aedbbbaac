import CasetrackCore

/// What opening an imported case needs besides its number, worked out before the writer's
/// turn and off the event loop.
///
/// Folding a case's names for its search keys, its blocking keys and its duplicate check was
/// done three times a row, in the writer's transaction, which every other write waits for.
/// None of it depends on the case's number or on what is stored, so an import does it once
/// per row beforehand; the writer numbers the case and uses what was prepared.
struct PreparedNewCase: Sendable {
    /// The identity duplicate matching compares, under a placeholder number.
    let identity: PreparedIdentity
    let blockingKeys: Set<String>
    let keys: CaseKeys

    /// `nil` when the row cannot be opened: the writer opens it again and says why.
    init?(_ row: ImportRow, actor: Actor, clock: WriteClock) {
        guard let record = try? CaseRules.open(row.new, id: CaseID(number: 0), details: row.details, actor: actor,
                                               clock: clock).record else { return nil }
        let identity = PreparedIdentity(Identity(record))
        self.identity = identity
        blockingKeys = DuplicateBlocking.keys(identity)
        keys = CaseKeys(record, blocking: blockingKeys)
    }

    /// Every row's preparation, on Swift's global executor: the caller may be a connection's
    /// task on its event loop, which must not spend a thousand rows' worth of folding.
    static func prepare(_ rows: [ImportRow], actor: Actor, clock: WriteClock) async -> [PreparedNewCase?] {
        await withTaskExecutorPreference(globalConcurrentExecutor) {
            rows.map { PreparedNewCase($0, actor: actor, clock: clock) }
        }
    }
}

/// The rows a case has in the key tables besides its tags and references.
struct CaseKeys: Sendable {
    /// Search keys (`case_name_keys`).
    let names: [String]
    /// Blocking keys as stored (`case_match_keys`).
    let match: [String]

    init(_ record: CaseRecord) {
        self.init(record, blocking: DuplicateBlocking.keys(for: Identity(record)))
    }

    init(_ record: CaseRecord, blocking: Set<String>) {
        names = NameKey.keys(for: record.names)
        match = SQLiteCaseStore.matchKeys(blocking: blocking, hasBirth: record.birth != nil)
    }
}
