#if canImport(Glibc)
import Glibc
#endif
import CasetrackCore
import Foundation
import GRDB

// VERIFY: the log checked against itself (the chain) and the tables against the log (each
// case's row is its last after-image, the side tables and counters follow from the rows).

extension SQLiteCaseStore {
    /// Cases, and events, checked per read transaction. One transaction for the whole check
    /// held the WAL for its two minutes on a million cases: no checkpoint could pass it, so
    /// every write meanwhile grew the WAL. Each part is checked in a snapshot of its own.
    static let verifyCasesPerRead: Int64 = 20_000
    static let verifyEventsPerRead = 100_000

    public func verify(kept: ChainHead? = nil) async throws -> ChainReport {
        try await verify(casesPerRead: Self.verifyCasesPerRead, eventsPerRead: Self.verifyEventsPerRead, kept: kept)
    }

    /// The log up to its last event when the check began, and the cases as they stand when
    /// each range of them is read: every range is one consistent snapshot of rows and log.
    /// `betweenReads` runs after each read transaction but the last (tests write there).
    func verify(casesPerRead: Int64, eventsPerRead: Int, kept: ChainHead? = nil,
                betweenReads: @Sendable () async throws -> Void = {}) async throws -> ChainReport {
        defer { Self.returnFreedMemory() }
        var (report, walk) = try await read { db in
            var report = ChainReport()
            let walk = try Self.startChain(&report, kept: kept, db)
            return (report, walk)
        }
        while !walk.done {
            try await betweenReads()
            (report, walk) = try await read { [report, walk] db in
                var report = report, walk = walk
                try Self.verifyChain(&report, &walk, limit: eventsPerRead, db)
                return (report, walk)
            }
        }
        var range = CaseRange(next: 0, end: walk.lastCase)
        while range.next <= range.end {
            try await betweenReads()
            (report, range) = try await read { [report, range] db in
                var report = report, range = range
                let upTo = min(range.end, range.next + casesPerRead - 1)
                try Self.verifyRows(&report, from: range.next, through: upTo, db)
                range.next = upTo + 1
                return (report, range)
            }
        }
        try await betweenReads()
        return try await read { [report] db in
            var report = report
            try Self.verifyCounts(&report, db)
            return report
        }
    }

    /// Where the check of the chain stands between read transactions.
    struct ChainWalk: Sendable {
        var previous: String
        var imagesFrom: Int64
        /// The next event due; nil before the first.
        var expected: Int64?
        /// The last event checked (or the last trimmed, before any).
        var after: Int64
        /// The last event when the check began: later ones are left for the next check.
        let end: Int64
        /// The event counter then: it must name that last event.
        let counter: Int64
        /// The highest case id anywhere (rows or log) when the check began.
        let lastCase: Int64
        /// A head kept elsewhere, until the walk reaches its event.
        var kept: ChainHead?
        /// The chain made again from the events alone, never from a stored hash: what a head
        /// kept elsewhere is checked against.
        var recomputed: String
        var done: Bool { after >= end }
    }

    struct CaseRange: Sendable {
        var next: Int64
        let end: Int64
    }

    /// Reads where the log begins and ends; checks that the counter names its last event.
    static func startChain(_ report: inout ChainReport, kept: ChainHead? = nil, _ db: Database) throws -> ChainWalk {
        let end = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM events") ?? 0
        let counter = try Int64.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'event_seq'") ?? 0
        let lastCase = max(try Int64.fetchOne(db, sql: "SELECT max(id) FROM cases") ?? 0,
                           try Int64.fetchOne(db, sql: "SELECT max(case_id) FROM events WHERE image IS NOT NULL") ?? 0)
        // Retention removes events from the oldest up to its mark: one still there at or below
        // the mark means the mark was moved, which would let rows go unchecked.
        let trimmed = try trimmedThrough(db)
        if trimmed > 0, let left = try Int64.fetchOne(db, sql: "SELECT count(*) FROM events WHERE seq <= ?", arguments: [trimmed]), left > 0 {
            report.problem("event \(trimmed)", "the log says retention removed events 1 to \(trimmed), yet \(left) of them are there: the mark was changed outside casetrack")
        }
        let anchor = try EventChain.anchor(db)
        var walk = ChainWalk(previous: anchor, imagesFrom: try EventChain.imagesFrom(db), expected: nil,
                             after: trimmed, end: end, counter: counter, lastCase: lastCase, kept: kept, recomputed: anchor)
        report.head = walk.previous
        if let kept {
            if kept.seq == walk.after {
                // The head kept is the last event retention removed (or nothing yet, at 0):
                // its hash is the anchor the chain goes on from.
                compare(kept, walk.previous, &report, &walk)
            } else if kept.seq < walk.after {
                report.keptHead = false
                walk.kept = nil
                report.problem("event \(kept.seq)", "retention removed it: the head kept for it can no longer be checked (the oldest event kept follows event \(walk.after))")
            } else if kept.seq > end {
                report.keptHead = false
                walk.kept = nil
                report.problem("event \(kept.seq)", "is not in the log, which ends at event \(end): the head kept for it is of another register, or events were removed from the end")
            }
        }
        return walk
    }

    /// Whether the chain, recomputed up to `kept.seq`, gives the head kept elsewhere.
    private static func compare(_ kept: ChainHead, _ computed: String, _ report: inout ChainReport, _ walk: inout ChainWalk) {
        walk.kept = nil
        report.keptHead = computed == kept.hash
        if computed != kept.hash {
            report.problem("event \(kept.seq)", "the chain recomputed up to it gives \(computed), not the head kept for it (\(kept.hash)): the history up to it was changed since that head was taken")
        }
    }

    /// The whole check in the caller's one transaction (a file nothing else writes: a rebuild's).
    static func verifyWhole(_ db: Database) throws -> ChainReport {
        var report = ChainReport()
        var walk = try startChain(&report, db)
        while !walk.done { try verifyChain(&report, &walk, limit: verifyEventsPerRead, db) }
        try verifyRows(&report, from: 0, through: walk.lastCase, db)
        try verifyCounts(&report, db)
        return report
    }

    /// Gives the memory a walk over the whole register freed back to the system. glibc keeps
    /// freed heap for reuse: after a whole-register scan the daemon stayed at 1.2 GB resident,
    /// and after VERIFY at 385 MB, for as long as it ran.
    /// (malloc_trim is glibc's own, not in the Glibc module: found at run time, and skipped
    /// where the C library has none.)
    static func returnFreedMemory() {
        #if canImport(Glibc)
        typealias Trim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
        #endif
    }

    /// Recomputes the chain over the next `limit` events kept; names each event missing,
    /// changed or moved.
    static func verifyChain(_ report: inout ChainReport, _ walk: inout ChainWalk, limit: Int, _ db: Database) throws {
        // Retention removed events not yet checked since the last read: the chain goes on
        // from the hash it kept of the last one removed.
        let trimmed = try trimmedThrough(db)
        if trimmed > walk.after {
            walk.previous = try EventChain.anchor(db)
            walk.recomputed = walk.previous
            walk.after = trimmed
            if walk.expected != nil { walk.expected = trimmed + 1 }
        }
        let rows = try Row.fetchCursor(db, sql: "SELECT \(EventChain.columns), hash FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                                       arguments: [walk.after, walk.end, limit])
        var read = 0
        while let row = try rows.next() {
            let seq: Int64 = row[0]
            let values = (0..<EventChain.columnCount).map { row[$0] as DatabaseValue }
            let stored: String? = row[EventChain.columnCount]
            if report.events == 0 { report.firstSeq = seq }
            if let expected = walk.expected, seq != expected {
                report.problem("event \(expected)", seq - expected == 1
                    ? "missing: deleted from the history" : "events \(expected) to \(seq - 1) are missing: deleted from the history")
            }
            if let kept = walk.kept, kept.seq < seq {
                // Its event is gone from the log (deleted): what followed it cannot vouch.
                report.keptHead = false
                walk.kept = nil
                report.problem("event \(kept.seq)", "is missing, so the head kept for it cannot be reached: the history up to it was changed")
            }
            let computed = EventChain.link(walk.previous, values, imagesFrom: walk.imagesFrom)
            if let kept = walk.kept {
                // Made again from the events, not from stored hashes: a history rewritten
                // with its hashes made again agrees with itself, never with a head kept
                // elsewhere. (While the stored chain agrees, it is the one just computed.)
                walk.recomputed = walk.recomputed == walk.previous ? computed : EventChain.link(walk.recomputed, values, imagesFrom: walk.imagesFrom)
                if kept.seq == seq { compare(kept, walk.recomputed, &report, &walk) }
            }
            if stored != computed {
                report.problem("event \(seq)", stored == nil
                    ? "has no hash" : "does not match its hash: it, or the event before it, was changed, moved or removed")
            }
            // Go on from the stored hash: one changed event is named once, not every event
            // after it.
            walk.previous = stored ?? computed
            walk.expected = seq + 1
            walk.after = seq
            report.events += 1
            report.lastSeq = seq
            read += 1
        }
        // Fewer than asked: nothing more up to the end (the last ones were deleted).
        if read < limit { walk.after = walk.end }
        report.head = walk.previous
        if walk.done, walk.end > 0, walk.counter != walk.end {
            report.problem("event \(walk.end + 1)", "the event counter is at \(walk.counter) but the last event is \(walk.end): events were removed from the end")
        }
    }

    /// Walks the cases with ids `first...last` and their last after-images side by side, both
    /// in id order.
    static func verifyRows(_ report: inout ChainReport, from first: Int64, through last: Int64, _ db: Database) throws {
        // With retention, a case unchanged since the trim has no image left to check against.
        let complete = try trimmedThrough(db) == 0
        let images = try Row.fetchCursor(db, sql: """
            SELECT case_id, seq, image FROM events WHERE image IS NOT NULL AND case_id BETWEEN ? AND ? ORDER BY case_id, seq
            """, arguments: [first, last])
        var pending = try images.next()
        /// The last image of the next case that has one: (case, seq, image).
        func nextImage() throws -> (Int64, Int64, Data)? {
            guard let first = pending else { return nil }
            var last = (first[0] as Int64, first[1] as Int64, first[2] as Data)
            while let row = try images.next() {
                guard row[0] as Int64 == last.0 else { pending = row; return last }
                last = (last.0, row[1], row[2])
            }
            pending = nil
            return last
        }
        let cases = try Row.fetchCursor(db, sql: "SELECT \(RowCoding.caseTableColumns.joined(separator: ", ")) FROM cases WHERE id BETWEEN ? AND ? ORDER BY id",
                                        arguments: [first, last])
        var image = try nextImage()
        var row = try cases.next()
        while image != nil || row != nil {
            let imageID = image?.0 ?? .max
            let rowID = (row?[0] as Int64?) ?? .max
            if imageID < rowID, let (id, seq, bytes) = image {
                if !bytes.isEmpty {
                    report.problem("case \(CaseID(number: id))", "is missing: its last change (event \(seq)) left a row, and there is none")
                }
                image = try nextImage()
            } else if rowID < imageID, let values = row.map({ row in (0..<row.count).map { row[$0] as DatabaseValue } }) {
                if complete {
                    report.problem("case \(CaseID(number: rowID))", "has a row but no event in the log: it was added outside casetrack")
                } else {
                    // Unchanged since retention removed its events: nothing to check it by.
                    report.unchecked += 1
                }
                try checkSideRows(values, &report, db)
                row = try cases.next()
            } else if let (id, seq, bytes) = image, let current = row {
                let values = (0..<current.count).map { current[$0] as DatabaseValue }
                if bytes.isEmpty {
                    report.problem("case \(CaseID(number: id))", "has a row, but it was merged into another case (event \(seq)): the row was put back outside casetrack")
                } else if Data(CanonicalValues.encode(values)) != bytes,
                          // An image from before the last columns were added lacks them.
                          CanonicalValues.decode(bytes).flatMap({ try? RowCoding.padded($0) }) != values {
                    let expected = CanonicalValues.decode(bytes).flatMap { try? RowCoding.padded($0) } ?? []
                    let differing = RowCoding.caseTableColumns.indices
                        .filter { $0 >= expected.count || expected[$0] != values[$0] }
                        .map { RowCoding.caseTableColumns[$0] }
                    report.problem("case \(CaseID(number: id))", "its row is not what its last change (event \(seq)) left: \(differing.joined(separator: ", ")) \(differing.count == 1 ? "differs" : "differ"); the row was changed outside casetrack")
                }
                try checkSideRows(values, &report, db)
                image = try nextImage()
                row = try cases.next()
            }
        }
    }

    /// The tags, references and search keys stored for a case are those its row implies.
    static func checkSideRows(_ values: [DatabaseValue], _ report: inout ChainReport, _ db: Database) throws {
        guard let record = try? RowCoding.record(tableValues: values) else {
            report.problem("case \(CaseID(number: Int64.fromDatabaseValue(values[0]) ?? 0))", "its row cannot be read")
            return
        }
        let expected: [(table: String, column: String, values: [String])] = [
            ("case_tags", "tag", record.tags),
            ("case_refs", "ref", record.references),
            ("case_name_keys", "key", NameKey.keys(for: record.names)),
            ("case_match_keys", "key", matchKeys(record)),
        ]
        for side in expected {
            let stored = try String.fetchAll(db.cachedStatement(sql: "SELECT \(side.column) FROM \(side.table) WHERE case_id = ?"),
                                             arguments: [record.id.number])
            if Set(stored) != Set(side.values) || stored.count != Set(stored).count {
                report.problem("case \(record.id)", "its \(side.table) rows are not what its row implies: the table was changed outside casetrack")
            }
        }
    }

    /// The counters kept beside the rows: the number of cases and the counts by status.
    static func verifyCounts(_ report: inout ChainReport, _ db: Database) throws {
        let counted = try Int64.fetchOne(db, sql: "SELECT count(*) FROM cases") ?? 0
        let counter = try Int64.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'cases'") ?? 0
        if counted != counter {
            report.problem("counter cases", "says \(counter) but there are \(counted) cases")
        }
        let wrong = try Int64.fetchOne(db, sql: """
            SELECT count(*) FROM (
                SELECT status, category, span, n FROM case_counts WHERE n <> 0
                EXCEPT SELECT status, category, since_day >> 5, count(*) FROM cases WHERE since_day IS NOT NULL GROUP BY 1, 2, 3)
            """) ?? 0
        let missing = try Int64.fetchOne(db, sql: """
            SELECT count(*) FROM (
                SELECT status, category, since_day >> 5, count(*) FROM cases WHERE since_day IS NOT NULL GROUP BY 1, 2, 3
                EXCEPT SELECT status, category, span, n FROM case_counts WHERE n <> 0)
            """) ?? 0
        if wrong + missing > 0 {
            report.problem("counter case_counts", "\(max(wrong, missing)) counts by status, category and start do not match the cases")
        }
        try verifySideTables(&report, db)
    }

    /// What the log can vouch for in tables outside the chain: a completed exchange phase
    /// names its own completion event, and every reference belongs to a case on record (a
    /// left-over one refuses that reference to every case, as "already belongs to").
    static func verifySideTables(_ report: inout ChainReport, _ db: Database) throws {
        let trimmed = try trimmedThrough(db)
        for row in try Row.fetchAll(db, sql: """
            SELECT x.name, p.phase, p.seq, e.kind, e.exchange, e.phase AS event_phase
            FROM exchange_phases p JOIN exchanges x ON x.id = p.exchange_id LEFT JOIN events e ON e.seq = p.seq
            WHERE p.seq > ? ORDER BY p.seq
            """, arguments: [trimmed]) {
            let name: String = row["name"], phase: Int64 = row["phase"], seq: Int64 = row["seq"]
            let kind: String? = row["kind"], exchange: String? = row["exchange"], eventPhase: Int64? = row["event_phase"]
            if kind != EventKind.exchange.rawValue || exchange != name || eventPhase != phase {
                report.problem("exchange \(LineCodec.quote(name)) phase \(phase)",
                    "is marked completed by event \(seq), which is not its completion: the table was changed outside casetrack")
            }
        }
        let stray = try Int64.fetchOne(db, sql: "SELECT count(*) FROM case_refs WHERE case_id NOT IN (SELECT id FROM cases)") ?? 0
        if stray > 0 {
            report.problem("table case_refs", "\(stray) reference\(stray == 1 ? " belongs" : "s belong") to no case on record: added outside casetrack")
        }
    }
}
