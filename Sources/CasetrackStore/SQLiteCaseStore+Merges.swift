import CasetrackCore
import Foundation
import GRDB

// Merges keep one person one record. A merged-away case (the source) leaves the `cases`
// table, so that every list, count, statistic and exchange report leaves it out without a
// condition of its own; `merged_cases` keeps where it went and both records as they were, so
// that an unmerge restores them exactly.

extension SQLiteCaseStore {
    public func merge(_ source: CaseID, into target: CaseID, prefer: [MergeField: MergeSide], details: EventDetails,
                      actor: Actor, expectVersion: Int?, targetVersion: Int?, clock: WriteClock) async throws -> MergeChange {
        try await writer.submit(notices: Self.notices) { db in
            let from = try Self.load(source, db)
            let into = try Self.load(target, db)
            try CaseRules.checkVersion(from, expectVersion)
            try CaseRules.checkVersion(into, targetVersion)
            let (merged, changes) = try MergeRules.merged(from, into: into, prefer: prefer)

            var record = merged
            record.version = into.version + 1
            record.updatedAt = clock.now
            try CaseRules.checkDates(record)
            // The source's references become the target's: off the source first (one owner each).
            try Self.run("DELETE FROM case_refs WHERE case_id = ?", [source.number], db)
            try Self.replace(record, was: into, db)
            let listings = try Self.moveListings(from: source, to: target, db)
            // The proof of life the target keeps, when it is the source's: its alert marks go with it.
            let sourceProof = record.proofOfLife != nil && record.proofOfLife != into.proofOfLife && record.proofOfLife == from.proofOfLife
            let marks = try Self.mergeMarks(from: source, into: target, takingProof: sourceProof, db)
            let carried = try Self.carryDecisions(from: source, to: target, db)
            try Self.delete(from, db)

            var targetEvent = HistoryEvent(
                seq: 0, caseID: target, kind: .merged, oldStatus: into.status, newStatus: record.status,
                occurredOn: details.occurredOn, recordedAt: clock.now, source: details.source, confidence: details.confidence,
                actor: actor, note: details.note, version: record.version, changes: ["merged: \(source) into \(target)"] + changes)
            var gone = from
            gone.version += 1
            gone.updatedAt = clock.now
            var sourceEvent = HistoryEvent(
                seq: 0, caseID: source, kind: .merged, oldStatus: from.status, newStatus: from.status,
                occurredOn: details.occurredOn, recordedAt: clock.now, source: details.source, confidence: details.confidence,
                actor: actor, note: details.note, version: gone.version, changes: ["merged: \(source) into \(target)"])
            try Self.append(&sourceEvent, gone, db, image: .removed)
            try Self.append(&targetEvent, record, db)
            try Self.run("""
                INSERT INTO merged_cases (id, merged_into, seq, source_record, target_record, merged_target, listings, target_marks,
                                          carried_decisions)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [source.number, target.number, targetEvent.seq, Self.snapshot(gone), Self.snapshot(into),
                      Self.snapshot(record), listings, marks, carried], db)
            return MergeChange(target: CaseChange(record: record, event: targetEvent),
                               source: CaseChange(record: gone, event: sourceEvent))
        }
    }

    public func unmerge(_ source: CaseID, details: EventDetails, actor: Actor, clock: WriteClock) async throws -> MergeChange {
        try await writer.submit(notices: Self.notices) { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT merged_into, seq, source_record, target_record, merged_target, listings, target_marks, carried_decisions
                FROM merged_cases WHERE id = ?
                """, arguments: [source.number]) else {
                if try Self.fetch(source, db) != nil {
                    throw CasetrackError.badArgument("\(source) was not merged into another case; nothing to undo")
                }
                throw CasetrackError(.notFound, "no case \(source)")
            }
            let target = CaseID(number: row["merged_into"])
            let current = try Self.load(target, db)
            // Merges into one target undo last first: the later one's record of the target
            // includes what this one brought.
            if let later = try Int64.fetchOne(db, sql: "SELECT id FROM merged_cases WHERE merged_into = ? AND seq > ? ORDER BY seq DESC",
                                              arguments: [target.number, row["seq"] as Int64]) {
                throw CasetrackError(.versionConflict,
                    "\(CaseID(number: later)) was merged into \(target) after \(source): unmerge \(CaseID(number: later)) first. Nothing was changed")
            }
            // Compared by content, not version: undoing a later merge into the same target (or of
            // the target into another) brings it back to what this merge left, at a new version.
            guard Self.sameContent(current, try Self.record(fromSnapshot: row["merged_target"])) else {
                throw CasetrackError(.versionConflict,
                    "\(target) changed after the merge: undoing the merge would undo those changes too. Nothing was changed; correct the cases by hand (UPDATE, SET-STATUS … correction=yes)")
            }
            var restored = try Self.record(fromSnapshot: row["target_record"])
            var back = try Self.record(fromSnapshot: row["source_record"])
            // The saved records are what an unmerge writes into the log, hashed for good: they
            // must be what the log says the two were before the merge.
            try Self.checkSaved(back, before: row["seq"], db)
            try Self.checkSaved(restored, before: row["seq"], db)
            restored.version = current.version + 1
            restored.updatedAt = clock.now
            back.version += 1
            back.updatedAt = clock.now
            try Self.replace(restored, was: current, db)
            try Self.insert(back, db)
            try Self.restoreListings(row["listings"], of: source, from: target, mergedAt: row["seq"], db)
            try Self.restoreMarks(row["target_marks"], of: target, db)
            try Self.takeBackDecisions(row["carried_decisions"], db)
            try Self.run("DELETE FROM merged_cases WHERE id = ?", [source.number], db)

            let change = "unmerged: \(source) from \(target)"
            var sourceEvent = HistoryEvent(
                seq: 0, caseID: source, kind: .unmerged, oldStatus: back.status, newStatus: back.status,
                occurredOn: details.occurredOn, recordedAt: clock.now, source: details.source, confidence: details.confidence,
                actor: actor, note: details.note, version: back.version, changes: [change])
            var targetEvent = HistoryEvent(
                seq: 0, caseID: target, kind: .unmerged, oldStatus: current.status, newStatus: restored.status,
                occurredOn: details.occurredOn, recordedAt: clock.now, source: details.source, confidence: details.confidence,
                actor: actor, note: details.note, version: restored.version, changes: [change])
            try Self.append(&sourceEvent, back, db)
            try Self.append(&targetEvent, restored, db)
            return MergeChange(target: CaseChange(record: restored, event: targetEvent),
                               source: CaseChange(record: back, event: sourceEvent))
        }
    }

    /// The source's "not a duplicate" decisions, made the target's: the source is the
    /// target's person, so a person judged not to be the source is not the target either.
    /// Returns the pairs added (`a:b a:b`), which an unmerge removes again.
    static func carryDecisions(from source: CaseID, to target: CaseID, _ db: Database) throws -> String {
        let decisions = try Row.fetchAll(db, sql: "SELECT a, b, note, actor_uid, recorded_at FROM not_duplicates WHERE a = ? OR b = ?",
                                         arguments: [source.number, source.number])
        var added: [String] = []
        for decision in decisions {
            let a: Int64 = decision["a"]
            let b: Int64 = decision["b"]
            let other = a == source.number ? b : a
            guard other != target.number else { continue }
            let (low, high) = other < target.number ? (other, target.number) : (target.number, other)
            try run("INSERT OR IGNORE INTO not_duplicates (a, b, note, actor_uid, recorded_at) VALUES (?, ?, ?, ?, ?)",
                    [low, high, decision["note"] as String?, decision["actor_uid"] as Int64, decision["recorded_at"] as Int64], db)
            if db.changesCount > 0 { added.append("\(low):\(high)") }
        }
        return added.joined(separator: " ")
    }

    static func takeBackDecisions(_ carried: String, _ db: Database) throws {
        for pair in carried.split(separator: " ") {
            let ends = pair.split(separator: ":").compactMap { Int64($0) }
            guard ends.count == 2 else { continue }
            try run("DELETE FROM not_duplicates WHERE a = ? AND b = ?", [ends[0], ends[1]], db)
        }
    }

    public func markNotDuplicate(_ a: CaseID, _ b: CaseID, note: String?, undo: Bool, actor: Actor,
                                 clock: WriteClock) async throws -> Bool {
        try await writer.submit { db in
            guard a != b else { throw CasetrackError.badArgument("a case is always the same person as itself") }
            for id in [a, b] { _ = try Self.load(id, db) }
            let (low, high) = a < b ? (a, b) : (b, a)
            // Decided by a person now: no longer the merge's to take back when it is undone.
            try Self.run("""
                UPDATE merged_cases SET carried_decisions = trim(replace(' ' || carried_decisions || ' ', ?, ' '))
                WHERE instr(' ' || carried_decisions || ' ', ?) > 0
                """, [" \(low.number):\(high.number) ", " \(low.number):\(high.number) "], db)
            if undo {
                try Self.run("DELETE FROM not_duplicates WHERE a = ? AND b = ?", [low.number, high.number], db)
            } else {
                try Self.run("""
                    INSERT INTO not_duplicates (a, b, note, actor_uid, recorded_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (a, b) DO UPDATE SET note = excluded.note, actor_uid = excluded.actor_uid,
                                                     recorded_at = excluded.recorded_at
                        WHERE excluded.note IS NOT NULL AND excluded.note IS NOT not_duplicates.note
                    """, [low.number, high.number, note, Int64(actor.uid), clock.now.unixMilliseconds], db)
            }
            return db.changesCount > 0
        }
    }

    /// The cases a merged-away case went into, in order: a chain (A into B, later B into C)
    /// ends at the live case. Empty when `id` was not merged.
    static func mergedPath(_ id: CaseID, _ db: Database) throws -> [CaseID] {
        var path: [CaseID] = []
        var current = id
        while let next = try Int64.fetchOne(db.cachedStatement(sql: "SELECT merged_into FROM merged_cases WHERE id = ?"),
                                            arguments: [current.number]), path.count < 64 {
            current = CaseID(number: next)
            path.append(current)
        }
        return path
    }

    /// Where a merged-away case went, and the error that says so.
    static func mergedError(_ id: CaseID, _ db: Database) throws -> CasetrackError? {
        let path = try mergedPath(id, db)
        guard let target = path.last else { return nil }
        var details = Fields()
        details.append("merged_into", path[0].description)
        if path.count > 1 { details.append("now", target.description) }
        let chain = path.count > 1 ? ", since merged into \(path.dropFirst().map(\.description).joined(separator: ", then "))" : ""
        return CasetrackError(.merged, "\(id) was merged into \(path[0])\(chain): it is one person with \(target); see \(target)",
                              details: details)
    }

    /// Takes a case out of `cases` and its side tables (the caller keeps what it needs).
    static func delete(_ record: CaseRecord, _ db: Database) throws {
        for table in ["case_tags", "case_refs", "case_name_keys", "case_match_keys"] {
            try run("DELETE FROM \(table) WHERE case_id = ?", [record.id.number], db)
        }
        try run("DELETE FROM cases WHERE id = ?", [record.id.number], db)
        try run("UPDATE counters SET value = value - 1 WHERE name = 'cases'", [], db)
    }

    /// Moves the source's exchange listings to the target, which is listed once per exchange:
    /// a phase that listed both lists the person once. Listed on two phases of one exchange,
    /// the target keeps its own unless one of the two phases is completed: then the merge is
    /// refused, for a person to decide which list was right. Returns what an unmerge needs to
    /// put them back: `exchange:phase:moved|dropped` words.
    static func moveListings(from source: CaseID, to target: CaseID, _ db: Database) throws -> String {
        let rows = try Row.fetchAll(db, sql: "SELECT exchange_id, phase FROM exchange_cases WHERE case_id = ?",
                                    arguments: [source.number])
        var words: [String] = []
        for row in rows {
            let exchange: Int64 = row["exchange_id"], phase: Int = row["phase"]
            if let targetPhase = try Int.fetchOne(db, sql: "SELECT phase FROM exchange_cases WHERE exchange_id = ? AND case_id = ?",
                                                  arguments: [exchange, target.number]) {
                if targetPhase != phase {
                    for completed in [phase, targetPhase] where try completedSeq(exchange, completed, db) != nil {
                        let name = try String.fetchOne(db, sql: "SELECT name FROM exchanges WHERE id = ?", arguments: [exchange]) ?? "?"
                        throw CasetrackError(.mergeConflict,
                            "\(source) is listed on phase \(phase) and \(target) on phase \(targetPhase) of the exchange \(LineCodec.quote(name)), and phase \(completed) is completed: which list was right is for a person to decide. Nothing was merged; correct the exchange's lists first")
                    }
                }
                try run("DELETE FROM exchange_cases WHERE exchange_id = ? AND case_id = ?", [exchange, source.number], db)
                words.append("\(exchange):\(phase):dropped")
            } else {
                try run("UPDATE exchange_cases SET case_id = ? WHERE exchange_id = ? AND case_id = ?",
                        [target.number, exchange, source.number], db)
                words.append("\(exchange):\(phase):moved")
            }
        }
        return words.joined(separator: " ")
    }

    /// Puts the source's listings back, as the merge found them; refused when a phase they
    /// name was completed after the merge, or a listing the merge moved is no longer the
    /// target's (the lists were changed meanwhile).
    static func restoreListings(_ text: String, of source: CaseID, from target: CaseID, mergedAt: Int64, _ db: Database) throws {
        for word in text.split(separator: " ") {
            let parts = word.split(separator: ":")
            guard parts.count == 3, let exchange = Int64(parts[0]), let phase = Int(parts[1]) else {
                throw RowCoding.corrupt("a merge's listings read '\(word)'")
            }
            let name = try String.fetchOne(db, sql: "SELECT name FROM exchanges WHERE id = ?", arguments: [exchange]) ?? "?"
            if let completed = try completedSeq(exchange, phase, db), completed > mergedAt {
                throw CasetrackError(.versionConflict,
                    "phase \(phase) of the exchange \(LineCodec.quote(name)) was completed after the merge: unmerging would list \(source) on a completed phase. Nothing was changed; correct the cases by hand")
            }
            if parts[2] == "moved" {
                try run("DELETE FROM exchange_cases WHERE exchange_id = ? AND case_id = ? AND phase = ?",
                        [exchange, target.number, phase], db)
                guard db.changesCount == 1 else {
                    throw CasetrackError(.versionConflict,
                        "\(target) is no longer on phase \(phase) of the exchange \(LineCodec.quote(name)), where the merge moved \(source)'s listing: the lists changed since. Nothing was changed; correct the cases by hand")
                }
            }
            try run("INSERT INTO exchange_cases (exchange_id, case_id, phase) VALUES (?, ?, ?)",
                    [exchange, source.number, phase], db)
        }
    }

    /// The target takes the higher held-alert rank of the two (an alert already raised for
    /// the person is not raised again) and, when it keeps the source's proof of life, the
    /// proof alerts told for that proof (else the next pass tells them again, for a proof
    /// already told); returns the target's marks as they were, for an unmerge.
    static func mergeMarks(from source: CaseID, into target: CaseID, takingProof: Bool, _ db: Database) throws -> String {
        let sql = "SELECT held_rank, stale_version, proof_rank, proof_day FROM alert_marks WHERE case_id = ?"
        let mine = try Row.fetchOne(db, sql: sql, arguments: [target.number])
        let saved = mine.map { row in
            "\(row["held_rank"] as Int64) \(row["stale_version"] as Int64) \(row["proof_rank"] as Int64) \((row["proof_day"] as Int64?).map(String.init) ?? "-")"
        } ?? ""
        guard let theirs = try Row.fetchOne(db, sql: sql, arguments: [source.number]) else { return saved }
        try run("""
            INSERT INTO alert_marks (case_id, held_rank, stale_version) VALUES (?, ?, 0)
            ON CONFLICT (case_id) DO UPDATE SET held_rank = max(held_rank, excluded.held_rank)
            """, [target.number, theirs["held_rank"] as Int64], db)
        if takingProof {
            try run("UPDATE alert_marks SET proof_rank = ?, proof_day = ? WHERE case_id = ?",
                    [theirs["proof_rank"] as Int64, theirs["proof_day"] as Int64?, target.number], db)
        }
        return saved
    }

    static func restoreMarks(_ text: String, of target: CaseID, _ db: Database) throws {
        let parts = text.split(separator: " ")
        let values = parts.prefix(3).compactMap { Int64($0) }
        if parts.count == 4, values.count == 3 {
            try run("""
                INSERT INTO alert_marks (case_id, held_rank, stale_version, proof_rank, proof_day) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (case_id) DO UPDATE SET held_rank = excluded.held_rank, stale_version = excluded.stale_version,
                    proof_rank = excluded.proof_rank, proof_day = excluded.proof_day
                """, [target.number, values[0], values[1], values[2], Int64(parts[3])], db)
        } else if parts.count == 2, values.count == 2 {
            // Saved before proof marks were kept with them.
            try run("""
                INSERT INTO alert_marks (case_id, held_rank, stale_version) VALUES (?, ?, ?)
                ON CONFLICT (case_id) DO UPDATE SET held_rank = excluded.held_rank, stale_version = excluded.stale_version
                """, [target.number, values[0], values[1]], db)
        } else {
            try run("DELETE FROM alert_marks WHERE case_id = ?", [target.number], db)
        }
    }

    /// Refuses a record saved at a merge that is not the case's last after-image before it
    /// (versions and times of change aside): `merged_cases` is outside the chain, and an
    /// edit there would enter the log, hashed, with the unmerge. (A merge from before
    /// after-images has no image to compare with.)
    static func checkSaved(_ saved: CaseRecord, before seq: Int64, _ db: Database) throws {
        guard let bytes = try Data.fetchOne(db, sql: """
                SELECT image FROM events WHERE case_id = ? AND seq < ? AND length(image) > 0 ORDER BY seq DESC LIMIT 1
                """, arguments: [saved.id.number, seq]),
              let decoded = CanonicalValues.decode(bytes), let logged = try? RowCoding.padded(decoded) else { return }
        let values = RowCoding.caseValues(saved)
        let ignored: Set<String> = ["version", "updated_at"]
        let differing = RowCoding.caseTableColumns.indices.filter { index in
            !ignored.contains(RowCoding.caseTableColumns[index]) && (index >= logged.count || index >= values.count || logged[index] != values[index])
        }.map { RowCoding.caseTableColumns[$0] }
        guard differing.isEmpty else {
            throw CasetrackError(.storageDamaged,
                "the record of \(saved.id) saved at its merge is not what the log says it was (\(differing.joined(separator: ", "))): it was changed outside casetrack. Nothing was changed; restore the latest backup, or correct the cases by hand")
        }
    }

    /// Whether two records say the same, whatever their versions and times of change.
    static func sameContent(_ a: CaseRecord, _ b: CaseRecord) -> Bool {
        var (x, y) = (a, b)
        (x.version, x.updatedAt) = (0, Timestamp(unixMilliseconds: 0))
        (y.version, y.updatedAt) = (0, Timestamp(unixMilliseconds: 0))
        return x == y
    }

    /// A record as a line of the protocol's own fields, which reads back exactly.
    static func snapshot(_ record: CaseRecord) -> String {
        record.fields(today: record.updatedAt.day).text
    }

    static func record(fromSnapshot text: String) throws -> CaseRecord {
        do {
            return try CaseRecord(fields: try Fields(text: text))
        } catch {
            throw RowCoding.corrupt("a merged case's saved record does not read back")
        }
    }

    static func notices(_ change: MergeChange) -> [Notice] {
        [Notice(event: change.source.event, record: change.source.record),
         Notice(event: change.target.event, record: change.target.record)]
    }
}
