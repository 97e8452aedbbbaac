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
    /// A captivity event: what happened to the person (a transfer, a sighting…).
    case recordEvent(CaseID, CaptivityEventType, CaptivityDetails, EventDetails, expectVersion: Int?)
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
    case importRows([String], dryRun: Bool, update: Bool)
    /// Rows of a list as sent (each `ADD` options and `id=`), each matched on its own.
    case match([String], minimumScore: Double, limit: Int)
    case export(CaseFilter, limit: Int, after: CaseID?)
    case backup(path: String)
    /// With a head kept elsewhere: that the chain still leads to it.
    case verify(kept: ChainHead?)
    case duplicates(of: CaseID?, minimumScore: Double, limit: Int)
    case merge(source: CaseID, into: CaseID, prefer: [MergeField: MergeSide], EventDetails, expectVersion: Int?,
               targetVersion: Int?)
    case unmerge(CaseID, EventDetails)
    case notDuplicate(CaseID, CaseID, note: String?, undo: Bool)
    case contactAdd(CaseID, ContactChange)
    case contactUpdate(ContactID, ContactChange)
    case contactRemove(ContactID)
    case contacts(CaseID)
    case enquiryAdd(CaseID, from: EnquirySource, question: String, asked: PartialDate?)
    case enquiryAnswer(EnquiryID, answer: String, answered: PartialDate?)
    case enquiries(CaseID?, unansweredOlder: HeldDuration?)
    case contactsExport(limit: Int, after: ContactID?)

    /// The most cases one LIST answer carries; a client pages with `after=`.
    public static let maximumPageSize = 10_000
    public static let defaultPageSize = 1_000

    /// Validates a request. `today` bounds dates: nothing recorded can lie in the future.
    public init(_ request: Request, today: Day) throws {
        guard let verb = Verb.named(request.verb) else {
            let known = Verb.allCases.map(\.name).joined(separator: " ")
            if Verb.reserved.contains(request.verb) {
                throw CasetrackError(.unknownVerb, "\(request.verb) is not available in protocol version \(protocolVersion); verbs: \(known)")
            }
            throw CasetrackError(.unknownVerb, "unknown verb '\(request.verb.prefix(40))'; verbs: \(known)")
        }
        self = try verb.definition.parse(try Arguments(request, verb: verb, today: today))
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
        case .recordEvent: return .event
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
        case .verify: return .verify
        case .duplicates: return .duplicates
        case .match: return .match
        case .merge: return .merge
        case .unmerge: return .unmerge
        case .notDuplicate: return .notDuplicate
        case .contactAdd: return .contactAdd
        case .contactUpdate: return .contactUpdate
        case .contactRemove: return .contactRemove
        case .contacts: return .contacts
        case .enquiryAdd: return .enquiryAdd
        case .enquiryAnswer: return .enquiryAnswer
        case .enquiries: return .enquiries
        case .contactsExport: return .contactsExport
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
        case .subscribe(let filter, _): return max(verb.role, filter.requiredRole)
        default: return verb.role
        }
    }

    /// Whether the command changes the record (and so goes to the writer): the verb table's
    /// flag, except for an import's dry run, which only reads.
    public var isWrite: Bool {
        if case .importRows(_, dryRun: true, _) = self { return false }
        return verb.writes
    }
}
