/// A person's sex as recorded, for telling people apart: two records of one name whose sex
/// differs are likely two people. `unknown` is recorded as said; no value means not recorded.
public enum Sex: String, CaseIterable, Hashable, Sendable {
    case male, female, unknown

    public static func parse(_ text: String, field: String) throws -> Sex {
        guard let sex = Sex(rawValue: text.lowercased()) else {
            throw CasetrackError.badArgument(
                "\(field): '\(text.prefix(40))' is not a sex; use one of \(Sex.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return sex
    }
}
