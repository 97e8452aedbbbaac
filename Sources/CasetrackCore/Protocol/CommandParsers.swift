/// The parts of requests that take more than one line to read: each is what one or more
/// entries of the verb table call. The generic readers (texts, dates, filters) are in
/// `Arguments.swift`.
extension Arguments {
    /// `HELLO [VERSION]`.
    func protocolVersion() throws -> Int? {
        try positional(0, "VERSION", required: false).map { text -> Int in
            guard let number = Int(text) else { throw CasetrackError.badArgument("VERSION: '\(text)' is not a number") }
            return number
        }
    }

    /// `FORMAT text|json`.
    func wireFormat() throws -> WireFormat {
        guard let format = try format(nil, positional: true) else { throw CasetrackError.badArgument("FORMAT needs text or json") }
        return format
    }

    /// The second positional value of `SET-STATUS ID STATUS`.
    func status() throws -> Status {
        guard let text = try positional(1, "STATUS", required: true) else { throw CasetrackError.badArgument("missing STATUS") }
        return try Status.parse(text, field: "STATUS")
    }

    /// `EVENT ID TYPE …`: the type's own keys only, checked as the type needs them.
    func captivityEvent() throws -> Command {
        let id = try caseID()
        guard let typeName = try positional(1, "TYPE", required: true) else { throw CasetrackError.badArgument("missing TYPE") }
        let type = try CaptivityEventType.parse(typeName, field: "TYPE")
        let own = CaptivityRules.keys(of: type)
        for key in Verb.captivityKeys where has(key) && !own.contains(key) {
            throw CasetrackError.badArgument("a \(type.rawValue) event takes no \(key)=; it takes \((own + ["corrects"]).map { "\($0)=" }.joined(separator: " ")) and at= source= confidence= note=")
        }
        func place(_ key: String) throws -> String? { try text(key, limit: 200) ?? nil }
        let captivity = CaptivityDetails(
            place: try place("place"), from: try place("from"), to: try place("to"), until: try date("until") ?? nil,
            proof: try single("proof").map {
                try ProofKind.parse($0, field: "proof", among: type == .communication ? ProofKind.communication : ProofKind.allCases)
            },
            cause: try text("cause", limit: 1_000) ?? nil,
            remains: try single("remains").map { try RemainsState.parse($0, field: "remains") },
            corrects: try single("corrects").map { value in
                guard let seq = Int64(value), seq > 0 else { throw CasetrackError.badArgument("corrects: '\(value.prefix(40))' is not an event's seq") }
                return seq
            })
        return .recordEvent(id, type, captivity, try details(), expectVersion: try expectVersion())
    }

    /// `limit=` and `after=` of a paged answer (LIST, EXPORT).
    func page() throws -> (limit: Int, after: CaseID?) {
        let limit = try number("limit", in: 1...Command.maximumPageSize) ?? Command.defaultPageSize
        let after = try single("after").map { try CaseID.parse($0, field: "after") }
        return (limit, after)
    }

    /// A sequence number (`since=` of SUBSCRIBE); nil when not given.
    func sequenceNumber(_ key: String) throws -> Int64? {
        try single(key).map { value -> Int64 in
            guard let seq = Int64(value), seq >= 0 else {
                throw CasetrackError.badArgument("\(key): '\(value.prefix(40))' is not a sequence number (0 or more)")
            }
            return seq
        }
    }

    /// Names in the order given, each once.
    func names(_ key: String) throws -> [String] {
        var names: [String] = []
        for name in try texts(key, limit: 500) where !names.contains(name) { names.append(name) }
        return names
    }

    /// `ADD`, with its event's details (read in between, in the order errors were always reported).
    func newCase() throws -> (NewCase, EventDetails) {
        let names = try names("name")
        guard !names.isEmpty else { throw CasetrackError.badArgument("ADD needs at least one name=…") }
        guard let category = try single("category").map({ try Category.parse($0, field: "category") }) else {
            throw CasetrackError.badArgument("ADD needs category=military or category=civilian")
        }
        guard let status = try single("status").map({ try Status.parse($0, field: "status") }) else {
            throw CasetrackError.badArgument("ADD needs status=…; one of \(Lifecycle.initialStatuses.map(\.rawValue).joined(separator: ", "))")
        }
        let since = try date("since") ?? nil
        let details = try details()
        let new = NewCase(
            names: names, birth: try date("birth") ?? nil, category: category, unit: try text("unit") ?? nil,
            tags: try tags("tag"), status: status, since: since,
            lastKnownPlace: try text("last_place") ?? nil, detentionPlace: try text("detention_place") ?? nil,
            references: try references("ref"), notes: try text("notes", limit: 10_000, multiline: true) ?? nil,
            sex: try sex() ?? nil, serviceNumber: try serviceNumber() ?? nil, rank: try text("rank", limit: 100) ?? nil,
            birthPlace: try text("birth_place", limit: 500) ?? nil)
        return (new, details)
    }

    /// `UPDATE`: at least one field.
    func caseUpdate() throws -> CaseUpdate {
        var update = CaseUpdate()
        if has("name") { update.names = try names("name") }
        update.addNames = try texts("add_name", limit: 500)
        update.removeNames = try texts("remove_name", limit: 500)
        update.category = try single("category").map { try Category.parse($0, field: "category") }
        update.since = try date("since")
        update.birth = try date("birth")
        update.unit = try text("unit")
        update.addTags = try tags("add_tag")
        update.removeTags = try tags("remove_tag")
        update.lastKnownPlace = try text("last_place")
        update.detentionPlace = try text("detention_place")
        update.addReferences = try references("add_ref")
        update.removeReferences = try references("remove_ref")
        update.notes = try text("notes", limit: 10_000, multiline: true)
        update.sex = try sex()
        update.serviceNumber = try serviceNumber()
        update.rank = try text("rank", limit: 100)
        update.birthPlace = try text("birth_place", limit: 500)
        guard !update.isEmpty else {
            throw CasetrackError.badArgument("UPDATE needs at least one field to change, e.g. unit=… or add_tag=…")
        }
        return update
    }

    /// `sex=`: nil when not given, `.some(nil)` when given empty (clear it).
    func sex() throws -> Sex?? {
        guard let value = try text("sex", limit: 40) else { return nil }
        return .some(try value.map { try Sex.parse($0, field: "sex") })
    }

    /// `service_number=`: one word of letters and digits with - / . between them, at least
    /// one digit; nil when not given, `.some(nil)` when given empty.
    func serviceNumber() throws -> String?? {
        guard let value = try text("service_number", limit: 40) else { return nil }
        guard let number = value else { return .some(nil) }
        guard number.contains(where: \.isNumber),
              number.allSatisfy({ $0.isLetter || $0.isNumber || "-/.".contains($0) }) else {
            throw CasetrackError.badArgument(
                "service_number: '\(number.prefix(40))' is not a service number; use letters and digits, with - / . between them")
        }
        return .some(number)
    }

    /// `STATS`.
    func statisticsQuery() throws -> StatisticsQuery {
        var query = StatisticsQuery(filter: try filter())
        if let by = try single("by") {
            guard let breakdown = Breakdown(rawValue: by.lowercased()) else {
                throw CasetrackError.badArgument("by: '\(by.prefix(40))' is not a breakdown; use one of \(Breakdown.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            query.breakdown = breakdown
        }
        query.from = try single("from").map { try Arguments.day($0, field: "from") }
        query.to = try single("to").map { try Arguments.day($0, field: "to") }
        // A month or a year means its last day (the end of March for as_of=2026-03), today at most.
        query.asOf = try date("as_of").map { date in
            guard let date else { throw CasetrackError.badArgument("as_of: give a date, not unknown") }
            return min(date.lastDay, today)
        }
        try query.validate(today: today)
        return query
    }

    /// `EXCHANGE-CREATE`: a planned exchange may lie ahead, but its date must be known.
    func exchangeCreate() throws -> Command {
        let name = try exchangeName()
        guard let given = try single("date") else {
            throw CasetrackError.badArgument("EXCHANGE-CREATE needs date=YYYY-MM-DD (or YYYY-MM, YYYY)")
        }
        guard given.lowercased() != "unknown" else {
            throw CasetrackError.badArgument("date: an exchange needs a known date (YYYY-MM-DD, YYYY-MM or YYYY), not unknown")
        }
        guard let date = PartialDate(given) else {
            throw CasetrackError.badArgument("date: '\(given.prefix(40))' is not a date; write YYYY-MM-DD, YYYY-MM or YYYY")
        }
        guard date.firstDay <= today.adding(days: 3_660) else {
            throw CasetrackError.badArgument("date: \(given) is more than ten years ahead; check the year")
        }
        return .exchangeCreate(name: name, date: date, phases: try number("phases", in: 1...Exchange.maximumPhases) ?? 1,
                               note: try text("note", limit: 10_000, multiline: true) ?? nil)
    }

    /// `EXCHANGE-COMPLETE`: the phase must be named.
    func exchangeComplete() throws -> Command {
        let name = try exchangeName()
        guard let phase = try number("phase", in: 1...Exchange.maximumPhases) else {
            throw CasetrackError.badArgument("EXCHANGE-COMPLETE needs phase=K, the phase whose people came home")
        }
        return .exchangeComplete(name: name, phase: phase, try details())
    }

    /// The rows of an `IMPORT`, as sent: each is checked on its own later, so that one answer
    /// can name every bad row.
    func importRows() throws -> [String] {
        let rows = all("row")
        guard !rows.isEmpty else { throw CasetrackError.badArgument("IMPORT needs at least one row=…") }
        guard rows.count <= ImportRow.maximumRowsPerRequest else {
            throw CasetrackError.badArgument("at most \(ImportRow.maximumRowsPerRequest) rows in one IMPORT; send the rest in another")
        }
        return rows
    }

    /// `DUPLICATES [id=ID] [min_score=0.0–1.0] [limit=N]`.
    func duplicates() throws -> Command {
        let id = try single("id").map { try CaseID.parse($0, field: "id") }
        return .duplicates(of: id, minimumScore: try minimumScore(),
                           limit: try number("limit", in: 1...Command.maximumPageSize) ?? Command.defaultPageSize)
    }

    /// `MATCH row=… [row=…]… [min_score=0.0–1.0] [limit=N]`: each row is read on its own later,
    /// so that one answer names every bad row.
    func match() throws -> Command {
        let rows = all("row")
        guard !rows.isEmpty else { throw CasetrackError.badArgument("MATCH needs at least one row=…") }
        guard rows.count <= MatchRow.maximumRowsPerRequest else {
            throw CasetrackError.badArgument("at most \(MatchRow.maximumRowsPerRequest) rows in one MATCH; send the rest in another")
        }
        return .match(rows, minimumScore: try minimumScore(),
                      limit: try number("limit", in: 1...100) ?? MatchRow.defaultCandidates)
    }

    func minimumScore() throws -> Double {
        guard let text = try single("min_score") else { return DuplicateScoring.defaultThreshold }
        guard let value = Double(text), value.isFinite, (0...1).contains(value) else {
            throw CasetrackError.badArgument("min_score: '\(text.prefix(40))' is not a number from 0.0 to 1.0")
        }
        return value
    }

    /// `MERGE SOURCE into=TARGET [prefer=FIELD:target|source]…`.
    func merge() throws -> Command {
        let source = try caseID()
        guard let text = try single("into") else {
            throw CasetrackError.badArgument("MERGE needs into=TARGET, the case that stays; usage: \(verb.usage)")
        }
        let target = try CaseID.parse(text, field: "into")
        var prefer: [MergeField: MergeSide] = [:]
        for value in all("prefer") {
            let parts = value.split(separator: ":", maxSplits: 1).map { String($0).lowercased() }
            guard parts.count == 2, let field = MergeField(rawValue: parts[0]), let side = MergeSide(rawValue: parts[1]) else {
                throw CasetrackError.badArgument(
                    "prefer: '\(value.prefix(60))' is not FIELD:target or FIELD:source; fields: \(MergeField.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard prefer.updateValue(side, forKey: field) == nil else {
                throw CasetrackError.badArgument("prefer: \(field.rawValue) is given twice")
            }
        }
        let details = try details()
        return .merge(source: source, into: target, prefer: prefer, details, expectVersion: try expectVersion(),
                      targetVersion: try number("target_version", in: 1...Int(Int32.max)))
    }

    /// `NOT-DUPLICATE A B [note=…] [undo=yes]`.
    func notDuplicate() throws -> Command {
        guard let second = try positional(1, "ID", required: true) else { throw CasetrackError.badArgument("missing the second ID") }
        return .notDuplicate(try caseID(), try CaseID.parse(second, field: "ID"),
                             note: try text("note", limit: 10_000, multiline: true) ?? nil, undo: try flag("undo"))
    }

    /// `BACKUP PATH`: absolute, since the daemon does not share the client's working folder.
    func backupPath() throws -> String {
        guard let path = try positional(0, "PATH", required: true), !path.isEmpty else {
            throw CasetrackError.badArgument("BACKUP needs the path of a new file")
        }
        try Arguments.check(path, key: "PATH", limit: 4096, multiline: false)
        guard path.hasPrefix("/") else {
            throw CasetrackError.badArgument("PATH: '\(path.prefix(80))' is relative; give the absolute path of a new file (the daemon does not share your working folder)")
        }
        return path
    }
}
