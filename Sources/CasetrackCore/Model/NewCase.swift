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
