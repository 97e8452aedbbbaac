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
    /// Identity: what tells this person from another of the same name.
    public var sex: Sex?
    public var serviceNumber: String?
    public var rank: String?
    public var birthPlace: String?

    public init(names: [String], birth: PartialDate? = nil, category: Category, unit: String? = nil, tags: [String] = [],
                status: Status, since: PartialDate? = nil, lastKnownPlace: String? = nil, detentionPlace: String? = nil,
                references: [String] = [], notes: String? = nil, sex: Sex? = nil, serviceNumber: String? = nil,
                rank: String? = nil, birthPlace: String? = nil) {
        self.sex = sex
        self.serviceNumber = serviceNumber
        self.rank = rank
        self.birthPlace = birthPlace
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
