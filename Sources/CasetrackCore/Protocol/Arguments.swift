/// Reads the arguments of one request, checking each against its verb.
struct Arguments {
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
            // Every write may be named, to be sent again safely (RequestID).
            guard verb.keys.contains(option.key) || (option.key == "request_id" && verb.writes) else {
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

    /// `head=HASH head_seq=N`: a chain head kept elsewhere (both or neither).
    func keptHead() throws -> ChainHead? {
        let hash = try single("head")
        let seq = try single("head_seq")
        guard hash != nil || seq != nil else { return nil }
        guard let hash, let seq else {
            throw CasetrackError.badArgument("give head= and head_seq= together: the hash and the event it was the head at (STATUS, a backup or an export header give both)")
        }
        guard hash.utf8.count == 64, hash.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw CasetrackError.badArgument("head: '\(hash.prefix(70))' is not a chain head (64 lowercase hex digits)")
        }
        guard let number = Int64(seq), number >= 0 else {
            throw CasetrackError.badArgument("head_seq: '\(seq.prefix(30))' is not an event's sequence number")
        }
        return ChainHead(seq: number, hash: hash)
    }

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
        filter.proofOlder = try single("proof_older").map { try HeldDuration.parse($0, field: "proof_older") }
        filter.noProof = try flag("no_proof")
        if filter.noProof, filter.proofOlder != nil {
            throw CasetrackError.badArgument("no_proof=yes selects cases without a proof of life, proof_older= cases with an old one: give one of them")
        }
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
        if let scalar = DeceptiveText.firstDeceptive(in: value) {
            throw CasetrackError.badArgument(
                "\(key): \(LineCodec.hex(scalar)) is \(DeceptiveText.describe(scalar)), which changes how the text displays without being seen; remove it")
        }
    }
}
