import CasetrackCore

/// The verbs that move cases in and out in bulk: import, export, backup.
extension Dispatcher {
    /// `IMPORT`: every row is read first; one bad row refuses the batch (a dry run lists each).
    func importRows(_ texts: [String], dryRun: Bool, _ call: Call, session: Session) async throws -> Reply {
        let (rows, problems) = try await Self.offTheLoop {
            try Self.readRows(texts, dryRun: dryRun, what: "imported", retry: "IMPORT dry_run=yes") { text, number in
                var row = try ImportRow(text, today: call.today)
                row.number = number
                return row
            }
        }
        let outcomes = try await store.importRows(rows.map(\.row), dryRun: dryRun, actor: session.peer.actor, clock: call.clock)
        let result = ImportResult(rows: texts.count, indices: rows.map(\.index), outcomes: outcomes, problems: problems)
        if !dryRun {
            session.logger.notice("cases imported", metadata: [
                "message_id": "\(MessageID.casesImported)", "rows": "\(texts.count)", "added": "\(result.added)",
                "existing": "\(result.existing)", "first_seq": "\(result.seqs.first ?? 0)", "last_seq": "\(result.seqs.last ?? 0)",
            ])
        }
        return Replies.imported(result, dryRun: dryRun)
    }

    /// `IMPORT update=yes`: every row is read before any is applied, as for an import.
    func reviseRows(_ texts: [String], dryRun: Bool, _ call: Call, session: Session) async throws -> Reply {
        let (read, problems) = try await Self.offTheLoop {
            try Self.readRows(texts, dryRun: dryRun, what: "updated", retry: "IMPORT update=yes dry_run=yes") { text, number in
                var row = try UpdateRow(text, today: call.today)
                row.number = number
                return row
            }
        }
        let rows = read.map(\.row)
        let outcomes = try await store.reviseRows(rows, dryRun: dryRun, actor: session.peer.actor, clock: call.clock)
        if !dryRun {
            var changed = 0
            for outcome in outcomes {
                guard case .changed(let change) = outcome else { continue }
                logChange(change, session: session)
                changed += 1
            }
            session.logger.notice("cases imported", metadata: [
                "message_id": "\(MessageID.casesImported)", "update": "yes", "rows": "\(texts.count)", "changed": "\(changed)",
            ])
        }
        return Replies.revised(rows: texts.count, numbers: rows.map(\.number), outcomes: outcomes, problems: problems,
                               dryRun: dryRun)
    }

    /// Runs `body` on Swift's global executor, not on the connection's event loop: reading a
    /// thousand rows of an IMPORT took the loop 17 ms, in which the other connections it
    /// serves got no answers and no notices.
    static func offTheLoop<T: Sendable>(_ body: @Sendable () throws -> T) async throws -> T {
        try await withTaskExecutorPreference(globalConcurrentExecutor) { try body() }
    }

    /// Reads every row of a batch (`number` is the row's, from 1). Unless it is a dry run,
    /// one bad row refuses the batch, named in the error with how many others are bad.
    static func readRows<Row>(_ texts: [String], dryRun: Bool, what: String, retry: String,
                              _ read: (String, Int) throws -> Row) throws
        -> (rows: [(index: Int, row: Row)], problems: [(index: Int, error: CasetrackError)]) {
        var rows: [(index: Int, row: Row)] = []
        var problems: [(index: Int, error: CasetrackError)] = []
        for (index, text) in texts.enumerated() {
            do {
                rows.append((index, try read(text, index + 1)))
            } catch let error as CasetrackError {
                problems.append((index, error))
            }
        }
        if !dryRun, let first = problems.first {
            var details = Fields()
            details.append("row", first.index + 1)
            throw CasetrackError(.badArgument,
                "\(problems.count) of \(texts.count) rows are invalid, the first is row \(first.index + 1): \(first.error.message); nothing was \(what) (\(retry) lists every problem)",
                details: details)
        }
        return (rows, problems)
    }

    func export(_ filter: CaseFilter, limit: Int, after: CaseID?, _ call: Call) async throws -> Reply {
        // The first page names the chain head, read before it: the file then carries the
        // proof of the history it was made from (later pages may show later changes).
        let head = after == nil ? try await store.chainHead() : nil
        var (records, final) = try await page(filter, limit: limit, after: after, today: call.today)
        let full = call.role >= .reader
        final.append("personal_data", full ? "yes" : "no")
        if let head {
            final.append("head_seq", head.seq)
            final.append("head", head.hash)
        }
        return Reply(data: records.map { full ? $0.fields(today: call.today) : $0.observerFields(today: call.today) },
                     final: final)
    }

    func backup(to path: String, session: Session) async throws -> Reply {
        let summary = try await store.backup(to: path)
        session.logger.notice("backup written", metadata: [
            "message_id": "\(MessageID.backupWritten)", "path": "\(summary.path)", "bytes": "\(summary.bytes)",
            "case_count": "\(summary.cases)", "event_count": "\(summary.events)", "seq": "\(summary.lastSequence)",
            "head": "\(summary.head)",
        ])
        return Replies.backedUp(summary)
    }
}

/// What an import did with each row of a request, in the rows' order.
struct ImportResult {
    let rows: Int
    /// For each outcome, the index of its row in the request (bad rows have no outcome).
    let indices: [Int]
    let outcomes: [ImportOutcome]
    /// Rows refused: unreadable ones, then conflicts the store found.
    private(set) var problems: [(index: Int, error: CasetrackError)]

    init(rows: Int, indices: [Int], outcomes: [ImportOutcome], problems: [(index: Int, error: CasetrackError)]) {
        self.rows = rows
        self.indices = indices
        self.outcomes = outcomes
        self.problems = problems
        for (position, outcome) in outcomes.enumerated() {
            if case .conflict(let message) = outcome.decision {
                self.problems.append((indices[position],
                                      CasetrackError(message.hasPrefix("ref:") ? .duplicateReference : .badArgument, message)))
            }
        }
    }

    var added: Int { outcomes.filter { if case .add = $0.decision { return true } else { return false } }.count }
    var existing: Int { outcomes.filter { if case .existing = $0.decision { return true } else { return false } }.count }
    /// The sequence numbers of the events of the cases opened, in order: each one's creation
    /// and, when it was flagged, its possible-duplicate event.
    var seqs: [Int64] {
        outcomes.flatMap { outcome in [outcome.change?.event.seq, outcome.change?.duplicateEvent?.seq].compactMap { $0 } }
    }
}
