import CasetrackCore
import GRDB

// Duplicate candidates come from blocking keys kept beside each case (`case_match_keys`,
// written with the case, like its name keys): two cases are compared only when they share a
// key, so neither one case's check nor a scan of the whole register compares all pairs.

extension SQLiteCaseStore {
    public func duplicates(of id: CaseID?, minimumScore: Double, limit: Int) async throws -> DuplicateReport {
        try await read { db in
            let excluded = try Self.notDuplicatePairs(db)
            if let id {
                guard let record = try Self.fetch(id, db) else {
                    throw try Self.mergedError(id, db) ?? CasetrackError(.notFound, "no case \(id)")
                }
                var report = try Self.candidates(for: Identity(record), minimumScore: minimumScore, excluding: excluded, db)
                report.candidates = Array(report.candidates.prefix(limit))
                try Self.addNames(&report, db)
                return report
            }
            defer { Self.returnFreedMemory() }
            var report = try Self.scan(minimumScore: minimumScore, limit: limit, excluding: excluded, db)
            try Self.addNames(&report, db)
            return report
        }
    }

    /// The cases that share a blocking key with `identity`, scored against it, best first.
    ///
    /// As in the register-wide search, a name without a birth year pairs a case only with
    /// cases of unknown birth when one of the two has a birth date: a case with one looks its
    /// year-less keys up among the `u:` keys, which only cases without a birth date have. A
    /// key shared by more than ``DuplicateBlocking/maxBlockSize`` cases is passed over.
    ///
    /// `prepared` keeps the candidates' prepared identities for the next call in the same
    /// transaction (an import's rows, a list's lines meet the same candidates again and again).
    static func candidates(for identity: Identity, minimumScore: Double, excluding: Set<CasePair>,
                           blockLimit: Int = DuplicateBlocking.maxBlockSize, prepared: PreparedIdentities? = nil,
                           _ db: Database) throws -> DuplicateReport {
        let mine = PreparedIdentity(identity)
        return try candidates(for: mine, keys: DuplicateBlocking.keys(mine), minimumScore: minimumScore,
                              excluding: excluding, blockLimit: blockLimit, prepared: prepared, db)
    }

    /// The same for an identity prepared beforehand, with its blocking keys. `overlay`: cases
    /// not in `db` that count as if they were (an import's earlier rows, checked on a snapshot
    /// taken before the writer inserted them: ``ImportCheck``).
    static func candidates(for mine: PreparedIdentity, keys: Set<String>, minimumScore: Double, excluding: Set<CasePair>,
                           blockLimit: Int = DuplicateBlocking.maxBlockSize, prepared: PreparedIdentities? = nil,
                           overlay: RequestOverlay? = nil, _ db: Database) throws -> DuplicateReport {
        var report = DuplicateReport()
        var ids = Set<Int64>()
        for key in keys {
            let lookup = mine.hasBirth && key.hasPrefix("n:") ? "u:" + key.dropFirst(2) : key
            let members = try Int64.fetchAll(
                db.cachedStatement(sql: "SELECT case_id FROM case_match_keys WHERE key = ? LIMIT ?"),
                arguments: [lookup, blockLimit + 1])
            let more = overlay?.members(of: lookup) ?? []
            if members.count + more.count > blockLimit {
                report.oversizedBlocks += 1
                continue
            }
            ids.formUnion(members)
            ids.formUnion(more)
        }
        ids.remove(mine.id.number)
        let cache = prepared ?? PreparedIdentities()
        for number in ids.sorted() {
            guard let other = try overlay?.identity(of: number) ?? cache.identity(of: number, db) else { continue }
            report.compared += 1
            guard !excluding.contains(CasePair(mine.id, other.id)),
                  let candidate = DuplicateScoring.score(mine, other), candidate.score >= minimumScore else { continue }
            report.candidates.append(candidate)
        }
        report.total = report.candidates.count
        report.candidates.sort(by: DuplicateReport.bestFirst)
        return report
    }

    /// Every pair above the threshold in the whole register, by the tested search itself
    /// (``DuplicateBlocking/candidates(_:threshold:excluding:maxBlockSize:)``): it weighs a
    /// name by how common it is in the register, which needs the register's identities in
    /// memory (a few hundred bytes a case) for the length of the request.
    static func scan(minimumScore: Double, limit: Int, excluding: Set<CasePair>, _ db: Database) throws -> DuplicateReport {
        var identities: [Identity] = []
        let rows = try Row.fetchCursor(db, sql: "SELECT \(RowCoding.identityColumns) FROM cases ORDER BY id")
        while let row = try rows.next() { identities.append(try RowCoding.identity(row)) }
        let search = DuplicateBlocking.candidates(identities, threshold: minimumScore, excluding: excluding)
        var report = DuplicateReport()
        report.total = search.candidates.count
        report.compared = search.comparisons
        report.oversizedBlocks = search.oversizedBlocks
        report.candidates = Array(search.candidates.sorted(by: DuplicateReport.bestFirst).prefix(limit))
        return report
    }

    /// In the writer's transaction, which every other write waits for: a name shared by more
    /// than a couple of hundred cases is left to DUPLICATES.
    static let importBlockLimit = 200

    /// After a case is opened, in its transaction: the cases it probably duplicates, and a
    /// `possible-duplicate` event naming them when there are any. `ready`: the case's identity
    /// and blocking keys when prepared beforehand (an import's rows), under any number.
    static func flagDuplicates(_ change: inout CaseChange, ready: PreparedNewCase? = nil, prepared: PreparedIdentities? = nil,
                               _ db: Database) throws {
        let mine = ready?.identity.numbered(change.record.id) ?? PreparedIdentity(Identity(change.record))
        let found = try candidates(for: mine, keys: ready?.blockingKeys ?? DuplicateBlocking.keys(mine),
                                   minimumScore: DuplicateScoring.defaultThreshold, excluding: [], blockLimit: importBlockLimit,
                                   prepared: prepared, db).candidates
        try flagDuplicates(&change, found: found, db)
    }

    /// The same with the candidates found already (best first).
    static func flagDuplicates(_ change: inout CaseChange, found: [DuplicateCandidate], _ db: Database) throws {
        guard !found.isEmpty else { return }
        change.possibleDuplicates = Array(found.prefix(10))
        let record = change.record
        var event = HistoryEvent(
            seq: 0, caseID: record.id, kind: .possibleDuplicate, oldStatus: record.status, newStatus: record.status,
            occurredOn: nil, recordedAt: change.event.recordedAt, source: nil, confidence: nil, actor: change.event.actor,
            note: nil, version: record.version,
            changes: change.possibleDuplicates.map { candidate in
                let other = candidate.a == record.id ? candidate.b : candidate.a
                return "\(other) \(DuplicateReport.format(candidate.score)): \(candidate.reasons.map(\.code).joined(separator: ", "))"
            })
        try append(&event, record, db)
        change.duplicateEvent = event
    }

    /// The main names of the cases in the report, from the same snapshot.
    static func addNames(_ report: inout DuplicateReport, _ db: Database) throws {
        for candidate in report.candidates {
            for id in [candidate.a, candidate.b] where report.names[id] == nil {
                report.names[id] = try fetch(id, db)?.names.first
            }
        }
    }

    static func notDuplicatePairs(_ db: Database) throws -> Set<CasePair> {
        Set(try Row.fetchAll(db, sql: "SELECT a, b FROM not_duplicates").map { row in
            CasePair(CaseID(number: row[0]), CaseID(number: row[1]))
        })
    }

    static func matchKeys(_ record: CaseRecord) -> [String] {
        matchKeys(blocking: DuplicateBlocking.keys(for: Identity(record)), hasBirth: record.birth != nil)
    }

    /// The keys stored for a case with these blocking keys.
    static func matchKeys(blocking: Set<String>, hasBirth: Bool) -> [String] {
        var all = blocking
        // A case without a birth date is also found by the year-less name keys of cases that
        // have one (see candidates(for:)).
        if !hasBirth {
            for key in blocking where key.hasPrefix("n:") { all.insert("u:" + key.dropFirst(2)) }
        }
        return all.sorted()
    }

    static func insertMatchKeys(_ keys: [String], _ id: CaseID, _ db: Database) throws {
        guard !keys.isEmpty else { return }
        let rows = Array(repeating: "(?, ?)", count: keys.count).joined(separator: ", ")
        var arguments = StatementArguments()
        for key in keys { arguments += [key, id.number] }
        try run("INSERT OR IGNORE INTO case_match_keys (key, case_id) VALUES \(rows)", arguments, db)
    }

    /// Whether a change touched what the blocking keys are made of (names, birth, service
    /// number, references; a birth date's presence decides the `u:` keys).
    static func matchKeysDiffer(_ a: CaseRecord, _ b: CaseRecord) -> Bool {
        a.names != b.names || a.birth != b.birth || a.serviceNumber != b.serviceNumber || a.references != b.references
    }
}

extension Identity {
    /// What matching looks at in a record.
    init(_ record: CaseRecord) {
        self.init(id: record.id, names: record.names, birth: record.birth, sex: record.sex, serviceNumber: record.serviceNumber,
                  unit: record.unit, since: record.since, references: record.references)
    }
}

/// Stored cases' prepared identities, read once per transaction. Valid only while the cases
/// it read do not change: within one import's or one list's transaction (new cases have new
/// ids; nothing there rewrites an existing one's names).
final class PreparedIdentities {
    private var byCase: [Int64: PreparedIdentity] = [:]

    func identity(of number: Int64, _ db: Database) throws -> PreparedIdentity? {
        if let kept = byCase[number] { return kept }
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT \(RowCoding.identityColumns) FROM cases WHERE id = ?"),
                                         arguments: [number]) else { return nil }
        let prepared = PreparedIdentity(try RowCoding.identity(row))
        byCase[number] = prepared
        return prepared
    }
}
