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
    public var sex: Sex??
    public var serviceNumber: String??
    public var rank: String??
    public var birthPlace: String??

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

        let tags = try CaseUpdate.edited(record.tags, removing: removeTags, adding: addTags,
                                         key: "remove_tag", noun: "tag", plural: "tags", in: record.id)
        note("tags", record.tags, tags, list)
        record.tags = tags

        let refs = try CaseUpdate.edited(record.references, removing: removeReferences, adding: addReferences,
                                         key: "remove_ref", noun: "reference", plural: "references", in: record.id)
        note("refs", record.references, refs, list)
        record.references = refs

        if let category { note("category", record.category.rawValue, category.rawValue) { $0 }; record.category = category }
        if let since { note("since", record.since, since, date); record.since = since }
        if let birth { note("birth", record.birth, birth, date); record.birth = birth }
        if let unit { note("unit", record.unit, unit, text); record.unit = unit }
        if let lastKnownPlace { note("last_place", record.lastKnownPlace, lastKnownPlace, text); record.lastKnownPlace = lastKnownPlace }
        if let detentionPlace { note("detention_place", record.detentionPlace, detentionPlace, text); record.detentionPlace = detentionPlace }
        if let notes { note("notes", record.notes, notes, text); record.notes = notes }
        if let sex { note("sex", record.sex?.rawValue, sex?.rawValue, text); record.sex = sex }
        if let serviceNumber { note("service_number", record.serviceNumber, serviceNumber, text); record.serviceNumber = serviceNumber }
        if let rank { note("rank", record.rank, rank, text); record.rank = rank }
        if let birthPlace { note("birth_place", record.birthPlace, birthPlace, text); record.birthPlace = birthPlace }
        return changes
    }

    /// A set-like list (tags, references) after removals, each of which must be there, and
    /// additions; sorted, and bounded by ``maximumListLength``.
    static func edited(_ current: [String], removing: [String], adding: [String], key: String, noun: String,
                       plural: String, in id: CaseID) throws -> [String] {
        var values = Set(current)
        for value in removing {
            guard values.remove(value) != nil else { throw CasetrackError.badArgument("\(key): \(id) has no \(noun) \(value)") }
        }
        values.formUnion(adding)
        guard values.count <= CaseUpdate.maximumListLength else {
            throw CasetrackError.badArgument("a case has at most \(CaseUpdate.maximumListLength) \(plural)")
        }
        return values.sorted()
    }
}
