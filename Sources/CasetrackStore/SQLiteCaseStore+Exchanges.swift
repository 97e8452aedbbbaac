import CasetrackCore
import GRDB

extension SQLiteCaseStore {
    public func createExchange(_ exchange: Exchange, actor: Actor) async throws -> Exchange {
        try await writer.submit { db in
            if let existing = try String.fetchOne(db, sql: "SELECT name FROM exchanges WHERE name_key = ?",
                                                   arguments: [Exchange.key(exchange.name)]) {
                throw CasetrackError.badArgument("an exchange named \(LineCodec.quote(existing)) exists already; choose another name")
            }
            try db.execute(sql: """
                INSERT INTO exchanges (name, name_key, date, phases, note, created_at, actor_uid) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [exchange.name, Exchange.key(exchange.name), exchange.date.description, exchange.phases,
                                 exchange.note, exchange.createdAt.unixMilliseconds, Int64(actor.uid)])
            return exchange
        }
    }

    public func listOnExchange(_ name: String, phase: Int, ids: [CaseID]) async throws -> Int {
        try await writer.submit { db in
            let (exchangeID, exchange) = try Self.loadExchange(name, db)
            try Self.checkPhase(phase, of: exchange)
            if try Self.completedSeq(exchangeID, phase, db) != nil {
                throw CasetrackError(.illegalTransition,
                    "phase \(phase) of \(LineCodec.quote(exchange.name)) is completed; list people on a phase still to come")
            }
            var missing: [String] = []
            var elsewhere: [String] = []
            var added = 0
            for id in ids {
                guard try Bool.fetchOne(db, sql: "SELECT 1 FROM cases WHERE id = ?", arguments: [id.number]) == true else {
                    missing.append(id.description)
                    continue
                }
                if let listed = try Int.fetchOne(db, sql: "SELECT phase FROM exchange_cases WHERE exchange_id = ? AND case_id = ?",
                                                 arguments: [exchangeID, id.number]) {
                    if listed != phase {
                        let done = try Self.completedSeq(exchangeID, listed, db) != nil
                        elsewhere.append("\(id) (phase \(listed)\(done ? ", completed" : ""))")
                    }
                    continue
                }
                try db.execute(sql: "INSERT INTO exchange_cases (exchange_id, case_id, phase) VALUES (?, ?, ?)",
                               arguments: [exchangeID, id.number, phase])
                added += 1
            }
            if !missing.isEmpty {
                throw CasetrackError(.notFound, "no case \(Self.listing(missing)); nobody was listed")
            }
            if !elsewhere.isEmpty {
                throw CasetrackError(.badArgument,
                    "already listed on another phase of \(LineCodec.quote(exchange.name)): \(Self.listing(elsewhere)); nobody was listed. A person is on one phase: take them off first (EXCHANGE-REMOVE); one on a completed phase came home on it, and if that is wrong, correct their status instead (SET-STATUS ID captive correction=yes)")
            }
            return added
        }
    }

    public func removeFromExchange(_ name: String, ids: [CaseID]) async throws -> Int {
        try await writer.submit { db in
            let (exchangeID, exchange) = try Self.loadExchange(name, db)
            var completed: [String] = []
            var removed = 0
            for id in ids {
                guard let phase = try Int.fetchOne(db, sql: "SELECT phase FROM exchange_cases WHERE exchange_id = ? AND case_id = ?",
                                                   arguments: [exchangeID, id.number]) else { continue }
                if try Self.completedSeq(exchangeID, phase, db) != nil {
                    completed.append("\(id) (phase \(phase))")
                    continue
                }
                try db.execute(sql: "DELETE FROM exchange_cases WHERE exchange_id = ? AND case_id = ?", arguments: [exchangeID, id.number])
                removed += 1
            }
            if !completed.isEmpty {
                throw CasetrackError(.illegalTransition,
                    "listed on a completed phase of \(LineCodec.quote(exchange.name)): \(Self.listing(completed)); nobody was taken off. Someone who did not come home after all is corrected (SET-STATUS ID captive correction=yes)")
            }
            return removed
        }
    }

    public func completePhase(_ name: String, phase: Int, details: EventDetails, actor: Actor,
                              clock: WriteClock) async throws -> PhaseCompletion {
        try await writer.submit(notices: { completion in
            completion.changes.flatMap(\.notices) + [Notice(event: completion.event, record: nil)]
        }) { db in
            let (exchangeID, exchange) = try Self.loadExchange(name, db)
            try Self.checkPhase(phase, of: exchange)
            if let seq = try Self.completedSeq(exchangeID, phase, db) {
                throw CasetrackError(.illegalTransition,
                    "phase \(phase) of \(LineCodec.quote(exchange.name)) was completed already (event \(seq)); nothing was changed")
            }
            let ids = try Int64.fetchAll(db, sql: "SELECT case_id FROM exchange_cases WHERE exchange_id = ? AND phase = ? ORDER BY case_id",
                                         arguments: [exchangeID, phase])
            guard !ids.isEmpty else {
                throw CasetrackError.badArgument("nobody is listed on phase \(phase) of \(LineCodec.quote(exchange.name)); list them first (EXCHANGE-ADD)")
            }
            let mark = ExchangeMark(name: exchange.name, phase: phase)
            var changes: [CaseChange] = []
            var previous: [CaseRecord] = []
            var refused: [String] = []
            for number in ids {
                let current = try Self.load(CaseID(number: number), db)
                do {
                    var change = try CaseRules.setStatus(current, to: .returned, details: details, actor: actor,
                                                         expectVersion: nil, correction: false, clock: clock)
                    change.event.exchange = mark
                    changes.append(change)
                    previous.append(current)
                } catch let error as CasetrackError {
                    refused.append(Self.reason(current, error))
                }
            }
            // All or none: one case that cannot come home this way refuses the phase, and the
            // message names every such case, so one correction round fixes the list.
            guard refused.isEmpty else {
                throw CasetrackError(.illegalTransition,
                    "phase \(phase) of \(LineCodec.quote(exchange.name)) was not completed: \(refused.count) of \(ids.count) listed cases cannot become returned: \(refused.joined(separator: "; ")). Nothing was changed; take them off the list (EXCHANGE-REMOVE) or correct them, then complete again")
            }
            for index in changes.indices {
                try Self.replace(changes[index].record, was: previous[index], db)
                try Self.append(&changes[index].event, changes[index].record, db)
                // As for any status change: a family-liaison script writes to them.
                changes[index].contacts = try Self.contactIDs(changes[index].record.id, db)
            }
            // The counts come from the cases themselves, after the change.
            var returned: [Category: Int] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT cases.category AS category, count(*) AS n FROM exchange_cases JOIN cases ON cases.id = exchange_cases.case_id
                WHERE exchange_cases.exchange_id = ? AND exchange_cases.phase = ? AND cases.status = 'returned'
                GROUP BY cases.category
                """, arguments: [exchangeID, phase]) {
                if let category = Category(rawValue: row["category"]) { returned[category] = row["n"] }
            }
            let occurred = details.occurredUnknown ? nil : details.occurredOn ?? PartialDate(clock.today)
            var event = HistoryEvent(
                seq: 0, caseID: CaseID(number: 0), kind: .exchange, oldStatus: nil, newStatus: .returned, occurredOn: occurred,
                recordedAt: clock.now, source: details.source, confidence: details.confidence, actor: actor, note: details.note,
                version: 0, exchange: ExchangeMark(name: exchange.name, phase: phase, returned: returned))
            try Self.append(&event, nil, db)
            try db.execute(sql: "INSERT INTO exchange_phases (exchange_id, phase, completed, seq) VALUES (?, ?, ?, ?)",
                           arguments: [exchangeID, phase, occurred?.description, event.seq])
            return PhaseCompletion(exchange: exchange, phase: phase, changes: changes, event: event, returned: returned)
        }
    }

    public func exchangeReport(_ name: String) async throws -> (Exchange, [PhaseReport])? {
        try await read { db in
            guard let (exchangeID, exchange) = try Self.fetchExchange(name, db) else { return nil }
            var reports = (1...exchange.phases).map { PhaseReport(phase: $0) }
            for row in try Row.fetchAll(db, sql: "SELECT phase, completed, seq FROM exchange_phases WHERE exchange_id = ?",
                                        arguments: [exchangeID]) {
                let phase: Int = row["phase"]
                guard reports.indices.contains(phase - 1) else { continue }
                reports[phase - 1].completedOn = RowCoding.date(row["completed"])
                reports[phase - 1].completedSeq = row["seq"]
            }
            let rows = try Row.fetchCursor(db, sql: """
                SELECT exchange_cases.phase AS phase, cases.id AS id, cases.category AS category, cases.unit AS unit,
                       cases.tags AS tags, cases.status AS status
                FROM exchange_cases JOIN cases ON cases.id = exchange_cases.case_id
                WHERE exchange_cases.exchange_id = ? ORDER BY exchange_cases.phase, cases.id
                """, arguments: [exchangeID])
            while let row = try rows.next() {
                let phase: Int = row["phase"]
                guard reports.indices.contains(phase - 1), let category = Category(rawValue: row["category"]),
                      let status = Status(rawValue: row["status"])
                else { continue }
                reports[phase - 1].add(category: category, unit: row["unit"], tags: try RowCoding.decodeList(row["tags"]),
                                       status: status, id: CaseID(number: row["id"]))
            }
            return (exchange, reports)
        }
    }

    public func exchanges() async throws -> [ExchangeSummary] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT exchanges.*,
                  (SELECT count(*) FROM exchange_cases WHERE exchange_id = exchanges.id) AS listed,
                  (SELECT count(*) FROM exchange_cases JOIN cases ON cases.id = exchange_cases.case_id
                     WHERE exchange_cases.exchange_id = exchanges.id AND cases.status = 'returned') AS returned,
                  (SELECT count(*) FROM exchange_phases WHERE exchange_id = exchanges.id) AS completed_phases
                FROM exchanges ORDER BY date, name_key
                """).map { row in
                ExchangeSummary(exchange: try Self.exchange(row), listed: row["listed"], returned: row["returned"],
                                completedPhases: row["completed_phases"])
            }
        }
    }

    // MARK: Helpers

    static func exchange(_ row: Row) throws -> Exchange {
        guard let date = RowCoding.date(row["date"]) else { throw RowCoding.corrupt("exchange with a bad date") }
        return Exchange(name: row["name"], date: date, phases: row["phases"], note: row["note"],
                        createdAt: Timestamp(unixMilliseconds: row["created_at"]))
    }

    static func fetchExchange(_ name: String, _ db: Database) throws -> (Int64, Exchange)? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM exchanges WHERE name_key = ?", arguments: [Exchange.key(name)])
        else { return nil }
        return (row["id"], try exchange(row))
    }

    static func loadExchange(_ name: String, _ db: Database) throws -> (Int64, Exchange) {
        guard let found = try fetchExchange(name, db) else {
            throw CasetrackError(.notFound, "no exchange \(LineCodec.quote(name)); EXCHANGE-LIST shows those on record")
        }
        return found
    }

    static func checkPhase(_ phase: Int, of exchange: Exchange) throws {
        guard (1...exchange.phases).contains(phase) else {
            throw CasetrackError.badArgument(
                "phase: \(LineCodec.quote(exchange.name)) has \(exchange.phases) phase\(exchange.phases == 1 ? "" : "s"), not \(phase)")
        }
    }

    static func completedSeq(_ exchangeID: Int64, _ phase: Int, _ db: Database) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT seq FROM exchange_phases WHERE exchange_id = ? AND phase = ?", arguments: [exchangeID, phase])
    }

    /// Why one case cannot come home by this completion, in a few words.
    static func reason(_ record: CaseRecord, _ error: CasetrackError) -> String {
        if record.status == .returned { return "\(record.id) is already returned" }
        if !record.status.isOpen { return "\(record.id) is \(record.status.rawValue)" }
        return error.message.hasPrefix(record.id.description) ? error.message : "\(record.id): \(error.message)"
    }

    /// Up to 50 items, then how many more: an error line stays readable.
    static func listing(_ items: [String]) -> String {
        items.count <= 50 ? items.joined(separator: ", ") : items.prefix(50).joined(separator: ", ") + " and \(items.count - 50) more"
    }
}
