/// The stable, human-friendly identifier of a case: `C-` followed by a number, at least six
/// digits wide (`C-000001`, …, `C-1000000`).
///
/// A plain counter keeps ids short enough to read out over the phone and to type, and it sorts
/// in the order cases were opened. It carries no personal data.
public struct CaseID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let number: Int64

    public init(number: Int64) { self.number = number }

    /// Parses `C-000123`, `c-123` or `123`.
    public init?(_ text: some StringProtocol) {
        var digits = Substring(text)
        if digits.hasPrefix("C-") || digits.hasPrefix("c-") { digits = digits.dropFirst(2) }
        guard !digits.isEmpty, digits.count <= 15, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let number = Int64(digits), number > 0
        else { return nil }
        self.number = number
    }

    public var description: String {
        let digits = String(number)
        return "C-" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    public static func < (lhs: CaseID, rhs: CaseID) -> Bool { lhs.number < rhs.number }

    static func parse(_ text: String, field: String) throws -> CaseID {
        guard let id = CaseID(text) else {
            throw CasetrackError.badArgument("\(field): '\(text)' is not a case id (expected C- and a number, e.g. C-000001)")
        }
        return id
    }
}
