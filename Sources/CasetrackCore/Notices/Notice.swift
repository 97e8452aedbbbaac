/// What a subscriber is told about one committed event.
///
/// A notice is the event plus the few facts of its case that filters select on (category,
/// unit, tags, as they were right after the event). A connection whose role may not see
/// personal data (an observer) gets it without names, unit, tags, source and note
/// (``fields(includePersonalData:)``).
public struct Notice: Hashable, Sendable {
    public var seq: Int64
    /// The case; `nil` for an operator's test notice.
    public var caseID: CaseID?
    public var kind: EventKind
    public var oldStatus: Status?
    public var newStatus: Status?
    public var category: Category?
    public var unit: String?
    public var tags: [String]
    public var occurredOn: PartialDate?
    public var recordedAt: Timestamp
    public var version: Int
    public var source: String?
    public var confidence: Confidence?
    /// The crossed threshold of a time alert.
    public var threshold: String?
    /// The exchange phase that made the event (counts only on the phase's own notice).
    public var exchange: ExchangeMark?
    /// The operator's note of a test notice (other notices carry no notes: they are free
    /// text and may hold personal data).
    public var note: String?
    /// A captivity event's details: the kind of proof, the state of remains and `corrects=`
    /// for everyone; places and the cause of death only for roles that may read records.
    public var details: CaptivityDetails?
    /// The office that recorded the event (several offices on one register).
    public var office: String?
    /// Personal data: the case's contacts on a status change (a script writes to them).
    public var contacts: [ContactID] = []
    /// Personal data: only for roles that may read records. The case's names as they are
    /// when the notice is sent (a replay shows today's spelling, not the one at the time).
    public var names: [String]

    public init(seq: Int64, caseID: CaseID?, kind: EventKind, oldStatus: Status?, newStatus: Status?,
                category: Category?, unit: String?, tags: [String], occurredOn: PartialDate?, recordedAt: Timestamp,
                version: Int, source: String? = nil, confidence: Confidence? = nil, threshold: String? = nil,
                names: [String] = []) {
        self.seq = seq
        self.caseID = caseID
        self.kind = kind
        self.oldStatus = oldStatus
        self.newStatus = newStatus
        self.category = category
        self.unit = unit
        self.tags = tags
        self.occurredOn = occurredOn
        self.recordedAt = recordedAt
        self.version = version
        self.source = source
        self.confidence = confidence
        self.threshold = threshold
        self.names = names
    }

    /// The notice of an event, with its case as it stood right after the event (`nil` for a
    /// test notice, which has no case).
    public init(event: HistoryEvent, record: CaseRecord?) {
        self.init(
            seq: event.seq, caseID: event.caseID.number > 0 ? event.caseID : nil, kind: event.kind,
            oldStatus: event.oldStatus, newStatus: event.newStatus, category: record?.category, unit: record?.unit,
            tags: record?.tags ?? [], occurredOn: event.occurredOn, recordedAt: event.recordedAt,
            version: event.version, source: event.source, confidence: event.confidence, threshold: event.threshold,
            names: record?.names ?? [])
        if event.kind == .test { note = event.note }
        exchange = event.exchange
        details = event.details
        office = event.office
    }

    /// Written where a value is absent, so that the first seven fields of a text notice are
    /// always present, in order (`awk` can take them by position).
    public static let none = "-"

    /// The notice as an `N` line's fields: `seq id kind old new category occurred` always,
    /// in this order, then the rest; `source`, `unit`, `tags`, `note` and `names` (every
    /// spelling, last) only with `includePersonalData`.
    public func fields(includePersonalData: Bool) -> Fields {
        var fields = Fields()
        fields.append("seq", seq)
        fields.append("id", caseID?.description ?? Notice.none)
        fields.append("kind", kind.rawValue)
        fields.append("old", oldStatus?.rawValue ?? Notice.none)
        fields.append("new", newStatus?.rawValue ?? Notice.none)
        fields.append("category", category?.rawValue ?? Notice.none)
        fields.append("occurred", occurredOn?.description ?? "unknown")
        fields.append("recorded_at", recordedAt.description)
        fields.append("version", version)
        fields.append("threshold", threshold)
        fields.append("confidence", confidence?.rawValue)
        fields.append("office", office)
        // An exchange's name and its counts are public facts, not personal data.
        exchange?.append(to: &fields)
        if let details {
            if includePersonalData {
                details.append(to: &fields)
            } else {
                CaptivityDetails(until: details.until, proof: details.proof, remains: details.remains, corrects: details.corrects)
                    .append(to: &fields)
            }
        }
        // Free text, places and names may say who the person is: only for roles that may
        // read records. What stays is ids, statuses, categories, dates and counters.
        guard includePersonalData else { return fields }
        fields.append("source", source)
        fields.append("unit", unit)
        fields.append("tags", list: tags)
        fields.append("note", note)
        fields.append("names", list: names)
        if !contacts.isEmpty { fields.append("contacts", list: contacts.map(\.description)) }
        return fields
    }

    /// Reads a notice back from an `N` line's fields.
    public init(fields: Fields) throws {
        func optional<T>(_ key: String, _ make: (String) -> T?) throws -> T? {
            guard let text = fields.string(key), text != Notice.none else { return nil }
            guard let value = make(text) else { throw CasetrackError(.badResponse, "notice with a bad \(key) '\(text.prefix(40))'") }
            return value
        }
        guard let seq = fields.int("seq"), let kind = fields.string("kind").flatMap({ EventKind(rawValue: $0) }),
              let recorded = fields.string("recorded_at").flatMap({ Timestamp($0) }), let version = fields.int("version")
        else { throw CasetrackError(.badResponse, "notice without seq, kind, recorded_at or version") }
        self.init(
            seq: seq, caseID: try optional("id") { CaseID($0) }, kind: kind,
            oldStatus: try optional("old") { Status(rawValue: $0) }, newStatus: try optional("new") { Status(rawValue: $0) },
            category: try optional("category") { Category(rawValue: $0) }, unit: fields.string("unit"),
            tags: fields.strings("tags"),
            occurredOn: fields.string("occurred").flatMap { PartialDate($0) }, recordedAt: recorded,
            version: Int(version), source: fields.string("source"),
            confidence: fields.string("confidence").flatMap { Confidence(rawValue: $0) },
            threshold: fields.string("threshold"), names: fields.strings("names"))
        note = fields.string("note")
        office = fields.string("office")
        exchange = ExchangeMark(fields: fields)
        if CaptivityEventType(kind) != nil { details = try CaptivityDetails(fields: fields) }
        contacts = fields.strings("contacts").compactMap { ContactID($0) }
    }
}
