import ArgumentParser
import CasetrackCore

// The record's closed sets, as casectl's options and arguments take them. Typed here rather
// than passed on as text, so that help lists the values ("values: missing, captive, …"),
// shell completion offers them, and a wrong one is refused before anything is sent, with a
// message that names the values allowed (exit 64, as for any bad usage). The values come from
// CasetrackCore's own enums, so a new one reaches help and completion without an edit here.
//
// Letter case does not matter, as it does not to the daemon: `--status Captive` worked when
// casectl passed the text on, and still does.
//
// The protocol is module-qualified: these are conformances of another module's types to
// another package's protocol, and the qualification says that this is meant (SE-0364).

extension Status: ArgumentParser.ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension Sex: ArgumentParser.ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

/// `--sex`: a sex, or nothing (`''`), which `update` sends to clear a wrongly recorded one
/// (`unknown` says the sex is not known, which is another thing).
enum SexArgument: ExpressibleByArgument {
    case cleared
    case sex(Sex)

    init?(argument: String) {
        if argument.isEmpty {
            self = .cleared
        } else if let sex = Sex(argument: argument) {
            self = .sex(sex)
        } else {
            return nil
        }
    }

    static var allValueStrings: [String] { Sex.allValueStrings }

    var value: String {
        switch self {
        case .cleared: ""
        case .sex(let sex): sex.rawValue
        }
    }
}

extension Category: ArgumentParser.ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension Confidence: ArgumentParser.ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension EventKind: ArgumentParser.ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension CaptivityEventType: ArgumentParser.ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension ProofKind: ArgumentParser.ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension RemainsState: ArgumentParser.ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension Breakdown: ArgumentParser.ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension CaseFile.Format: ArgumentParser.ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

/// One or more values of a closed set in one argument, comma-separated (`--status
/// captive,missing`), as the daemon's filters take them. Help, completion and the error for a
/// wrong value name the values of the set.
struct ValueList<Value>: ExpressibleByArgument, Sendable
where Value: ExpressibleByArgument & CaseIterable & RawRepresentable & Sendable, Value.RawValue == String {
    let values: [Value]

    init?(argument: String) {
        var values: [Value] = []
        // An empty part is refused, as the daemon refuses `status=,`: a filter must not quietly
        // select everything.
        for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let value = Value(argument: String(part)) else { return nil }
            values.append(value)
        }
        self.values = values
    }

    static var allValueStrings: [String] { Value.allCases.map(\.rawValue) }

    static var defaultCompletionKind: CompletionKind { .list(allValueStrings) }

    var defaultValueDescription: String { text }

    /// The values as the daemon takes them: comma-separated, in lower case.
    var text: String { values.map(\.rawValue).joined(separator: ",") }
}
