import Foundation

/// The details every write carries into the event it records.
public struct EventDetails: Hashable, Sendable {
    /// When it happened. `nil` means: not said (today for status changes; for a new case, the
    /// date it went missing), unless ``occurredUnknown`` says the date is known to be unknown.
    public var occurredOn: PartialDate?
    /// `at=unknown` was given: the event's date is unknown, not today.
    public var occurredUnknown: Bool
    public var source: String?
    public var confidence: Confidence?
    public var note: String?

    public init(occurredOn: PartialDate? = nil, occurredUnknown: Bool = false, source: String? = nil,
                confidence: Confidence? = nil, note: String? = nil) {
        self.occurredOn = occurredOn
        self.occurredUnknown = occurredUnknown && occurredOn == nil
        self.source = source
        self.confidence = confidence
        self.note = note
    }
}

/// A case to open.
public struct NewCase: Hashable, Sendable {
    public var names: [String]
    public var birth: PartialDate?
    public var category: Category
    public var unit: String?
    public var tags: [String]
    public var status: Status
    public var since: PartialDate?
    public var lastKnownPlace: String?
    public var detentionPlace: String?
    public var references: [String]
    public var notes: String?

    public init(names: [String], birth: PartialDate? = nil, category: Category, unit: String? = nil, tags: [String] = [],
                status: Status, since: PartialDate? = nil, lastKnownPlace: String? = nil, detentionPlace: String? = nil,
                references: [String] = [], notes: String? = nil) {
        self.names = names
        self.birth = birth
        self.category = category
        self.unit = unit
        self.tags = tags
        self.status = status
        self.since = since
        self.lastKnownPlace = lastKnownPlace
        self.detentionPlace = detentionPlace
        self.references = references
        self.notes = notes
    }
}

/// Changes to fields other than the status. `nil` leaves a field alone; `.some(nil)` clears it.
public struct CaseUpdate: Hashable, Sendable {
    public var names: [String]?
    public var addNames: [String] = []
    public var removeNames: [String] = []
    public var category: Category?
    public var since: PartialDate??
    public var birth: PartialDate??
    public var unit: String??
    public var addTags: [String] = []
    public var removeTags: [String] = []
    public var lastKnownPlace: String??
    public var detentionPlace: String??
    public var addReferences: [String] = []
    public var removeReferences: [String] = []
    public var notes: String??

    public init() {}

    /// The most names, tags or references one case holds: it bounds the size of a record.
    public static let maximumListLength = 50

    public var isEmpty: Bool { self == CaseUpdate() }

    /// Applies the update to a record and says what changed, one line per field; throws when
    /// the result would be invalid (no name left, removing what is not there).
    public func apply(to record: inout CaseRecord) throws -> [String] {
        var changes: [String] = []
        func note<T: Equatable>(_ field: String, _ old: T, _ new: T, _ show: (T) -> String) {
            if old != new { changes.append("\(field): \(show(old)) -> \(show(new))") }
        }
        func text(_ value: String?) -> String { value.map { LineCodec.quote($0) } ?? "(none)" }
        func date(_ value: PartialDate?) -> String { value?.description ?? "unknown" }
        func list(_ values: [String]) -> String { "[" + values.map { LineCodec.quote($0) }.joined(separator: ", ") + "]" }

        var names = self.names ?? record.names
        for name in removeNames {
            guard let index = names.firstIndex(of: name) else {
                throw CasetrackError.badArgument("remove_name: \(record.id) has no name \(LineCodec.quote(name))")
            }
            names.remove(at: index)
        }
        for name in addNames where !names.contains(name) { names.append(name) }
        guard !names.isEmpty else { throw CasetrackError.badArgument("a case needs at least one name") }
        guard names.count <= CaseUpdate.maximumListLength else {
            throw CasetrackError.badArgument("a case has at most \(CaseUpdate.maximumListLength) names")
        }
        note("names", record.names, names, list)
        record.names = names

        var tags = Set(record.tags)
        for tag in removeTags {
            guard tags.remove(tag) != nil else { throw CasetrackError.badArgument("remove_tag: \(record.id) has no tag \(tag)") }
        }
        tags.formUnion(addTags)
        guard tags.count <= CaseUpdate.maximumListLength else {
            throw CasetrackError.badArgument("a case has at most \(CaseUpdate.maximumListLength) tags")
        }
        note("tags", record.tags, tags.sorted(), list)
        record.tags = tags.sorted()

        var refs = Set(record.references)
        for ref in removeReferences {
            guard refs.remove(ref) != nil else { throw CasetrackError.badArgument("remove_ref: \(record.id) has no reference \(ref)") }
        }
        refs.formUnion(addReferences)
        guard refs.count <= CaseUpdate.maximumListLength else {
            throw CasetrackError.badArgument("a case has at most \(CaseUpdate.maximumListLength) references")
        }
        note("refs", record.references, refs.sorted(), list)
        record.references = refs.sorted()

        if let category { note("category", record.category.rawValue, category.rawValue) { $0 }; record.category = category }
        if let since { note("since", record.since, since, date); record.since = since }
        if let birth { note("birth", record.birth, birth, date); record.birth = birth }
        if let unit { note("unit", record.unit, unit, text); record.unit = unit }
        if let lastKnownPlace { note("last_place", record.lastKnownPlace, lastKnownPlace, text); record.lastKnownPlace = lastKnownPlace }
        if let detentionPlace { note("detention_place", record.detentionPlace, detentionPlace, text); record.detentionPlace = detentionPlace }
        if let notes { note("notes", record.notes, notes, text); record.notes = notes }
        return changes
    }
}

/// A request checked against its verb: every argument present, known and valid.
public enum Command: Hashable, Sendable {
    case hello(version: Int?, format: WireFormat?)
    case format(WireFormat)
    case ping
    case quit
    case add(NewCase, EventDetails)
    case get(CaseID)
    case setStatus(CaseID, Status, EventDetails, expectVersion: Int?, correction: Bool)
    case update(CaseID, CaseUpdate, EventDetails, expectVersion: Int?)
    case history(CaseID)
    case list(CaseFilter, limit: Int, after: CaseID?)
    case count(CaseFilter)
    case stats(StatisticsQuery)
    case subscribe(NoticeFilter, since: Int64?)
    case unsubscribe
    case testNotice(note: String?)
    case exchangeCreate(name: String, date: PartialDate, phases: Int, note: String?)
    case exchangeAdd(name: String, phase: Int, ids: [CaseID])
    case exchangeRemove(name: String, ids: [CaseID])
    case exchangeComplete(name: String, phase: Int, EventDetails)
    case exchangeShow(name: String)
    case exchangeList
    /// Rows as sent (each the options of an `ADD`): each is checked on its own, so that one
    /// answer can name every bad row.
    case importRows([String], dryRun: Bool)
    case export(CaseFilter, limit: Int, after: CaseID?)
    case backup(path: String)

    /// The most cases one LIST answer carries; a client pages with `after=`.
    public static let maximumPageSize = 10_000
    public static let defaultPageSize = 1_000

    /// Validates a request. `today` bounds dates: nothing recorded can lie in the future.
    public init(_ request: Request, today: Day) throws {
        guard let verb = Verb.named(request.verb) else {
            let known = Verb.all.map(\.name).joined(separator: " ")
            if Verb.reserved.contains(request.verb) {
                throw CasetrackError(.unknownVerb, "\(request.verb) is not available in protocol version \(protocolVersion); verbs: \(known)")
            }
            throw CasetrackError(.unknownVerb, "unknown verb '\(request.verb.prefix(40))'; verbs: \(known)")
        }
        let args = try Arguments(request, verb: verb, today: today)
        switch verb {
        case .hello:
            let version = try args.positional(0, "VERSION", required: false).map { text -> Int in
                guard let number = Int(text) else { throw CasetrackError.badArgument("VERSION: '\(text)' is not a number") }
                return number
            }
            self = .hello(version: version, format: try args.format("format"))
        case .format:
            guard let format = try args.format(nil, positional: true) else {
                throw CasetrackError.badArgument("FORMAT needs text or json")
            }
            self = .format(format)
        case .ping: self = .ping
        case .quit: self = .quit
        case .add:
            var names: [String] = []
            for name in try args.texts("name", limit: 500) where !names.contains(name) { names.append(name) }
            guard !names.isEmpty else { throw CasetrackError.badArgument("ADD needs at least one name=…") }
            guard let category = try args.single("category").map({ try Category.parse($0, field: "category") }) else {
                throw CasetrackError.badArgument("ADD needs category=military or category=civilian")
            }
            guard let status = try args.single("status").map({ try Status.parse($0, field: "status") }) else {
                throw CasetrackError.badArgument("ADD needs status=…; one of \(Lifecycle.initialStatuses.map(\.rawValue).joined(separator: ", "))")
            }
            let since = try args.date("since") ?? nil
            let details = try args.details()
            self = .add(NewCase(
                names: names, birth: try args.date("birth") ?? nil, category: category,
                unit: try args.text("unit") ?? nil, tags: try args.tags("tag"), status: status, since: since,
                lastKnownPlace: try args.text("last_place") ?? nil, detentionPlace: try args.text("detention_place") ?? nil,
                references: try args.references("ref"), notes: try args.text("notes", limit: 10_000, multiline: true) ?? nil),
                details)
        case .get: self = .get(try args.caseID())
        case .history: self = .history(try args.caseID())
        case .setStatus:
            let id = try args.caseID()
            guard let text = try args.positional(1, "STATUS", required: true) else { throw CasetrackError.badArgument("missing STATUS") }
            self = .setStatus(id, try Status.parse(text, field: "STATUS"), try args.details(),
                              expectVersion: try args.expectVersion(), correction: try args.flag("correction"))
        case .update:
            let id = try args.caseID()
            var update = CaseUpdate()
            if args.has("name") {
                var names: [String] = []
                for name in try args.texts("name", limit: 500) where !names.contains(name) { names.append(name) }
                update.names = names
            }
            update.addNames = try args.texts("add_name", limit: 500)
            update.removeNames = try args.texts("remove_name", limit: 500)
            update.category = try args.single("category").map { try Category.parse($0, field: "category") }
            update.since = try args.date("since")
            update.birth = try args.date("birth")
            update.unit = try args.text("unit")
            update.addTags = try args.tags("add_tag")
            update.removeTags = try args.tags("remove_tag")
            update.lastKnownPlace = try args.text("last_place")
            update.detentionPlace = try args.text("detention_place")
            update.addReferences = try args.references("add_ref")
            update.removeReferences = try args.references("remove_ref")
            update.notes = try args.text("notes", limit: 10_000, multiline: true)
            guard !update.isEmpty else { throw CasetrackError.badArgument("UPDATE needs at least one field to change, e.g. unit=… or add_tag=…") }
            self = .update(id, update, try args.details(), expectVersion: try args.expectVersion())
        case .list:
            let limit = try args.number("limit", in: 1...Command.maximumPageSize) ?? Command.defaultPageSize
            let after = try args.single("after").map { try CaseID.parse($0, field: "after") }
            self = .list(try args.filter(), limit: limit, after: after)
        case .count: self = .count(try args.filter())
        case .stats:
            var query = StatisticsQuery(filter: try args.filter())
            if let by = try args.single("by") {
                guard let breakdown = Breakdown(rawValue: by.lowercased()) else {
                    throw CasetrackError.badArgument("by: '\(by.prefix(40))' is not a breakdown; use one of \(Breakdown.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                query.breakdown = breakdown
            }
            query.from = try args.single("from").map { try Arguments.day($0, field: "from") }
            query.to = try args.single("to").map { try Arguments.day($0, field: "to") }
            try query.validate(today: today)
            self = .stats(query)
        case .exchangeCreate:
            let name = try args.exchangeName()
            // A planned exchange may lie ahead; its date must be known.
            guard let text = try args.single("date") else {
                throw CasetrackError.badArgument("EXCHANGE-CREATE needs date=YYYY-MM-DD (or YYYY-MM, YYYY)")
            }
            guard text.lowercased() != "unknown" else {
                throw CasetrackError.badArgument("date: an exchange needs a known date (YYYY-MM-DD, YYYY-MM or YYYY), not unknown")
            }
            guard let date = PartialDate(text) else {
                throw CasetrackError.badArgument("date: '\(text.prefix(40))' is not a date; write YYYY-MM-DD, YYYY-MM or YYYY")
            }
            guard date.firstDay <= today.adding(days: 3_660) else {
                throw CasetrackError.badArgument("date: \(text) is more than ten years ahead; check the year")
            }
            self = .exchangeCreate(name: name, date: date, phases: try args.number("phases", in: 1...Exchange.maximumPhases) ?? 1,
                                   note: try args.text("note", limit: 10_000, multiline: true) ?? nil)
        case .exchangeAdd:
            self = .exchangeAdd(name: try args.exchangeName(), phase: try args.number("phase", in: 1...Exchange.maximumPhases) ?? 1,
                                ids: try args.caseIDs())
        case .exchangeRemove:
            self = .exchangeRemove(name: try args.exchangeName(), ids: try args.caseIDs())
        case .exchangeComplete:
            let name = try args.exchangeName()
            guard let phase = try args.number("phase", in: 1...Exchange.maximumPhases) else {
                throw CasetrackError.badArgument("EXCHANGE-COMPLETE needs phase=K, the phase whose people came home")
            }
            self = .exchangeComplete(name: name, phase: phase, try args.details())
        case .exchangeShow: self = .exchangeShow(name: try args.exchangeName())
        case .exchangeList: self = .exchangeList
        case .importRows:
            let rows = args.all("row")
            guard !rows.isEmpty else { throw CasetrackError.badArgument("IMPORT needs at least one row=…") }
            guard rows.count <= ImportRow.maximumRowsPerRequest else {
                throw CasetrackError.badArgument("at most \(ImportRow.maximumRowsPerRequest) rows in one IMPORT; send the rest in another")
            }
            self = .importRows(rows, dryRun: try args.flag("dry_run"))
        case .export:
            let limit = try args.number("limit", in: 1...Command.maximumPageSize) ?? Command.defaultPageSize
            let after = try args.single("after").map { try CaseID.parse($0, field: "after") }
            self = .export(try args.filter(), limit: limit, after: after)
        case .backup:
            guard let path = try args.positional(0, "PATH", required: true), !path.isEmpty else {
                throw CasetrackError.badArgument("BACKUP needs the path of a new file")
            }
            try Arguments.check(path, key: "PATH", limit: 4096, multiline: false)
            guard path.hasPrefix("/") else {
                throw CasetrackError.badArgument("PATH: '\(path.prefix(80))' is relative; give the absolute path of a new file (the daemon does not share your working folder)")
            }
            self = .backup(path: path)
        case .subscribe:
            let since = try args.single("since").map { value -> Int64 in
                guard let seq = Int64(value), seq >= 0 else {
                    throw CasetrackError.badArgument("since: '\(value.prefix(40))' is not a sequence number (0 or more)")
                }
                return seq
            }
            self = .subscribe(try args.noticeFilter(), since: since)
        case .unsubscribe: self = .unsubscribe
        case .testNotice: self = .testNotice(note: try args.text("note", limit: 1_000) ?? nil)
        default:
            throw CasetrackError(.internalError, "verb \(verb.name) has no parser")
        }
    }

    /// The verb this command was parsed from.
    public var verb: Verb {
        switch self {
        case .hello: return .hello
        case .format: return .format
        case .ping: return .ping
        case .quit: return .quit
        case .add: return .add
        case .get: return .get
        case .setStatus: return .setStatus
        case .update: return .update
        case .history: return .history
        case .list: return .list
        case .count: return .count
        case .stats: return .stats
        case .subscribe: return .subscribe
        case .unsubscribe: return .unsubscribe
        case .testNotice: return .testNotice
        case .exchangeCreate: return .exchangeCreate
        case .exchangeAdd: return .exchangeAdd
        case .exchangeRemove: return .exchangeRemove
        case .exchangeComplete: return .exchangeComplete
        case .exchangeShow: return .exchangeShow
        case .exchangeList: return .exchangeList
        case .importRows: return .importRows
        case .export: return .export
        case .backup: return .backup
        }
    }

    /// The least role that may run this command: the verb's role, raised where an argument
    /// asks for more (a correction is an admin's; a name filter reads personal data).
    public var requiredRole: Role {
        switch self {
        case .setStatus(_, _, _, _, let correction) where correction: return .admin
        // Filters on what an observer's notices leave out (names, unit, tags) would let it
        // learn them case by case: reading them needs reader.
        case .count(let filter) where filter.revealsPersonalData, .export(let filter, _, _) where filter.revealsPersonalData:
            return .reader
        case .stats(let query) where query.revealsPersonalData: return .reader
        case .subscribe(let filter, _) where filter.unit != nil || !filter.tags.isEmpty: return .reader
        default: return verb.role
        }
    }

    /// Whether the command changes the record (and so goes to the writer).
    public var isWrite: Bool {
        switch self {
        case .add, .setStatus, .update, .testNotice, .exchangeCreate, .exchangeAdd, .exchangeRemove, .exchangeComplete: return true
        case .importRows(_, let dryRun): return !dryRun
        default: return false
        }
    }
}

/// Reads the arguments of one request, checking each against its verb.
private struct Arguments {
    let request: Request
    let verb: Verb
    let today: Day

    init(_ request: Request, verb: Verb, today: Day) throws {
        self.request = request
        self.verb = verb
        self.today = today
        let maxPositional = verb.isVariadic ? Int.max : verb.positional.count
        if request.positional.count > maxPositional {
            throw CasetrackError.badArgument("too many values for \(verb.name); usage: \(verb.usage)")
        }
        var seen = Set<String>()
        for option in request.options {
            guard verb.keys.contains(option.key) else {
                throw CasetrackError.badArgument("\(verb.name) takes no \(option.key)=; usage: \(verb.usage)")
            }
            if !seen.insert(option.key).inserted, !verb.repeatable.contains(option.key) {
                throw CasetrackError.badArgument("\(option.key)= given twice")
            }
        }
    }

    func has(_ key: String) -> Bool { request.options.contains { $0.key == key } }

    func all(_ key: String) -> [String] { request.options.filter { $0.key == key }.map(\.value) }

    func single(_ key: String) throws -> String? { all(key).first }

    func positional(_ index: Int, _ name: String, required: Bool) throws -> String? {
        guard index < request.positional.count else {
            if required { throw CasetrackError.badArgument("missing \(name); usage: \(verb.usage)") }
            return nil
        }
        return request.positional[index]
    }

    func caseID() throws -> CaseID {
        guard let text = try positional(0, "ID", required: true) else { throw CasetrackError.badArgument("missing ID") }
        return try CaseID.parse(text, field: "ID")
    }

    func format(_ key: String?, positional: Bool = false) throws -> WireFormat? {
        let text = positional ? try self.positional(0, "FORMAT", required: true) : try key.flatMap { try single($0) }
        return try text.map { value in
            guard let format = WireFormat(rawValue: value.lowercased()) else {
                throw CasetrackError.badArgument("format: '\(value)' is not text or json")
            }
            return format
        }
    }

    /// A free-text value; empty means "clear". `nil` when not given.
    func text(_ key: String, limit: Int = 1_000, multiline: Bool = false) throws -> String?? {
        guard let value = try single(key) else { return nil }
        try Arguments.check(value, key: key, limit: limit, multiline: multiline)
        let trimmed = value.trimmingWhitespace().composed
        return .some(trimmed.isEmpty ? nil : trimmed)
    }

    func texts(_ key: String, limit: Int) throws -> [String] {
        let values = all(key)
        guard values.count <= 50 else { throw CasetrackError.badArgument("\(key): at most 50 values") }
        return try values.map { value in
            try Arguments.check(value, key: key, limit: limit, multiline: false)
            // One form for equal texts: "café" typed composed or decomposed is one tag, one
            // unit, one reference (the database compares bytes).
            let trimmed = value.trimmingWhitespace().composed
            guard !trimmed.isEmpty else { throw CasetrackError.badArgument("\(key): must not be empty") }
            return trimmed
        }
    }

    func tags(_ key: String) throws -> [String] {
        try Array(Set(texts(key, limit: 64).map { tag in
            let lowered = tag.lowercased()
            guard lowered.allSatisfy({ $0.isLetter || $0.isNumber || "-_.:/".contains($0) }) else {
                throw CasetrackError.badArgument("\(key): '\(tag)' is not a tag; use letters, digits and - _ . : /")
            }
            return lowered
        })).sorted()
    }

    func references(_ key: String) throws -> [String] {
        try Array(Set(texts(key, limit: 128).map { ref in
            guard !ref.contains(where: \.isWhitespace) else {
                throw CasetrackError.badArgument("\(key): '\(ref)' contains white space; a reference is one word")
            }
            return ref
        })).sorted()
    }

    func date(_ key: String) throws -> PartialDate?? {
        guard let value = try single(key) else { return nil }
        return .some(try PartialDate.parse(value, field: key, today: today))
    }

    func number(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let value = try single(key) else { return nil }
        guard let number = Int(value), range.contains(number) else {
            throw CasetrackError.badArgument("\(key): '\(value.prefix(40))' is not a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    func expectVersion() throws -> Int? { try number("expect_version", in: 1...Int(Int32.max)) }

    func flag(_ key: String) throws -> Bool {
        guard let value = try single(key) else { return false }
        switch value.lowercased() {
        case "yes", "true", "1", "": return true
        case "no", "false", "0": return false
        default: throw CasetrackError.badArgument("\(key): '\(value)' is not yes or no")
        }
    }

    func details() throws -> EventDetails {
        let at = try date("at")
        var unknown = false
        if case .some(.none) = at { unknown = true }
        return EventDetails(
            occurredOn: at ?? nil, occurredUnknown: unknown,
            source: try text("source") ?? nil,
            confidence: try single("confidence").map { try Confidence.parse($0, field: "confidence") },
            note: try text("note", limit: 10_000, multiline: true) ?? nil)
    }

    func filter() throws -> CaseFilter {
        var filter = CaseFilter()
        // `status=` or `status=,` must not quietly select everything.
        for value in all("status") {
            for part in value.split(separator: ",", omittingEmptySubsequences: false) {
                filter.statuses.insert(try Status.parse(String(part), field: "status"))
            }
        }
        for value in all("category") {
            for part in value.split(separator: ",", omittingEmptySubsequences: false) {
                filter.categories.insert(try Category.parse(String(part), field: "category"))
            }
        }
        filter.tags = Set(try tags("tag"))
        filter.unit = try text("unit") ?? nil
        filter.heldMin = try single("held_min").map { try HeldDuration.parse($0, field: "held_min") }
        filter.sinceFrom = try single("since_from").map { try Arguments.day($0, field: "since_from") }
        filter.sinceBefore = try single("since_before").map { try Arguments.day($0, field: "since_before") }
        filter.updatedSince = try single("updated_since").map { value in
            guard let stamp = Timestamp(value) else {
                throw CasetrackError.badArgument("updated_since: '\(value.prefix(40))' is not YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ")
            }
            return stamp
        }
        if let name = try text("name", limit: 500) ?? nil {
            guard !NameKey.words(of: name).isEmpty else { throw CasetrackError.badArgument("name: no letters to search for") }
            filter.name = name
        }
        if has("exchange") { filter.exchange = try exchangeName(key: "exchange") }
        filter.phase = try number("phase", in: 1...Exchange.maximumPhases)
        if filter.phase != nil, filter.exchange == nil {
            throw CasetrackError.badArgument("phase: select the exchange too (exchange=NAME phase=K)")
        }
        filter.endedFrom = try single("ended_from").map { try Arguments.day($0, field: "ended_from") }
        filter.endedBefore = try single("ended_before").map { try Arguments.day($0, field: "ended_before") }
        return filter
    }

    /// Case ids from the second positional value on (`NAME ID…`), without repeats.
    func caseIDs() throws -> [CaseID] {
        let texts = request.positional.dropFirst()
        guard !texts.isEmpty else { throw CasetrackError.badArgument("\(verb.name) needs at least one case id; usage: \(verb.usage)") }
        guard texts.count <= Exchange.maximumCasesPerRequest else {
            throw CasetrackError.badArgument("at most \(Exchange.maximumCasesPerRequest) case ids in one \(verb.name); send the rest in another")
        }
        var ids: [CaseID] = []
        var seen = Set<CaseID>()
        for text in texts {
            let id = try CaseID.parse(text, field: "ID")
            if seen.insert(id).inserted { ids.append(id) }
        }
        return ids
    }

    /// An exchange's name: the first positional value, or the value of `key`.
    func exchangeName(key: String? = nil) throws -> String {
        let value = try key.map { try single($0) } ?? (try positional(0, "NAME", required: true))
        guard let value else { throw CasetrackError.badArgument("missing the exchange's NAME; usage: \(verb.usage)") }
        let field = key ?? "NAME"
        try Arguments.check(value, key: field, limit: 200, multiline: false)
        let trimmed = value.trimmingWhitespace().composed
        guard !trimmed.isEmpty else { throw CasetrackError.badArgument("\(field): an exchange needs a name") }
        return trimmed
    }

    func noticeFilter() throws -> NoticeFilter {
        var filter = NoticeFilter()
        func each(_ key: String, _ body: (String) throws -> Void) throws {
            // `status=` or `status=,` must not quietly select everything.
            for value in all(key) {
                for part in value.split(separator: ",", omittingEmptySubsequences: false) { try body(String(part)) }
            }
        }
        try each("status") { filter.statuses.insert(try Status.parse($0, field: "status")) }
        try each("old") { filter.oldStatuses.insert(try Status.parse($0, field: "old")) }
        try each("new") { filter.newStatuses.insert(try Status.parse($0, field: "new")) }
        try each("category") { filter.categories.insert(try Category.parse($0, field: "category")) }
        try each("id") { filter.caseIDs.insert(try CaseID.parse($0, field: "id")) }
        try each("kind") { filter.kinds.insert(try EventKind.parse($0, field: "kind")) }
        filter.tags = Set(try tags("tag"))
        if has("unit") {
            guard let unit = try text("unit") ?? nil else { throw CasetrackError.badArgument("unit: must not be empty") }
            filter.unit = unit
        }
        return filter
    }

    /// A filter bound: a partial date means its first day.
    static func day(_ value: String, field: String) throws -> Day {
        guard let date = PartialDate(value) else {
            throw CasetrackError.badArgument("\(field): '\(value.prefix(40))' is not a date; write YYYY-MM-DD, YYYY-MM or YYYY")
        }
        return date.firstDay
    }

    static func check(_ value: String, key: String, limit: Int, multiline: Bool) throws {
        guard value.unicodeScalars.count <= limit else {
            throw CasetrackError.badArgument("\(key): longer than \(limit) characters")
        }
        for scalar in value.unicodeScalars where LineCodec.isControl(scalar) {
            if multiline, scalar == "\n" || scalar == "\t" { continue }
            throw CasetrackError.badArgument("\(key): control character \(LineCodec.hex(scalar)) is not allowed here")
        }
    }
}

extension String {
    /// The text in Unicode's composed form (NFC). Text of Latin letters below the combining
    /// marks (U+0300) and of the Cyrillic block has no other form: it is returned as it is,
    /// without Foundation's slower conversion.
    var composed: String {
        if unicodeScalars.allSatisfy({ $0.value < 0x300 || (0x400...0x4FF).contains($0.value) }) { return self }
        return precomposedStringWithCanonicalMapping
    }

    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars = scalars.dropFirst() }
        while let last = scalars.last, last.isWhitespace { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
