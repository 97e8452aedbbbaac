/// The role a peer needs for a verb. Enforced by the access-control layer; listed here so that
/// the verb table stays the one place that describes a verb.
public enum Role: String, Sendable, CaseIterable, Comparable {
    /// Notices and statistics, no personal data.
    case observer
    /// Full records and history.
    case reader
    /// Create and change cases.
    case writer
    /// Exchanges, corrections, backup, configuration.
    case admin

    public static func < (lhs: Role, rhs: Role) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// One verb of the line protocol: its name, arguments, role and a one-line summary.
/// docs/PROTOCOL.md lists the same table; a test checks that every verb here is documented.
public struct Verb: Hashable, Sendable {
    public let name: String
    /// Positional arguments, in order, for the usage line.
    public let positional: [String]
    /// Option keys it takes; those in `repeatable` may be given more than once.
    public let keys: [String]
    public let repeatable: Set<String>
    public let role: Role
    public let summary: String

    public var usage: String {
        ([name] + positional + keys.map { "[\($0)=…]" }).joined(separator: " ")
    }

    static let filterKeys = ["status", "category", "tag", "unit", "held_min", "since_from", "since_before",
                             "updated_since", "name", "exchange", "phase", "ended_from", "ended_before"]
    static let filterRepeatable: Set<String> = ["status", "category", "tag"]
    static let eventKeys = ["at", "source", "confidence", "note", "expect_version"]

    public static let hello = Verb(name: "HELLO", positional: ["[VERSION]"], keys: ["format"], repeatable: [],
                                   role: .observer, summary: "check the protocol version; optionally choose the answer format")
    public static let format = Verb(name: "FORMAT", positional: ["text|json"], keys: [], repeatable: [],
                                    role: .observer, summary: "choose the answer format for this connection")
    public static let ping = Verb(name: "PING", positional: [], keys: [], repeatable: [],
                                  role: .observer, summary: "answer OK; for health checks")
    public static let quit = Verb(name: "QUIT", positional: [], keys: [], repeatable: [],
                                  role: .observer, summary: "answer OK and close the connection")
    public static let add = Verb(
        name: "ADD", positional: [],
        keys: ["name", "category", "status", "since", "birth", "unit", "tag", "last_place", "detention_place", "ref",
               "notes", "at", "source", "confidence", "note"],
        repeatable: ["name", "tag", "ref"], role: .writer, summary: "open a new case")
    public static let get = Verb(name: "GET", positional: ["ID"], keys: [], repeatable: [],
                                 role: .reader, summary: "one case")
    public static let setStatus = Verb(
        name: "SET-STATUS", positional: ["ID", "STATUS"], keys: eventKeys + ["correction"], repeatable: [],
        role: .writer, summary: "change a case's status along the lifecycle, or correct a wrong entry (correction=yes, admin)")
    public static let update = Verb(
        name: "UPDATE", positional: ["ID"],
        keys: ["name", "add_name", "remove_name", "category", "since", "birth", "unit", "add_tag", "remove_tag",
               "last_place", "detention_place", "add_ref", "remove_ref", "notes"] + eventKeys,
        repeatable: ["name", "add_name", "remove_name", "add_tag", "remove_tag", "add_ref", "remove_ref"],
        role: .writer, summary: "change other fields of a case")
    public static let history = Verb(name: "HISTORY", positional: ["ID"], keys: [], repeatable: [],
                                     role: .reader, summary: "every event of a case, oldest first")
    public static let list = Verb(name: "LIST", positional: [], keys: filterKeys + ["limit", "after"],
                                  repeatable: filterRepeatable, role: .reader, summary: "cases matching a filter, by id")
    public static let count = Verb(name: "COUNT", positional: [], keys: filterKeys, repeatable: filterRepeatable,
                                   role: .observer, summary: "how many cases match a filter")
    public static let stats = Verb(name: "STATS", positional: [], keys: filterKeys + ["by", "from", "to"],
                                   repeatable: filterRepeatable, role: .observer,
                                   summary: "counts by status and category, or by held duration, unit, tag, exchange phase or day of return (by=)")

    public static let subscribe = Verb(
        name: "SUBSCRIBE", positional: [], keys: ["since", "status", "old", "new", "category", "tag", "unit", "id", "kind"],
        repeatable: ["status", "old", "new", "category", "tag", "id", "kind"], role: .observer,
        summary: "receive a notice line for every matching event: stored ones after since=SEQ, then live ones")
    public static let unsubscribe = Verb(name: "UNSUBSCRIBE", positional: [], keys: [], repeatable: [], role: .observer,
                                         summary: "stop the notices of this connection")
    public static let testNotice = Verb(name: "TEST-NOTICE", positional: [], keys: ["note"], repeatable: [], role: .writer,
                                        summary: "record a test event that every subscriber receives, to check hooks end to end")

    public static let exchangeCreate = Verb(
        name: "EXCHANGE-CREATE", positional: ["NAME"], keys: ["date", "phases", "note"], repeatable: [], role: .admin,
        summary: "record a planned exchange: its name, date and number of phases")
    public static let exchangeAdd = Verb(
        name: "EXCHANGE-ADD", positional: ["NAME", "ID…"], keys: ["phase"], repeatable: [], role: .admin,
        summary: "list cases on a phase of an exchange")
    public static let exchangeRemove = Verb(
        name: "EXCHANGE-REMOVE", positional: ["NAME", "ID…"], keys: [], repeatable: [], role: .admin,
        summary: "take cases off an exchange's list before their phase is completed")
    public static let exchangeComplete = Verb(
        name: "EXCHANGE-COMPLETE", positional: ["NAME"], keys: ["phase", "at", "source", "confidence", "note"],
        repeatable: [], role: .admin,
        summary: "mark every case listed on a phase returned, in one transaction, and count them by category")
    public static let exchangeShow = Verb(
        name: "EXCHANGE-SHOW", positional: ["NAME"], keys: [], repeatable: [], role: .reader,
        summary: "an exchange phase by phase: listed, returned, by category, unit and tag, and who did not return")
    public static let exchangeList = Verb(
        name: "EXCHANGE-LIST", positional: [], keys: [], repeatable: [], role: .observer,
        summary: "every exchange with its date and counts")
    public static let importRows = Verb(
        name: "IMPORT", positional: [], keys: ["row", "dry_run"], repeatable: ["row"], role: .writer,
        summary: "open the cases of a batch of rows in one transaction, skipping those whose references are already on record")
    public static let export = Verb(
        name: "EXPORT", positional: [], keys: filterKeys + ["limit", "after"], repeatable: filterRepeatable, role: .observer,
        summary: "cases matching a filter, by id, for export: without personal data below the reader role")
    public static let backup = Verb(
        name: "BACKUP", positional: ["PATH"], keys: [], repeatable: [], role: .admin,
        summary: "write a consistent copy of the database to a new file while writes go on")

    /// Every verb, in the order docs/PROTOCOL.md describes them.
    public static let all: [Verb] = [hello, format, ping, quit, add, get, setStatus, update, history, list, count, stats,
                                     subscribe, unsubscribe, testNotice, exchangeCreate, exchangeAdd, exchangeRemove, exchangeComplete,
                                     exchangeShow, exchangeList, importRows, export, backup]

    /// Whether the last positional argument may repeat (`ID…`).
    public var isVariadic: Bool { positional.last?.hasSuffix("…") == true }

    /// Verbs that later versions of this protocol define; answered with `unknown-verb` today.
    public static let reserved: [String] = []

    public static func named(_ name: String) -> Verb? { all.first { $0.name == name } }
}
