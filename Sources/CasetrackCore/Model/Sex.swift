/// A person's sex as the sources give it.
///
/// Duplicate detection treats a different sex as strong evidence of two people; `unknown` (and
/// a missing value) is no evidence either way.
public enum Sex: String, CaseIterable, Hashable, Sendable {
    case male, female, unknown

    static func parse(_ text: String, field: String) throws -> Sex {
        guard let value = Sex(rawValue: text.lowercased()) else {
            throw CasetrackError.badArgument("\(field): '\(text)' is not a sex; use male, female or unknown")
        }
        return value
    }
}
