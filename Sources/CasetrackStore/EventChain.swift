import CasetrackCore
import Crypto
import GRDB

/// The history as a hash chain: every event row carries
/// `hash = SHA-256(previous hash || the event's canonical bytes)`, so that changing, deleting
/// or reordering a stored event breaks every hash from it on. The newest hash (the head)
/// stands for the whole history before it: a head kept elsewhere (the journal, a backup)
/// proves later that nothing before it was rewritten, unless every later hash was forged too.
///
/// The canonical bytes are the values the row is written with, in the column order of
/// ``columns``, each tagged and length-prefixed; nothing depends on how answers render.
enum EventChain {
    /// The columns hashed, in order: those `append` writes, `hash` aside.
    static let columns = """
        seq, case_id, kind, old_status, new_status, occurred, recorded_at, source, confidence, actor_uid, actor_pid, \
        note, version, changes, category, unit, tags, threshold, exchange, phase, tally
        """
    /// The hash before the first event.
    static let genesis = String(repeating: "0", count: 64)
    static let domain = Array("casetrack-event-v1".utf8)

    /// The hash of an event whose row holds `values` (in ``columns`` order), after `previous`.
    static func link(_ previous: String, _ values: [DatabaseValue]) -> String {
        var hasher = SHA256()
        hasher.update(data: domain)
        hasher.update(data: Array(previous.utf8))
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        for value in values {
            switch value.storage {
            case .null:
                bytes.append(0)
            case .int64(let number):
                bytes.append(1)
                withUnsafeBytes(of: number.bigEndian) { bytes.append(contentsOf: $0) }
            case .string(let text):
                bytes.append(2)
                let utf8 = Array(text.utf8)
                withUnsafeBytes(of: UInt32(utf8.count).bigEndian) { bytes.append(contentsOf: $0) }
                bytes.append(contentsOf: utf8)
            case .double(let number):
                bytes.append(3)
                withUnsafeBytes(of: number.bitPattern.bigEndian) { bytes.append(contentsOf: $0) }
            case .blob(let data):
                bytes.append(4)
                withUnsafeBytes(of: UInt32(data.count).bigEndian) { bytes.append(contentsOf: $0) }
                bytes.append(contentsOf: data)
            }
        }
        hasher.update(data: bytes)
        return hasher.finalize().map { byte in
            let digits = Array("0123456789abcdef".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]], as: UTF8.self)
        }.joined()
    }

    /// The newest hash: the last event's, or (everything trimmed) the last trimmed one's.
    static func head(_ db: Database) throws -> String {
        if let last = try String.fetchOne(db.cachedStatement(sql: "SELECT hash FROM events ORDER BY seq DESC LIMIT 1")) {
            return last
        }
        return try String.fetchOne(db.cachedStatement(sql: "SELECT hash FROM event_chain WHERE name = 'trimmed'")) ?? genesis
    }

    /// The hash before the oldest event kept: that of the last one retention removed.
    static func anchor(_ db: Database) throws -> String {
        try String.fetchOne(db, sql: "SELECT hash FROM event_chain WHERE name = 'trimmed'") ?? genesis
    }
}

extension SQLiteCaseStore {
    public func chainHead() async throws -> ChainHead {
        try await read { db in
            let seq = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM events") ?? Self.trimmedThrough(db)
            return ChainHead(seq: seq, hash: try EventChain.head(db))
        }
    }

    /// Recomputes the chain over every event kept, and checks that each case's row agrees
    /// with its last event (status and version) and the event counter with the last event.
    public func verify() async throws -> ChainReport {
        try await read { db in
            var report = ChainReport()
            var previous = try EventChain.anchor(db)
            var expected: Int64? = nil
            let rows = try Row.fetchCursor(db, sql: "SELECT \(EventChain.columns), hash FROM events ORDER BY seq")
            while let row = try rows.next() {
                let seq: Int64 = row[0]
                let values = (0..<21).map { row[$0] as DatabaseValue }
                let stored: String? = row[21]
                if report.events == 0 { report.firstSeq = seq }
                if let expected, seq != expected {
                    report.problem("event \(expected)", seq - expected == 1
                        ? "missing: deleted from the history" : "events \(expected) to \(seq - 1) are missing: deleted from the history")
                }
                let computed = EventChain.link(previous, values)
                if stored != computed {
                    report.problem("event \(seq)", stored == nil
                        ? "has no hash" : "does not match its hash: it, or the event before it, was changed, moved or removed")
                }
                // Go on from the stored hash: one changed event is named once, not every
                // event after it.
                previous = stored ?? computed
                expected = seq + 1
                report.events += 1
                report.lastSeq = seq
            }
            report.head = previous
            let counter = try Int64.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'event_seq'") ?? 0
            if report.events > 0, counter != report.lastSeq {
                report.problem("event \(report.lastSeq + 1)", "the event counter is at \(counter) but the last event is \(report.lastSeq): events were removed from the end")
            }
            let cases = try Row.fetchCursor(db, sql: """
                SELECT c.id, c.status, c.version, e.new_status, e.version
                FROM cases c JOIN events e ON e.seq = (SELECT max(seq) FROM events WHERE case_id = c.id)
                """)
            while let row = try cases.next() {
                let id = CaseID(number: row[0])
                let status: String = row[1]
                let version: Int64 = row[2]
                let eventStatus: String? = row[3]
                let eventVersion: Int64 = row[4]
                if eventVersion != version || (eventStatus != nil && eventStatus != status) {
                    report.problem("case \(id)", "its row (\(status), version \(version)) is not what its last event left (\(eventStatus ?? "?"), version \(eventVersion)): the row was changed outside casetrack")
                }
            }
            return report
        }
    }
}
