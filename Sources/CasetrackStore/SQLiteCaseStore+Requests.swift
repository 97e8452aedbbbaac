import CasetrackCore
import Foundation
import GRDB

// Writes named by their client (request_id=): recorded in the write's own transaction, so that
// a repeat after a lost answer or a crash is recognised, and answered with the first answer.

extension SQLiteCaseStore {
    /// Inside a write's savepoint, before it runs: refuses a request already done (a
    /// `repeated-request` refusal the dispatcher turns into the first answer) and returns the
    /// sequence number the write's first event will get.
    static func beginRequest(_ request: WriteRequest, _ db: Database) throws -> Int64 {
        if let verb = try String.fetchOne(db.cachedStatement(sql: "SELECT verb FROM requests WHERE request_id = ?"),
                                          arguments: [request.id]) {
            guard verb == request.verb.name else {
                throw CasetrackError.badArgument(
                    "request_id: \(request.id) was used for \(verb) already; a request id names one request (use a new one)")
            }
            throw CasetrackError(.repeated, "request \(request.id) was done before")
        }
        return try eventSeq(db) + 1
    }

    /// Inside the same savepoint, after the write ran.
    static func recordRequest(_ request: WriteRequest, firstSeq: Int64, _ db: Database) throws {
        let last = try eventSeq(db)
        try run("INSERT INTO requests (request_id, verb, first_seq, last_seq, recorded_at) VALUES (?, ?, ?, ?, ?)",
                [request.id, request.verb.name, firstSeq, last, Self.nowMilliseconds()], db)
    }

    static func nowMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// Keeps the answer a named write got, with the next batch; and forgets requests older
    /// than ``RequestID/keptMilliseconds``.
    public func keepAnswer(_ answer: String, for id: String) {
        let cutoff = Self.nowMilliseconds() - RequestID.keptMilliseconds
        writer.post { db in
            try Self.run("UPDATE requests SET answer = ? WHERE request_id = ?", [answer, id], db)
            try Self.run("DELETE FROM requests WHERE recorded_at < ?", [cutoff], db)
        }
    }

    public func doneRequest(_ id: String) async throws -> DoneRequest? {
        try await read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT answer, first_seq, last_seq FROM requests WHERE request_id = ?",
                                             arguments: [id]) else { return nil }
            var done = DoneRequest(answer: row[0], firstSeq: row[1], lastSeq: row[2])
            guard done.answer == nil else { return done }
            // The answer was lost: what the write did is in its events (and its case, if one).
            let events = try Row.fetchAll(db, sql: "SELECT case_id, version FROM events WHERE seq BETWEEN ? AND ? ORDER BY seq",
                                          arguments: [done.firstSeq, done.lastSeq])
            let cases = Set(events.compactMap { $0[0] as Int64? }.filter { $0 > 0 })
            if cases.count == 1, let number = cases.first, let last = events.last {
                done.record = try Self.fetch(CaseID(number: number), db)
                done.version = last[1]
            }
            return done
        }
    }
}
