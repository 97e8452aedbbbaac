import CasetrackCore
import GRDB
import ServiceLifecycle

// Notices replayed from the store, test notices, time alerts and retention.

extension SQLiteCaseStore {
    public func notices(after seq: Int64, limit: Int) async throws -> [Notice] {
        try await read { db in try Self.noticeRows(after: seq, limit: limit, db) }
    }

    /// The stored events after `seq` as notices, oldest first, at most `limit`.
    static func noticeRows(after seq: Int64, limit: Int, _ db: Database) throws -> [Notice] {
        let contacts = try anyContacts(db)
        // Cached: an office following others reads the notices of every round it applies, and
        // a statement prepared anew runs GRDB's authorizer over every column of events.
        let statement = try db.cachedStatement(sql: """
            SELECT events.*, cases.names FROM events LEFT JOIN cases ON cases.id = events.case_id
            WHERE events.seq > ? ORDER BY events.seq LIMIT ?
            """)
        return try Row.fetchAll(statement, arguments: [seq, max(0, limit)]).map { row in
                var notice = try RowCoding.notice(row)
                // As names: the contacts as they are now.
                if contacts, notice.kind == .status || notice.kind == .correction, let id = notice.caseID {
                    notice.contacts = try contactIDs(id, db)
                }
                return notice
            }
    }

    public func trimmedThrough() async throws -> Int64 {
        try await read { db in try Self.trimmedThrough(db) }
    }

    /// The last event retention removed (0: none).
    static func trimmedThrough(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM counters WHERE name = 'trimmed_through'")) ?? 0
    }

    public func recordTestNotice(note: String?, actor: Actor, clock: WriteClock) async throws -> Notice {
        try await writer.submit(notices: { [$0] }) { db in
            var event = HistoryEvent(
                seq: 0, caseID: CaseID(number: 0), kind: .test, oldStatus: nil, newStatus: nil, occurredOn: PartialDate(clock.today),
                recordedAt: clock.now, source: nil, confidence: nil, actor: actor, note: note, version: 0)
            try Self.append(&event, nil, db)
            return Notice(event: event, record: nil)
        }
    }

    /// Finds candidates with a reader (no lock on writers), then records each due alert in
    /// the writer, checking again there: a case may have changed in between.
    public func recordDueAlerts(_ policy: AlertPolicy, actor: Actor, clock: WriteClock) async throws -> [Notice] {
        let today = clock.today
        let staleCutoff = policy.staleAfterDays.map { clock.now.unixMilliseconds - Int64($0) * 86_400_000 }
        let candidates: [Int64] = try await read { db in
            var ids = Set<Int64>()
            for threshold in policy.heldThresholds {
                let latestStart = threshold.latestStart(reaching: today).daysSinceEpoch
                ids.formUnion(try Int64.fetchAll(db, sql: """
                    SELECT cases.id FROM cases LEFT JOIN alert_marks ON alert_marks.case_id = cases.id
                    WHERE cases.status IN ('missing', 'captive') AND cases.since_day <= ?
                      AND coalesce(alert_marks.held_rank, 0) < ?
                    """, arguments: [latestStart, threshold.rank]))
            }
            if !policy.heldThresholds.isEmpty {
                // Marks to check again after a start moved later (see `replace`).
                ids.formUnion(try Int64.fetchAll(db, sql: "SELECT case_id FROM alert_marks WHERE held_rank < 0"))
            }
            for threshold in policy.proofThresholds {
                // Counted from the last proof of life, else from the start; told again after a
                // newer proof (the mark's proof day is not the case's).
                let latest = threshold.latestStart(reaching: today).daysSinceEpoch
                ids.formUnion(try Int64.fetchAll(db, sql: """
                    SELECT cases.id FROM cases LEFT JOIN alert_marks ON alert_marks.case_id = cases.id
                    WHERE cases.status IN ('missing', 'captive') AND coalesce(cases.proof_day, cases.since_day) <= ?
                      AND (coalesce(alert_marks.proof_rank, 0) < ? OR alert_marks.proof_day IS NOT cases.proof_day)
                    """, arguments: [latest, threshold.rank]))
            }
            if let staleCutoff {
                ids.formUnion(try Int64.fetchAll(db, sql: """
                    SELECT cases.id FROM cases LEFT JOIN alert_marks ON alert_marks.case_id = cases.id
                    WHERE cases.status IN ('missing', 'captive') AND cases.updated_at <= ?
                      AND coalesce(alert_marks.stale_version, 0) < cases.version
                    """, arguments: [staleCutoff]))
            }
            return ids.sorted()
        }
        var notices: [Notice] = []
        // Small batches: writers queued meanwhile wait for one batch, not for the whole scan.
        var rest = candidates[...]
        // Between batches, a stopping daemon stops here: the rest is due at the next start.
        while !rest.isEmpty, !Task.isCancelled, !Task.isShuttingDownGracefully {
            let batch = Array(rest.prefix(500))
            rest = rest.dropFirst(500)
            notices += try await writer.submit(notices: { $0 }) { db in
                var recorded: [Notice] = []
                // The pass's clock was read before its first batch; writes between batches were
                // recorded later. Stamped no earlier than the last event, the log's times keep
                // following its order, which STATS as_of= searches by (a pass across midnight
                // would otherwise put a later day's change into the earlier day).
                let last = try Int64.fetchOne(db.cachedStatement(sql: "SELECT recorded_at FROM events ORDER BY seq DESC LIMIT 1")) ?? 0
                let recordedAt = Timestamp(unixMilliseconds: max(clock.now.unixMilliseconds, last))
                for number in batch {
                    guard let record = try Self.fetch(CaseID(number: number), db) else { continue }
                    let marks = try Row.fetchOne(db, sql: """
                        SELECT held_rank, stale_version, proof_rank, proof_day FROM alert_marks WHERE case_id = ?
                        """, arguments: [number])
                    var heldRank: Int = marks?["held_rank"] ?? 0
                    // Negative: told -heldRank - 1 under a start since moved later.
                    let recheck = heldRank < 0
                    if recheck { heldRank = -heldRank - 1 }
                    let staleVersion: Int = marks?["stale_version"] ?? 0
                    var proofRank: Int = marks?["proof_rank"] ?? 0
                    var proofDay: Int? = marks?["proof_day"]
                    var alerts: [(EventKind, String)] = []
                    var newRank = heldRank
                    if let threshold = policy.heldAlert(for: record, alreadyTold: heldRank, today: today) {
                        alerts.append((.held, threshold.description))
                        newRank = threshold.rank
                    } else if recheck {
                        // Lowered to what the corrected start has reached, without an alert:
                        // what lies ahead of it is told when it comes.
                        newRank = policy.heldAlert(for: record, alreadyTold: 0, today: today)?.rank ?? 0
                    }
                    let stale = staleVersion < record.version && policy.isStale(record, now: clock.now)
                    if stale, let threshold = policy.staleThreshold { alerts.append((.stale, threshold)) }
                    if let threshold = policy.proofAlert(for: record, alreadyTold: proofRank, toldProofDay: proofDay, today: today) {
                        alerts.append((.proofStale, threshold.description))
                        proofRank = threshold.rank
                        proofDay = record.proofOfLife?.on.lastDay.daysSinceEpoch
                    }
                    guard !alerts.isEmpty || recheck else { continue }
                    for (kind, threshold) in alerts {
                        var event = HistoryEvent(
                            seq: 0, caseID: record.id, kind: kind, oldStatus: record.status, newStatus: record.status,
                            occurredOn: PartialDate(today), recordedAt: recordedAt, source: nil, confidence: nil,
                            actor: actor, note: nil, version: record.version, threshold: threshold)
                        try Self.append(&event, record, db)
                        recorded.append(Notice(event: event, record: record))
                    }
                    try db.execute(sql: """
                        INSERT INTO alert_marks (case_id, held_rank, stale_version, proof_rank, proof_day) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (case_id) DO UPDATE SET held_rank = excluded.held_rank, stale_version = excluded.stale_version,
                            proof_rank = excluded.proof_rank, proof_day = excluded.proof_day
                        """, arguments: [number, newRank, stale ? record.version : staleVersion, proofRank, proofDay])
                }
                return recorded
            }
        }
        return notices
    }

    public func trim(_ retention: Retention, clock: WriteClock) async throws -> Int {
        let through: Int64? = try await read { db in
            switch retention {
            case .all:
                return nil
            case .events(let keep):
                let last = try Int64.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'event_seq'") ?? 0
                return last - Int64(keep)
            case .days(let days):
                // Everything before the first event recorded at or after the cut-off: always a
                // prefix of the log (even if the clock once stepped back), found along the
                // primary key from where the last trim stopped.
                let cutoff = clock.now.unixMilliseconds - Int64(days) * 86_400_000
                let trimmed = try Self.trimmedThrough(db)
                if let keep = try Int64.fetchOne(db, sql: "SELECT seq FROM events WHERE seq > ? AND recorded_at >= ? ORDER BY seq LIMIT 1",
                                                 arguments: [trimmed, cutoff]) {
                    return keep - 1
                }
                return try Int64.fetchOne(db, sql: "SELECT max(seq) FROM events")
            }
        }
        guard let through, through > 0 else { return 0 }
        var deleted = 0
        // In slices, so that a first trim of a large log does not hold writers up; a stopping
        // daemon stops between slices.
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let slice = try await writer.submit { db -> Int? in
                let trimmed = try Self.trimmedThrough(db)
                let upTo = min(through, trimmed + 10_000)
                guard upTo > trimmed else { return nil }
                // The chain goes on from the last hash removed (see EventChain.anchor).
                try db.execute(sql: """
                    INSERT OR REPLACE INTO event_chain (name, hash) SELECT 'trimmed', hash FROM events WHERE seq <= ? ORDER BY seq DESC LIMIT 1
                    """, arguments: [upTo])
                try db.execute(sql: "DELETE FROM events WHERE seq > ? AND seq <= ?", arguments: [trimmed, upTo])
                let count = db.changesCount
                try db.execute(sql: "UPDATE counters SET value = ? WHERE name = 'trimmed_through'", arguments: [upTo])
                return count
            }
            guard let slice else { break }
            deleted += slice
        }
        return deleted
    }
}
