import CasetrackCore
import Foundation

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
    /// task on its event loop, which must not spend a thousand rows' worth of folding. The
    /// rows are split over the cores: the writer waits for all of them.
    static func prepare(_ rows: [ImportRow], actor: Actor, clock: WriteClock) async -> [PreparedNewCase?] {
        let parts = rows.count < 64 ? 1 : max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8))
        let size = max(1, (rows.count + parts - 1) / parts)
        return await withTaskExecutorPreference(globalConcurrentExecutor) {
            await withTaskGroup(of: (Int, [PreparedNewCase?]).self) { group in
                for start in stride(from: 0, to: rows.count, by: size) {
                    let part = rows[start..<min(start + size, rows.count)]
                    group.addTask { (start, part.map { PreparedNewCase($0, actor: actor, clock: clock) }) }
                }
                var prepared = [PreparedNewCase?](repeating: nil, count: rows.count)
                for await (start, part) in group { prepared.replaceSubrange(start..<start + part.count, with: part) }
                return prepared
            }
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
