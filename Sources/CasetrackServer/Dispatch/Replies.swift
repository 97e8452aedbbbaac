import CasetrackCore

/// The answers that take more than a line to put together, in one place: what a client reads
/// after a write, an exchange phase, an import, a backup, a subscription.
enum Replies {
    /// The answer to a committed change of one case: the record as it now is, and where the
    /// change stands in the log.
    static func written(_ change: CaseChange, today: Day) -> Reply {
        var final = Fields()
        final.append("id", change.record.id.description)
        final.append("version", change.record.version)
        final.append("seq", change.event.seq)
        if !change.possibleDuplicates.isEmpty {
            final.append("duplicate_of", list: change.possibleDuplicates.map { Replies.other(than: change.record.id, in: $0).description })
        }
        var reply = Reply(data: [change.record.fields(today: today)], final: final)
        reply.acknowledgesWrite = true
        return reply
    }

    static func other(than id: CaseID, in candidate: DuplicateCandidate) -> CaseID { candidate.a == id ? candidate.b : candidate.a }

    /// Duplicate candidates, best first: the two ids and main names, the score, and the
    /// evidence (`code: detail`) for and against.
    static func duplicates(_ report: DuplicateReport) -> Reply {
        let data = report.candidates.map { candidate -> Fields in
            var fields = Fields()
            fields.append("a", candidate.a.description)
            fields.append("b", candidate.b.description)
            fields.append("score", DuplicateReport.format(candidate.score))
            fields.append("reasons", list: candidate.reasons.map { $0.detail.isEmpty ? $0.code : "\($0.code): \($0.detail)" })
            fields.append("a_name", report.names[candidate.a])
            fields.append("b_name", report.names[candidate.b])
            return fields
        }
        var final = Fields()
        final.append("count", data.count)
        if report.total > data.count { final.append("total", report.total) }
        final.append("compared", report.compared)
        if report.oversizedBlocks > 0 { final.append("oversized_blocks", report.oversizedBlocks) }
        return Reply(data: data, final: final)
    }

    /// `MATCH`: a line per candidate of each row (`row=N match=exact|probable id=… score=…
    /// status=… reasons=…`), or one `row=N match=none` line; the final line counts the rows.
    static func matched(_ outcomes: [MatchOutcome]) -> Reply {
        var data: [Fields] = []
        var counts: [MatchKind: Int] = [:]
        for outcome in outcomes {
            counts[outcome.kind, default: 0] += 1
            guard !outcome.candidates.isEmpty else {
                var fields = Fields()
                fields.append("row", outcome.row)
                fields.append("match", outcome.kind.rawValue)
                fields.append("note", outcome.note)
                data.append(fields)
                continue
            }
            for candidate in outcome.candidates {
                var fields = Fields()
                fields.append("row", outcome.row)
                fields.append("match", outcome.kind.rawValue)
                fields.append("id", candidate.id.description)
                fields.append("score", DuplicateReport.format(candidate.score))
                fields.append("status", candidate.status.rawValue)
                fields.append("reasons", list: candidate.reasons)
                fields.append("note", outcome.note)
                data.append(fields)
            }
        }
        var final = Fields()
        final.append("rows", outcomes.count)
        for kind in MatchKind.allCases { final.append(kind.rawValue, counts[kind] ?? 0) }
        return Reply(data: data, final: final)
    }

    /// `IMPORT update=yes`: a line per row (`row=N result=changed|unchanged id=…`, with the
    /// event's `seq` and `changes`); in a dry run, also a line per refused row.
    static func revised(rows: Int, numbers: [Int], outcomes: [RevisionOutcome], problems: [(index: Int, error: CasetrackError)],
                        dryRun: Bool) -> Reply {
        var data: [Fields] = []
        var changed = 0
        var unchanged = 0
        var refused = problems.map { (row: $0.index + 1, error: $0.error) }
        for (position, outcome) in outcomes.enumerated() {
            let row = numbers[position]
            var fields = Fields()
            fields.append("row", row)
            switch outcome {
            case .changed(let change):
                changed += 1
                fields.append("result", "changed")
                fields.append("id", change.record.id.description)
                if !dryRun { fields.append("seq", change.event.seq) }
                fields.append("kind", change.event.kind.rawValue)
                if change.event.kind == .status { fields.append("status", change.record.status.rawValue) }
                fields.append("changes", list: change.event.changes)
            case .unchanged(let id):
                unchanged += 1
                fields.append("result", "unchanged")
                fields.append("id", id.description)
            case .refused(let error):
                refused.append((row, error))
                continue
            }
            data.append(fields)
        }
        var final = Fields()
        final.append("rows", rows)
        final.append("changed", changed)
        final.append("unchanged", unchanged)
        if dryRun {
            for (row, error) in refused.sorted(by: { $0.row < $1.row }) {
                var fields = Fields()
                fields.append("row", row)
                fields.append("code", error.code.rawValue)
                fields.append("field", ImportRow.field(of: error))
                fields.append("message", error.message)
                data.append(fields)
            }
            final.append("errors", refused.count)
            final.append("dry_run", "yes")
        }
        var reply = Reply(data: data, final: final)
        reply.acknowledgesWrite = !dryRun
        return reply
    }

    /// `VERIFY`: a line per problem (`subject`, `message`), then `ok=yes|no`, the events
    /// checked and the chain head.
    static func verified(_ report: ChainReport) -> Reply {
        let data = report.problems.map { problem -> Fields in
            var fields = Fields()
            fields.append("subject", problem.subject)
            fields.append("message", problem.message)
            return fields
        }
        var final = Fields()
        final.append("ok", report.ok ? "yes" : "no")
        final.append("events", report.events)
        if report.events > 0 {
            final.append("first_seq", report.firstSeq)
            final.append("last_seq", report.lastSeq)
        }
        final.append("head", report.head)
        if let kept = report.keptHead { final.append("kept_head", kept ? "matches" : "differs") }
        if report.unchecked > 0 { final.append("unchecked", report.unchecked) }
        if report.unlisted > 0 { final.append("unlisted", report.unlisted) }
        return Reply(data: data, final: final)
    }

    /// A merge: the target as it now is; the final line names both.
    static func merged(_ change: MergeChange, today: Day) -> Reply {
        var reply = written(change.target, today: today)
        if case .success(var final) = reply.outcome {
            final.append("merged", change.source.record.id.description)
            final.append("source_seq", change.source.event.seq)
            reply.outcome = .success(final)
        }
        return reply
    }

    /// An unmerge: both cases as they are again, the source first.
    static func unmerged(_ change: MergeChange, today: Day) -> Reply {
        var final = Fields()
        final.append("id", change.source.record.id.description)
        final.append("version", change.source.record.version)
        final.append("seq", change.source.event.seq)
        final.append("target", change.target.record.id.description)
        final.append("target_version", change.target.record.version)
        final.append("target_seq", change.target.event.seq)
        var reply = Reply(data: [change.source.record.fields(today: today), change.target.record.fields(today: today)],
                          final: final)
        reply.acknowledgesWrite = true
        return reply
    }

    /// A completed phase: one line per case returned, and the counts by category.
    static func completed(_ completion: PhaseCompletion) -> Reply {
        var final = Fields()
        final.append("exchange", completion.exchange.name)
        final.append("phase", completion.phase)
        final.append("seq", completion.event.seq)
        final.append("returned", completion.returned.values.reduce(0, +))
        for category in Category.reportOrder {
            final.append(category.rawValue, completion.returned[category] ?? 0)
        }
        let data = completion.changes.map { change -> Fields in
            var fields = Fields()
            fields.append("id", change.record.id.description)
            fields.append("category", change.record.category.rawValue)
            fields.append("version", change.record.version)
            fields.append("seq", change.event.seq)
            return fields
        }
        var reply = Reply(data: data, final: final)
        reply.acknowledgesWrite = true
        return reply
    }

    /// An import: a line per row added (and, when not a dry run, per row already on record);
    /// in a dry run, a line per problem.
    static func imported(_ result: ImportResult, dryRun: Bool) -> Reply {
        var data: [Fields] = []
        for (position, outcome) in result.outcomes.enumerated() {
            let row = result.indices[position] + 1
            switch outcome.decision {
            case .add:
                guard let change = outcome.change else { continue }
                var fields = Fields()
                fields.append("row", row)
                fields.append("result", "added")
                fields.append("id", change.record.id.description)
                fields.append("seq", change.event.seq)
                if !change.possibleDuplicates.isEmpty {
                    fields.append("duplicate_of", list: change.possibleDuplicates.map { other(than: change.record.id, in: $0).description })
                }
                data.append(fields)
            case .existing(let id):
                guard !dryRun else { continue }
                var fields = Fields()
                fields.append("row", row)
                fields.append("result", "existing")
                fields.append("id", id.description)
                data.append(fields)
            case .conflict:
                continue
            }
        }
        var final = Fields()
        final.append("rows", result.rows)
        final.append("added", result.added)
        final.append("existing", result.existing)
        if dryRun {
            for (index, error) in result.problems.sorted(by: { $0.index < $1.index }) {
                var fields = Fields()
                fields.append("row", index + 1)
                fields.append("code", error.code.rawValue)
                fields.append("field", ImportRow.field(of: error))
                fields.append("message", error.message)
                data.append(fields)
            }
            final.append("errors", result.problems.count)
            final.append("dry_run", "yes")
            return Reply(data: data, final: final)
        }
        let seqs = result.seqs
        if let first = seqs.first, let last = seqs.last {
            final.append("first_seq", first)
            final.append("last_seq", last)
        }
        var reply = Reply(data: data, final: final)
        reply.acknowledgesWrite = true
        return reply
    }

    static func backedUp(_ summary: BackupSummary) -> Reply {
        var final = Fields()
        final.append("path", summary.path)
        final.append("bytes", summary.bytes)
        final.append("cases", summary.cases)
        final.append("events", summary.events)
        final.append("last", summary.lastSequence)
        final.append("head", summary.head)
        return Reply(final: final)
    }

    /// Where a subscription starts: a client that reconnects resumes with `since=` this (or
    /// the seq of the last notice it handled, if later).
    static func subscribed(_ subscription: Subscription) -> Reply {
        var final = Fields()
        final.append("after", subscription.since ?? subscription.firstRegisteredAfter)
        final.append("last", subscription.firstRegisteredAfter)
        return Reply(final: final)
    }
}
