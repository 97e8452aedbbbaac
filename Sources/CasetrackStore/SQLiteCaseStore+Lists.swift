import CasetrackCore
import GRDB

// Lists that arrive from outside about people already on record: matching a list against
// the register (MATCH), and applying a later list to the cases it names (IMPORT update=yes).

extension SQLiteCaseStore {
    /// Blocks larger than this are passed over for one line: a line is answered in a couple of
    /// milliseconds, so that a list of a few hundred matches in well under a second.
    static let matchBlockLimit = 200

    public func match(_ rows: [MatchRow], minimumScore: Double, limit: Int) async throws -> [MatchOutcome] {
        try await read { db in
            let prepared = PreparedIdentities()
            return try rows.enumerated().map { position, row in
                let number = row.number > 0 ? row.number : position + 1
                if let id = row.caseID { return try Self.matchByID(id, row: number, db) }
                let report = try Self.candidates(for: row.identity, minimumScore: minimumScore, excluding: [],
                                                 blockLimit: Self.matchBlockLimit, prepared: prepared, db)
                var scored: [MatchCandidate] = []
                for candidate in report.candidates {
                    let id = candidate.a == row.identity.id ? candidate.b : candidate.a
                    guard let record = try Self.fetch(id, db) else { continue }
                    scored.append(MatchCandidate(id: id, score: candidate.score, reasons: candidate.reasons.map(\.code),
                                                 status: record.status))
                }
                return MatchOutcome.decide(row: number, scored: scored, minimumScore: minimumScore, limit: limit)
            }
        }
    }

    /// A line that carries our id: that case, or the one it was merged into.
    static func matchByID(_ id: CaseID, row: Int, _ db: Database) throws -> MatchOutcome {
        if let record = try fetch(id, db) {
            return MatchOutcome(row: row, kind: .exact, candidates: [MatchCandidate(id: id, score: 1, reasons: ["id"], status: record.status)])
        }
        if let target = try mergedPath(id, db).last, let record = try fetch(target, db) {
            return MatchOutcome(row: row, kind: .exact,
                                candidates: [MatchCandidate(id: target, score: 1, reasons: ["id", "merged"], status: record.status)],
                                note: "\(id) was merged into \(target)")
        }
        return MatchOutcome(row: row, kind: .none, note: "no case \(id) on record")
    }

    public func reviseRows(_ rows: [UpdateRow], dryRun: Bool, actor: Actor, clock: WriteClock) async throws -> [RevisionOutcome] {
        if dryRun {
            return try await read { db in
                var batch = RevisionBatch()
                return try rows.enumerated().map { position, row in
                    do {
                        return try Self.revise(row, number: row.number > 0 ? row.number : position + 1, batch: &batch,
                                               actor: actor, clock: clock, db)
                    } catch let error as CasetrackError {
                        return .refused(error)
                    }
                }
            }
        }
        return try await writer.submit(solo: true, notices: { outcomes in
            outcomes.flatMap { outcome -> [Notice] in
                guard case .changed(let change) = outcome else { return [] }
                return Self.notices(change)
            }
        }) { db in
            var batch = RevisionBatch()
            var outcomes: [RevisionOutcome] = []
            for (position, row) in rows.enumerated() {
                let number = row.number > 0 ? row.number : position + 1
                do {
                    var outcome = try Self.revise(row, number: number, batch: &batch, actor: actor, clock: clock, db)
                    if case .changed(var change) = outcome, let current = try Self.fetch(change.record.id, db) {
                        try Self.replace(change.record, was: current, db)
                        try Self.append(&change.event, change.record, db)
                        outcome = .changed(change)
                    }
                    outcomes.append(outcome)
                } catch let error as CasetrackError {
                    var details = error.details
                    details.append("row", number)
                    throw CasetrackError(error.code, "row \(number): \(error.message); nothing was updated", details: details)
                }
            }
            return outcomes
        }
    }

    /// What the earlier rows of a batch took: their cases, and the references they add.
    struct RevisionBatch {
        var cases: [CaseID: Int] = [:]
        var newReferences: [String: Int] = [:]
    }

    /// Decides one row against the register: the case its references name, and what the row
    /// would change in it.
    static func revise(_ row: UpdateRow, number: Int, batch: inout RevisionBatch, actor: Actor, clock: WriteClock,
                       _ db: Database) throws -> RevisionOutcome {
        var owners = Set<CaseID>()
        var unowned: [String] = []
        for ref in row.references {
            if let owner = try referenceOwner(ref, db) { owners.insert(owner) } else { unowned.append(ref) }
        }
        guard let id = owners.first else {
            throw CasetrackError(.notFound,
                "ref: no case on record has \(row.references.count == 1 ? "the reference" : "any of the references") \(row.references.joined(separator: ", ")); open it with an import without update")
        }
        guard owners.count == 1 else {
            throw CasetrackError(.duplicateReference,
                "ref: the references name \(owners.count) cases (\(owners.sorted().map(\.description).joined(separator: ", "))); a row is one person")
        }
        if let earlier = batch.cases.updateValue(number, forKey: id) {
            throw CasetrackError(.duplicateReference, "ref: \(id) is the case of row \(earlier) too; a person is updated once per list")
        }
        // In a dry run nothing is written, so a reference two rows would add is caught here.
        for ref in unowned {
            if let earlier = batch.newReferences.updateValue(number, forKey: ref) {
                throw CasetrackError(.duplicateReference, "ref: row \(earlier) adds the reference \(ref) to another case; a reference names one person")
            }
        }
        let current = try load(id, db)
        guard let change = try CaseRules.revise(current, row, actor: actor, clock: clock) else { return .unchanged(id) }
        return .changed(change)
    }
}
