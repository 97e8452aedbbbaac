/// Every verb of the line protocol. The enum is exhaustive on purpose: a new verb does not
/// compile until it has its entry in ``definition`` (syntax, role, flags, summary, parser),
/// its ``Command``, and its handler in the server's dispatcher.
///
/// docs/PROTOCOL.md describes the same verbs; a test checks that every one is documented with
/// the role the table gives it.
public enum Verb: String, CaseIterable, Hashable, Sendable {
    case hello = "HELLO"
    case format = "FORMAT"
    case ping = "PING"
    case quit = "QUIT"
    case add = "ADD"
    case get = "GET"
    case setStatus = "SET-STATUS"
    case update = "UPDATE"
    case history = "HISTORY"
    case event = "EVENT"
    case list = "LIST"
    case count = "COUNT"
    case stats = "STATS"
    case subscribe = "SUBSCRIBE"
    case unsubscribe = "UNSUBSCRIBE"
    case testNotice = "TEST-NOTICE"
    case exchangeCreate = "EXCHANGE-CREATE"
    case exchangeAdd = "EXCHANGE-ADD"
    case exchangeRemove = "EXCHANGE-REMOVE"
    case exchangeComplete = "EXCHANGE-COMPLETE"
    case exchangeShow = "EXCHANGE-SHOW"
    case exchangeList = "EXCHANGE-LIST"
    case importRows = "IMPORT"
    case export = "EXPORT"
    case backup = "BACKUP"
    case verify = "VERIFY"
    case duplicates = "DUPLICATES"
    case match = "MATCH"
    case merge = "MERGE"
    case unmerge = "UNMERGE"
    case notDuplicate = "NOT-DUPLICATE"
    case contactAdd = "CONTACT-ADD"
    case contactUpdate = "CONTACT-UPDATE"
    case contactRemove = "CONTACT-REMOVE"
    case contacts = "CONTACTS"
    case enquiryAdd = "ENQUIRY-ADD"
    case enquiryAnswer = "ENQUIRY-ANSWER"
    case enquiries = "ENQUIRIES"
    case contactsExport = "CONTACTS-EXPORT"

    public var name: String { rawValue }

    /// Verbs that later versions of this protocol define; answered with `unknown-verb` today.
    public static let reserved: [String] = []

    public static func named(_ name: String) -> Verb? { Verb(rawValue: name) }
}

/// What the verb table says of one verb.
public struct VerbDefinition: Sendable {
    /// Positional arguments, in order, for the usage line; a last one ending in `…` repeats.
    public let positional: [String]
    /// Option keys it takes; those in `repeatable` may be given more than once.
    public let keys: [String]
    public let repeatable: Set<String>
    /// The least role it needs; some arguments raise it (``Command/requiredRole``).
    public let role: Role
    public let flags: VerbFlags
    public let summary: String
    /// Reads the checked arguments into the command.
    let parse: @Sendable (Arguments) throws -> Command

    init(_ positional: [String] = [], keys: [String] = [], repeatable: Set<String> = [], role: Role,
         flags: VerbFlags = [], summary: String, parse: @escaping @Sendable (Arguments) throws -> Command) {
        self.positional = positional
        self.keys = keys
        self.repeatable = repeatable
        self.role = role
        self.flags = flags
        self.summary = summary
        self.parse = parse
    }
}

/// What a verb does beyond answering, as the table records it.
public struct VerbFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Changes the record: goes to the single writer; a refusal is logged as a refused write.
    public static let writes = VerbFlags(rawValue: 1 << 0)
    /// Reads full records: logged with the case ids under `audit_reads`.
    public static let readsRecords = VerbFlags(rawValue: 1 << 1)
}

extension Verb {
    static let filterKeys = ["status", "category", "tag", "unit", "held_min", "since_from", "since_before",
                             "updated_since", "name", "exchange", "phase", "ended_from", "ended_before",
                             "proof_older", "no_proof"]
    static let filterRepeatable: Set<String> = ["status", "category", "tag"]
    static let eventKeys = ["at", "source", "confidence", "note", "expect_version"]
    static let caseKeys = ["name", "category", "status", "since", "birth", "unit", "tag", "last_place",
                           "detention_place", "ref", "notes", "at", "source", "confidence", "note"] + identityKeys
    /// What captivity events say besides their provenance (``CaptivityRules/keys(of:)``).
    static let captivityKeys = ["from", "to", "place", "until", "proof", "cause", "remains"]
    static let contactKeys = ["name", "relation", "phone", "email", "language", "consent", "note"]
    /// What tells a person from another of the same name (reader role and above see them).
    static let identityKeys = ["sex", "service_number", "rank", "birth_place"]

    /// The verb table: one entry per verb, in the order docs/PROTOCOL.md describes them.
    private func makeDefinition() -> VerbDefinition {
        switch self {
        case .hello:
            return VerbDefinition(["[VERSION]"], keys: ["format"], role: .observer,
                                  summary: "check the protocol version; optionally choose the answer format") {
                .hello(version: try $0.protocolVersion(), format: try $0.format("format"))
            }
        case .format:
            return VerbDefinition(["text|json"], role: .observer, summary: "choose the answer format for this connection") {
                .format(try $0.wireFormat())
            }
        case .ping:
            return VerbDefinition(role: .observer, summary: "answer OK; for health checks") { _ in .ping }
        case .quit:
            return VerbDefinition(role: .observer, summary: "answer OK and close the connection") { _ in .quit }
        case .add:
            return VerbDefinition(keys: Verb.caseKeys, repeatable: ["name", "tag", "ref"], role: .writer, flags: .writes,
                                  summary: "open a new case") {
                let (new, details) = try $0.newCase()
                return .add(new, details)
            }
        case .get:
            return VerbDefinition(["ID"], role: .reader, flags: .readsRecords, summary: "one case") { .get(try $0.caseID()) }
        case .setStatus:
            return VerbDefinition(
                ["ID", "STATUS"], keys: Verb.eventKeys + ["correction"], role: .writer, flags: .writes,
                summary: "change a case's status along the lifecycle, or correct a wrong entry (correction=yes, admin)") {
                .setStatus(try $0.caseID(), try $0.status(), try $0.details(), expectVersion: try $0.expectVersion(),
                           correction: try $0.flag("correction"))
            }
        case .update:
            return VerbDefinition(
                ["ID"],
                keys: ["name", "add_name", "remove_name", "category", "since", "birth", "unit", "add_tag", "remove_tag",
                       "last_place", "detention_place", "add_ref", "remove_ref", "notes"] + Verb.identityKeys + Verb.eventKeys,
                repeatable: ["name", "add_name", "remove_name", "add_tag", "remove_tag", "add_ref", "remove_ref"],
                role: .writer, flags: .writes, summary: "change other fields of a case") {
                .update(try $0.caseID(), try $0.caseUpdate(), try $0.details(), expectVersion: try $0.expectVersion())
            }
        case .history:
            return VerbDefinition(["ID"], role: .reader, flags: .readsRecords, summary: "every event of a case, oldest first") {
                .history(try $0.caseID())
            }
        case .event:
            return VerbDefinition(
                ["ID", "TYPE"], keys: Verb.eventKeys + Verb.captivityKeys + ["corrects"], role: .writer, flags: .writes,
                summary: "record what happened to a person: transfer, hospital, sighting, communication, death, remains, or a retraction of a wrong one") {
                try $0.captivityEvent()
            }
        case .list:
            return VerbDefinition(keys: Verb.filterKeys + ["limit", "after"], repeatable: Verb.filterRepeatable, role: .reader,
                                  flags: .readsRecords, summary: "cases matching a filter, by id") {
                let (limit, after) = try $0.page()
                return .list(try $0.filter(), limit: limit, after: after)
            }
        case .count:
            return VerbDefinition(keys: Verb.filterKeys, repeatable: Verb.filterRepeatable, role: .observer,
                                  summary: "how many cases match a filter") { .count(try $0.filter()) }
        case .stats:
            return VerbDefinition(
                keys: Verb.filterKeys + ["by", "from", "to", "as_of"], repeatable: Verb.filterRepeatable, role: .observer,
                summary: "counts by status and category, or by held duration, unit, tag, exchange phase, day of return, proof of life or place (by=)") {
                .stats(try $0.statisticsQuery())
            }
        case .subscribe:
            return VerbDefinition(
                keys: ["since", "status", "old", "new", "category", "tag", "unit", "id", "kind"],
                repeatable: ["status", "old", "new", "category", "tag", "id", "kind"], role: .observer,
                summary: "receive a notice line for every matching event: stored ones after since=SEQ, then live ones") {
                let since = try $0.sequenceNumber("since")
                return .subscribe(try $0.noticeFilter(), since: since)
            }
        case .unsubscribe:
            return VerbDefinition(role: .observer, summary: "stop the notices of this connection") { _ in .unsubscribe }
        case .testNotice:
            return VerbDefinition(keys: ["note"], role: .writer, flags: .writes,
                                  summary: "record a test event that every subscriber receives, to check hooks end to end") {
                .testNotice(note: try $0.text("note", limit: 1_000) ?? nil)
            }
        case .exchangeCreate:
            return VerbDefinition(["NAME"], keys: ["date", "phases", "note"], role: .admin, flags: .writes,
                                  summary: "record a planned exchange: its name, date and number of phases") {
                try $0.exchangeCreate()
            }
        case .exchangeAdd:
            return VerbDefinition(["NAME", "ID…"], keys: ["phase"], role: .admin, flags: .writes,
                                  summary: "list cases on a phase of an exchange") {
                .exchangeAdd(name: try $0.exchangeName(), phase: try $0.number("phase", in: 1...Exchange.maximumPhases) ?? 1,
                             ids: try $0.caseIDs())
            }
        case .exchangeRemove:
            return VerbDefinition(["NAME", "ID…"], role: .admin, flags: .writes,
                                  summary: "take cases off an exchange's list before their phase is completed") {
                .exchangeRemove(name: try $0.exchangeName(), ids: try $0.caseIDs())
            }
        case .exchangeComplete:
            return VerbDefinition(
                ["NAME"], keys: ["phase", "at", "source", "confidence", "note"], role: .admin, flags: .writes,
                summary: "mark every case listed on a phase returned, in one transaction, and count them by category") {
                try $0.exchangeComplete()
            }
        case .exchangeShow:
            return VerbDefinition(
                ["NAME"], role: .reader,
                summary: "an exchange phase by phase: listed, returned, by category, unit and tag, and who did not return") {
                .exchangeShow(name: try $0.exchangeName())
            }
        case .exchangeList:
            return VerbDefinition(role: .observer, summary: "every exchange with its date and counts") { _ in .exchangeList }
        case .importRows:
            return VerbDefinition(
                keys: ["row", "dry_run", "update"], repeatable: ["row"], role: .writer, flags: .writes,
                summary: "open the cases of a batch of rows in one transaction, skipping those whose references are already on record; with update=yes, apply the rows to the cases their references name") {
                .importRows(try $0.importRows(), dryRun: try $0.flag("dry_run"), update: try $0.flag("update"))
            }
        case .export:
            return VerbDefinition(
                keys: Verb.filterKeys + ["limit", "after"], repeatable: Verb.filterRepeatable, role: .observer, flags: .readsRecords,
                summary: "cases matching a filter, by id, for export: without personal data below the reader role") {
                let (limit, after) = try $0.page()
                return .export(try $0.filter(), limit: limit, after: after)
            }
        case .duplicates:
            return VerbDefinition(
                keys: ["id", "min_score", "limit"], role: .reader, flags: .readsRecords,
                summary: "pairs of cases that are probably one person, best first, with the evidence for and against") {
                try $0.duplicates()
            }
        case .match:
            return VerbDefinition(
                keys: ["row", "min_score", "limit"], repeatable: ["row"], role: .reader, flags: .readsRecords,
                summary: "for each row of a list (names, birth, sex, service number, unit, refs, or our id), the case it is: exact, probable (with candidates) or none") {
                try $0.match()
            }
        case .merge:
            return VerbDefinition(
                ["SOURCE"], keys: ["into", "prefer", "target_version"] + Verb.eventKeys, repeatable: ["prefer"], role: .writer,
                flags: .writes,
                summary: "merge a case into another found to be the same person: the target gains what the source knows; the source leaves every list and count") {
                try $0.merge()
            }
        case .unmerge:
            return VerbDefinition(["SOURCE"], keys: ["at", "source", "confidence", "note"], role: .admin, flags: .writes,
                                  summary: "undo a merge: both cases back as they were before it") {
                .unmerge(try $0.caseID(), try $0.details())
            }
        case .notDuplicate:
            return VerbDefinition(["ID", "ID"], keys: ["note", "undo"], role: .writer, flags: .writes,
                                  summary: "record that two cases are two people, so that the pair is not suggested again (undo=yes forgets it)") {
                try $0.notDuplicate()
            }
        case .contactAdd:
            return VerbDefinition(["ID"], keys: Verb.contactKeys, role: .writer, flags: .writes,
                                  summary: "add someone to inform about a case: a relative, a lawyer… (name, relation, how to reach them, language, consent)") {
                .contactAdd(try $0.caseID(), try $0.contactChange(adding: true))
            }
        case .contactUpdate:
            return VerbDefinition(["CONTACT"], keys: Verb.contactKeys, role: .writer, flags: .writes,
                                  summary: "change a contact's fields; an empty value clears one") {
                .contactUpdate(try $0.numbered("CONTACT"), try $0.contactChange(adding: false))
            }
        case .contactRemove:
            return VerbDefinition(["CONTACT"], role: .writer, flags: .writes,
                                  summary: "take a contact off its case: no longer listed nor named in notices") {
                .contactRemove(try $0.numbered("CONTACT"))
            }
        case .contacts:
            return VerbDefinition(["ID"], role: .reader, flags: .readsRecords, summary: "the contacts of a case") {
                .contacts(try $0.caseID())
            }
        case .enquiryAdd:
            return VerbDefinition(["ID"], keys: ["from", "question", "at"], role: .writer, flags: .writes,
                                  summary: "record that someone asked about a case: a contact (K-…) or an organisation, what, and when") {
                try $0.enquiryAdd()
            }
        case .enquiryAnswer:
            return VerbDefinition(["ENQUIRY"], keys: ["answer", "at"], role: .writer, flags: .writes,
                                  summary: "record the answer the office gave to an enquiry, and when") {
                try $0.enquiryAnswer()
            }
        case .enquiries:
            return VerbDefinition(["[ID]"], keys: ["unanswered_older"], role: .reader, flags: .readsRecords,
                                  summary: "the enquiries of a case, or of every case; with unanswered_older=, those still waiting that long") {
                try $0.enquiries()
            }
        case .contactsExport:
            return VerbDefinition(keys: ["limit", "after"], role: .admin, flags: .readsRecords,
                                  summary: "every contact of every case, by contact id, for an export (casectl export --with-contacts)") {
                let limit = try $0.number("limit", in: 1...Command.maximumPageSize) ?? Command.defaultPageSize
                return .contactsExport(limit: limit, after: try $0.single("after").map { try ContactID.parse($0, field: "after") })
            }
        case .verify:
            return VerbDefinition(keys: ["head", "head_seq"], role: .reader,
                                  summary: "recompute the hash chain of the history and check the cases against their last events; with head= and head_seq=, that the chain still leads to a head kept elsewhere") {
                .verify(kept: try $0.keptHead())
            }
        case .backup:
            return VerbDefinition(["PATH"], role: .admin,
                                  summary: "write a consistent copy of the database to a new file while writes go on") {
                .backup(path: try $0.backupPath())
            }
        }
    }

    /// Built once: a request looks its verb up here.
    private static let definitions = Dictionary(uniqueKeysWithValues: Verb.allCases.map { ($0, $0.makeDefinition()) })

    public var definition: VerbDefinition { Verb.definitions[self] ?? makeDefinition() }

    public var positional: [String] { definition.positional }
    public var keys: [String] { definition.keys }
    public var repeatable: Set<String> { definition.repeatable }
    public var role: Role { definition.role }
    public var summary: String { definition.summary }
    public var writes: Bool { definition.flags.contains(.writes) }
    public var readsRecords: Bool { definition.flags.contains(.readsRecords) }

    public var usage: String {
        ([name] + positional + keys.map { "[\($0)=…]" }).joined(separator: " ")
    }

    /// Whether the last positional argument may repeat (`ID…`).
    public var isVariadic: Bool { positional.last?.hasSuffix("…") == true }
}
