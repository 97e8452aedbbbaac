/// What duplicate detection looks at in a case: who the person is, not where the case stands.
public struct Identity: Hashable, Sendable {
    public var id: CaseID
    /// Every spelling of the full name (Cyrillic, romanizations, either order).
    public var names: [String]
    public var birth: PartialDate?
    /// `nil` and ``Sex/unknown`` both mean no evidence.
    public var sex: Sex?
    public var serviceNumber: String?
    /// Unit or other affiliation.
    public var unit: String?
    /// When the person went missing or was detained.
    public var since: PartialDate?
    /// External reference numbers (lists, registries).
    public var references: [String]

    public init(
        id: CaseID, names: [String], birth: PartialDate? = nil, sex: Sex? = nil, serviceNumber: String? = nil,
        unit: String? = nil, since: PartialDate? = nil, references: [String] = []
    ) {
        self.id = id
        self.names = names
        self.birth = birth
        self.sex = sex
        self.serviceNumber = serviceNumber
        self.unit = unit
        self.since = since
        self.references = references
    }

    /// A service or reference number as compared: upper case, Cyrillic letters that look like
    /// Latin ones written as Latin, separators (`-`, `/`, `.`, spaces) removed; so `АА-123456`,
    /// `aa 123456` and `AA123456` are one number.
    public static func serviceKey(_ number: String) -> String {
        // ASCII (nearly every number) without uppercasing a copy or asking each scalar's
        // properties: done for each reference of each candidate a duplicate check reads.
        if number.utf8.allSatisfy({ $0 < 0x80 }) {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(number.utf8.count)
            for byte in number.utf8 {
                switch byte {
                case UInt8(ascii: "-"), UInt8(ascii: "/"), UInt8(ascii: "."), 0x09...0x0D, 0x20: continue
                case UInt8(ascii: "a")...UInt8(ascii: "z"): bytes.append(byte - 0x20)
                default: bytes.append(byte)
                }
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        return serviceKeyByRules(number)
    }

    /// ``serviceKey(_:)`` for any text, as the rule is written.
    static func serviceKeyByRules(_ number: String) -> String {
        var key = String.UnicodeScalarView()
        for scalar in number.uppercased().unicodeScalars {
            if scalar == "-" || scalar == "/" || scalar == "." || scalar.properties.isWhitespace { continue }
            key.append(latinLookalikes[scalar] ?? scalar)
        }
        return String(key)
    }

    /// Capital Cyrillic letters that are drawn like Latin ones, as typed on either keyboard.
    private static let latinLookalikes: [Unicode.Scalar: Unicode.Scalar] = [
        "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
        "Т": "T", "У": "Y", "Х": "X", "І": "I",
    ]

    /// A unit as compared: its words (letters and digits), lower case, one space apart.
    static func unitKey(_ unit: String) -> String {
        // ASCII (most units): its letters and digits are the only ones, a byte each.
        if unit.utf8.allSatisfy({ $0 < 0x80 }) {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(unit.utf8.count)
            var pendingSpace = false
            for byte in unit.utf8 {
                var letter = byte
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): letter = byte + 0x20
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): break
                default:
                    pendingSpace = !bytes.isEmpty
                    continue
                }
                if pendingSpace { bytes.append(0x20) }
                pendingSpace = false
                bytes.append(letter)
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        return unitKeyByRules(unit)
    }

    /// ``unitKey(_:)`` for any text, as the rule is written.
    static func unitKeyByRules(_ unit: String) -> String {
        unit.lowercased()
            .split(whereSeparator: { !($0.isLetter || $0.isNumber) })
            .joined(separator: " ")
    }
}

/// One spelling of a name, folded: its words in order and which of them is the patronymic.
struct FoldedSpelling: Hashable, Sendable {
    var words: [String]
    var patronymic: Int?

    init(_ name: String) {
        words = NameFolding.words(of: name)
        patronymic = NameFolding.patronymicIndex(in: words)
    }

    /// The words other than the patronymic.
    var core: [String] {
        words.indices.filter { $0 != patronymic }.map { words[$0] }
    }
}

/// An ``Identity`` with everything matching compares computed once: the folded spellings,
/// the service, reference and unit keys. Folding the names is most of a comparison's cost:
/// whoever compares one identity with many, or the same candidates again, keeps these.
public struct PreparedIdentity: Sendable {
    public private(set) var id: CaseID
    let spellings: [FoldedSpelling]
    let birth: PartialDate?
    let sex: Sex?
    let unit: String?
    let since: PartialDate?
    let service: String?
    let references: Set<String>
    /// The non-patronymic words of all spellings.
    let coreWords: Set<String>
    /// The patronymic of each spelling that has one.
    let patronymics: [String]

    public init(_ identity: Identity) {
        id = identity.id
        var spellings: [FoldedSpelling] = []
        for name in identity.names {
            let spelling = FoldedSpelling(name)
            if !spelling.words.isEmpty, !spellings.contains(where: { $0.words == spelling.words }) {
                spellings.append(spelling)
            }
        }
        self.spellings = spellings
        birth = identity.birth
        sex = identity.sex == .unknown ? nil : identity.sex
        let unit = identity.unit.map(Identity.unitKey) ?? ""
        self.unit = unit.isEmpty ? nil : unit
        since = identity.since
        let service = identity.serviceNumber.map(Identity.serviceKey) ?? ""
        self.service = service.isEmpty ? nil : service
        references = Set(identity.references.map(Identity.serviceKey).filter { !$0.isEmpty })
        coreWords = Set(spellings.flatMap(\.core))
        patronymics = spellings.compactMap { spelling in spelling.patronymic.map { spelling.words[$0] } }
    }

    /// Whether the birth date (or year) is known: it decides which name keys find the case.
    public var hasBirth: Bool { birth != nil }

    /// The same identity under another case number: an import prepares a row's identity
    /// before the writer gives the case its number.
    public func numbered(_ id: CaseID) -> PreparedIdentity {
        var copy = self
        copy.id = id
        return copy
    }
}
