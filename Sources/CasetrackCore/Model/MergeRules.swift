/// The fields a merge may find in conflict, and which side a person chose for each.
public enum MergeField: String, CaseIterable, Hashable, Sendable {
    case category, status, since, ended, birth, sex, unit, rank, notes
    case birthPlace = "birth_place"
    case serviceNumber = "service_number"
    case lastPlace = "last_place"
    case detentionPlace = "detention_place"
    case deathPlace = "death_place"
    case deathCause = "death_cause"
    case remains
}

public enum MergeSide: String, CaseIterable, Hashable, Sendable {
    case target, source
}

/// Two records found to be one person, merged by a person: the target gains what the source
/// knows and it lacks; a fact they disagree on is never settled silently.
///
/// Lists (names, tags, references) are joined. A field only one side has is taken from it.
/// Two dates where one refines the other (`1991` and `1991-03-12`) are one fact: the more
/// precise is kept. Anything else that differs is a conflict, refused with every conflict
/// listed unless the request says which side to keep for that field; the losing value stays
/// in the history (the merge event lists every change).
public enum MergeRules {
    public struct Conflict: Hashable, Sendable, CustomStringConvertible {
        public let field: MergeField
        public let target: String
        public let source: String

        public var description: String { "\(field.rawValue): target has \(target), source has \(source)" }
    }

    /// The target as it is after the merge, and what changed in it (one line per field, as
    /// an update's changes); throws `merge-conflict` naming every unresolved conflict.
    public static func merged(_ source: CaseRecord, into target: CaseRecord,
                              prefer: [MergeField: MergeSide]) throws -> (record: CaseRecord, changes: [String]) {
        guard source.id != target.id else {
            throw CasetrackError.badArgument("\(source.id) cannot be merged into itself")
        }
        guard source.status.isOpen == target.status.isOpen else {
            throw CasetrackError(.mergeConflict,
                "\(source.id) is \(source.status.rawValue) and \(target.id) is \(target.status.rawValue): one is open, the other closed. Correct the wrong one first (set-status --correction), then merge")
        }
        var record = target
        var conflicts: [Conflict] = []
        var changes: [String] = []

        func text(_ value: String?) -> String { value.map { LineCodec.quote($0) } ?? "(none)" }
        func date(_ value: PartialDate?) -> String { value?.description ?? "unknown" }

        /// One scalar field: taken from the source when the target has none, kept when equal
        /// or compatible, chosen by `prefer` when they differ, else a conflict.
        func take<T: Equatable>(_ field: MergeField, _ keyPath: WritableKeyPath<CaseRecord, T?>, show: (T?) -> String,
                                combine: (T, T) -> T? = { $0 == $1 ? $0 : nil }) {
            let mine = record[keyPath: keyPath]
            guard let theirs = source[keyPath: keyPath] else { return }
            let result: T
            if let mine {
                if let combined = combine(mine, theirs) {
                    result = combined
                } else {
                    switch prefer[field] {
                    case .target?: return
                    case .source?: result = theirs
                    case nil:
                        conflicts.append(Conflict(field: field, target: show(mine), source: show(theirs)))
                        return
                    }
                }
            } else {
                result = theirs
            }
            if mine != result {
                changes.append("\(field.rawValue): \(show(mine)) -> \(show(result))")
                record[keyPath: keyPath] = result
            }
        }
        /// Non-optional fields (category, status): equal, or chosen.
        func choose<T: Equatable>(_ field: MergeField, _ keyPath: WritableKeyPath<CaseRecord, T>, show: (T) -> String) {
            let mine = record[keyPath: keyPath], theirs = source[keyPath: keyPath]
            guard mine != theirs else { return }
            switch prefer[field] {
            case .target?: return
            case .source?:
                changes.append("\(field.rawValue): \(show(mine)) -> \(show(theirs))")
                record[keyPath: keyPath] = theirs
            case nil:
                conflicts.append(Conflict(field: field, target: show(mine), source: show(theirs)))
            }
        }

        choose(.category, \.category) { $0.rawValue }
        choose(.status, \.status) { $0.rawValue }
        take(.since, \.since, show: date, combine: PartialDate.finer)
        take(.ended, \.endedOn, show: date, combine: PartialDate.finer)
        take(.birth, \.birth, show: date, combine: PartialDate.finer)
        take(.sex, \.sex, show: { $0?.rawValue ?? "(none)" }) { mine, theirs in
            // "unknown" is no evidence: the other side's value is kept.
            mine == theirs ? mine : mine == .unknown ? theirs : theirs == .unknown ? mine : nil
        }
        // One number written two ways (АА-123456, AA123456) is what made the pair a duplicate:
        // no conflict; the target's spelling stays.
        take(.serviceNumber, \.serviceNumber, show: text) { mine, theirs in
            Identity.serviceKey(mine) == Identity.serviceKey(theirs) ? mine : nil
        }
        take(.rank, \.rank, show: text)
        take(.birthPlace, \.birthPlace, show: text)
        // Units as searches compare them (letter case, runs of spaces).
        take(.unit, \.unit, show: text) { mine, theirs in CaseFilter.unitKey(mine) == CaseFilter.unitKey(theirs) ? mine : nil }
        take(.lastPlace, \.lastKnownPlace, show: text)
        take(.detentionPlace, \.detentionPlace, show: text)
        take(.notes, \.notes, show: text)
        take(.deathPlace, \.deathPlace, show: text)
        take(.deathCause, \.deathCause, show: text)
        take(.remains, \.remains, show: { $0?.rawValue ?? "(none)" })
        // Two proofs of life are no conflict: the person was alive on both days; the later counts.
        if let theirs = source.proofOfLife, record.proofOfLife.map({ $0.on.lastDay < theirs.on.lastDay }) ?? true {
            let show = { (proof: ProofOfLife?) in proof.map { "\($0.on) \($0.kind.rawValue)" } ?? "(none)" }
            changes.append("proof_of_life: \(show(record.proofOfLife)) -> \(show(theirs))")
            record.proofOfLife = theirs
        }

        guard conflicts.isEmpty else {
            throw CasetrackError(.mergeConflict,
                "\(source.id) and \(target.id) disagree on \(conflicts.count == 1 ? "one fact" : "\(conflicts.count) facts"): \(conflicts.map(\.description).joined(separator: "; ")). Nothing was merged; say which to keep with prefer=FIELD:target or prefer=FIELD:source")
        }

        func join(_ name: String, _ keyPath: WritableKeyPath<CaseRecord, [String]>, sorted: Bool) throws {
            var values = record[keyPath: keyPath]
            for value in source[keyPath: keyPath] where !values.contains(value) { values.append(value) }
            if sorted { values.sort() }
            guard values.count <= CaseUpdate.maximumListLength else {
                throw CasetrackError.badArgument("merged, the case would have more than \(CaseUpdate.maximumListLength) \(name)")
            }
            if values != record[keyPath: keyPath] {
                let list = { (values: [String]) in "[" + values.map { LineCodec.quote($0) }.joined(separator: ", ") + "]" }
                changes.append("\(name == "references" ? "refs" : name): \(list(record[keyPath: keyPath])) -> \(list(values))")
                record[keyPath: keyPath] = values
            }
        }
        try join("names", \.names, sorted: false)
        try join("tags", \.tags, sorted: true)
        try join("references", \.references, sorted: true)
        return (record, changes)
    }
}

extension PartialDate {
    /// The more precise of two dates that agree as far as both go (`1991` and `1991-03`);
    /// nil when they disagree.
    static func finer(_ a: PartialDate, _ b: PartialDate) -> PartialDate? {
        func detail(_ date: PartialDate) -> Int { date.day != nil ? 2 : date.month != nil ? 1 : 0 }
        let (coarse, fine) = detail(a) <= detail(b) ? (a, b) : (b, a)
        guard coarse.firstDay <= fine.firstDay, fine.lastDay <= coarse.lastDay else { return nil }
        return fine
    }
}
