/// The duplicate candidates of a set of cases, and what finding them cost.
public struct DuplicateSearch: Hashable, Sendable {
    /// Pairs at or above the threshold, best first (score descending, then by ids).
    public var candidates: [DuplicateCandidate]
    /// Pairs looked at inside blocks (a pair that shares several keys is looked at in each,
    /// and scored in one).
    public var comparisons: Int
    /// Pairs scored: each distinct pair that shares a key, once, unless its other fields
    /// already keep it below the threshold (see `skipped`).
    public var scored: Int
    /// Distinct pairs that share a key but were not scored: even names that agree fully could
    /// not lift them to the threshold (``ScoreCeiling``).
    public var skipped: Int
    /// Distinct blocking keys.
    public var blocks: Int
    /// Cases in the largest block that was searched.
    public var largestBlock: Int
    /// Blocks left out because they held more than the limit of cases.
    public var oversizedBlocks: Int
    /// How many cases those blocks held together (a case may be counted in several).
    public var casesInOversizedBlocks: Int
}

/// Which pairs of cases are worth scoring: those that share a blocking key.
///
/// Comparing every pair of a million cases is half a trillion comparisons; cases that are one
/// person nearly always share one of a few short keys, and few other cases do:
///
/// - `y<year>:<word>|<three letters>`: for each ordered pair of words (surname and given
///   name, either way round; the patronymic left out, as one side may lack it) of each
///   spelling, folded: the first word whole, three letters of the second, the birth year. The
///   three letters are the second word's first three, and also its first, third and fourth and
///   its first, second and fourth: one typing error after the first letter leaves one of these
///   equal to one of the other spelling's. The two orders of the words cover an error in either.
///   Birth years that differ are strong evidence against, so those pairs need not meet here.
/// - `n:<word>|<first three letters>`: the same without the year (and with only the first three
///   letters), for a case whose birth is unknown to meet the others. In these blocks only pairs
///   with at least one unknown birth are compared, so they cost the cases without a birth date
///   times the block; still, with a birth unknown in one case of eight they make about two
///   thirds of all comparisons, the price of finding a duplicate entered without a birth date.
/// - `s:<service number>` and `r:<reference>`, normalized (``Identity/serviceKey(_:)``).
///
/// A key shared by more than ``maxBlockSize`` cases is not searched: a block that large names
/// nothing particular (a very common name with no year), costs millions of comparisons, and its
/// pairs rest on the name alone, which does not reach the threshold unless the name is rare.
/// The search reports how many blocks it left out.
public enum DuplicateBlocking {
    /// The most cases a block may hold and still be searched.
    public static let maxBlockSize = 2_000

    /// The blocking keys of one case.
    public static func keys(for identity: Identity) -> Set<String> {
        keys(PreparedIdentity(identity))
    }

    /// The blocking keys of an identity prepared beforehand (its folding is done once).
    public static func keys(_ identity: PreparedIdentity) -> Set<String> {
        var keys = Set<String>()
        let year = identity.birth.map { String($0.year) }
        for spelling in identity.spellings {
            let core = spelling.core
            for (i, first) in core.enumerated() {
                for (j, second) in core.enumerated() where i != j {
                    keys.insert("n:\(first)|\(second.prefix(3))")
                    if let year {
                        for letters in letterTriples(second) { keys.insert("y\(year):\(first)|\(letters)") }
                    }
                }
            }
        }
        if let service = identity.service { keys.insert("s:" + service) }
        for reference in identity.references { keys.insert("r:" + reference) }
        return keys
    }

    /// The first three letters of a folded word, and the two ways to skip its second or third.
    static func letterTriples(_ word: String) -> Set<String> {
        let letters = Array(word.utf8)
        guard letters.count >= 4 else { return [String(word.prefix(3))] }
        return [
            String(decoding: letters[0..<3], as: UTF8.self),
            String(decoding: [letters[0], letters[2], letters[3]], as: UTF8.self),
            String(decoding: [letters[0], letters[1], letters[3]], as: UTF8.self),
        ]
    }

    /// The pairs of `identities` that score at least `threshold`, best first, and the cost.
    ///
    /// Cases are grouped by key; each pair in a block is scored once, in the first block both
    /// share (so a pair sharing eight keys costs one score and eight cheap checks). How common
    /// each name word, date and unit is comes from `identities` itself. Pairs in `excluding`
    /// (already judged to be two people, say) are not scored. Neither are pairs whose
    /// ``ScoreCeiling`` is below the threshold, unless `skipHopeless` is false (for the test
    /// that this changes no answer).
    public static func candidates(
        _ identities: [Identity], threshold: Double = DuplicateScoring.defaultThreshold,
        excluding: Set<CasePair> = [], maxBlockSize: Int = DuplicateBlocking.maxBlockSize,
        skipHopeless: Bool = true
    ) -> DuplicateSearch {
        let prepared = identities.map(PreparedIdentity.init)
        // How common a name, unit or date is can only be counted over enough cases: in a small
        // register two cases that share a name make it "half of all names", and a true
        // duplicate would count for nothing. Below that, pairs are scored as one pair alone is.
        let frequencies = prepared.count >= DuplicateFrequencies.minimumCases ? DuplicateFrequencies(prepared) : nil
        var unitNumbers: [String: Int32] = [:]
        var patronymics = PatronymicAgreement()
        let ceilings = prepared.map { identity in
            var unit: Int32 = -1
            if let name = identity.unit {
                if let number = unitNumbers[name] {
                    unit = number
                } else {
                    unit = Int32(unitNumbers.count)
                    unitNumbers[name] = unit
                }
            }
            return ScoreCeiling(identity, unit: unit, patronymics: patronymics.numbers(of: identity.patronymics),
                                frequencies: frequencies)
        }
        let needed = skipHopeless ? ScoreCeiling.needed(for: threshold) : -.infinity

        // Number the keys. A key is held as a 64-bit hash of its text: a million cases have
        // millions of keys, and two that collide only share a block (more comparisons, the same
        // answers).
        var numbers: [UInt64: Int32] = [:]
        var yearless: [Bool] = []
        var keysOfCase: [[Int32]] = []
        keysOfCase.reserveCapacity(prepared.count)
        for identity in prepared {
            var own: [Int32] = []
            for key in keys(identity) {
                let hash = fnv1a(key)
                if let number = numbers[hash] {
                    own.append(number)
                } else {
                    let number = Int32(yearless.count)
                    numbers[hash] = number
                    yearless.append(key.hasPrefix("n:"))
                    own.append(number)
                }
            }
            keysOfCase.append(own)
        }
        let keyCount = yearless.count

        // The members of each block, in case order, as one array with offsets.
        var sizes = [Int](repeating: 0, count: keyCount)
        for own in keysOfCase { for key in own { sizes[Int(key)] += 1 } }
        var offsets = [Int](repeating: 0, count: keyCount + 1)
        for key in 0..<keyCount { offsets[key + 1] = offsets[key] + sizes[key] }
        var members = [Int32](repeating: 0, count: offsets[keyCount])
        var filled = offsets
        for (index, own) in keysOfCase.enumerated() {
            for key in own {
                members[filled[Int(key)]] = Int32(index)
                filled[Int(key)] += 1
            }
        }

        let oversized = sizes.map { $0 > maxBlockSize }
        var search = DuplicateSearch(
            candidates: [], comparisons: 0, scored: 0, skipped: 0, blocks: keyCount, largestBlock: 0, oversizedBlocks: 0,
            casesInOversizedBlocks: 0)
        for key in 0..<keyCount where oversized[key] {
            search.oversizedBlocks += 1
            search.casesInOversizedBlocks += sizes[key]
        }
        // A case's keys, searched ones only, sorted: the first one two cases share is where
        // their pair is scored.
        for index in keysOfCase.indices {
            keysOfCase[index] = keysOfCase[index].filter { !oversized[Int($0)] }.sorted()
        }

        for key in 0..<keyCount where !oversized[key] {
            let block = members[offsets[key]..<offsets[key + 1]]
            search.largestBlock = max(search.largestBlock, block.count)
            guard block.count > 1 else { continue }
            if yearless[key], !block.contains(where: { prepared[Int($0)].birth == nil }) { continue }
            for (position, first) in zip(block.indices, block) {
                let x = prepared[Int(first)]
                for second in block[(position + 1)...] {
                    let y = prepared[Int(second)]
                    let bothBorn = x.birth != nil && y.birth != nil
                    if yearless[key], bothBorn { continue }
                    search.comparisons += 1
                    guard firstSharedKey(keysOfCase[Int(first)], keysOfCase[Int(second)], bothBorn: bothBorn,
                                         yearless: yearless) == Int32(key) else { continue }
                    if !excluding.isEmpty, excluding.contains(CasePair(x.id, y.id)) { continue }
                    let decided = (x.service != nil && x.service == y.service) || !x.references.isDisjoint(with: y.references)
                    if !decided, ScoreCeiling.ceiling(ceilings[Int(first)], ceilings[Int(second)], patronymics: &patronymics) < needed {
                        search.skipped += 1
                        continue
                    }
                    search.scored += 1
                    if let candidate = DuplicateScoring.score(x, y, frequencies: frequencies),
                       candidate.score >= threshold {
                        search.candidates.append(candidate)
                    }
                }
            }
        }
        search.candidates.sort { lhs, rhs in
            lhs.score != rhs.score ? lhs.score > rhs.score : (lhs.a, lhs.b) < (rhs.a, rhs.b)
        }
        return search
    }

    /// The first key of two sorted key lists that both share and in which their pair is
    /// compared (a year-less key only when a birth is unknown).
    private static func firstSharedKey(_ x: [Int32], _ y: [Int32], bothBorn: Bool, yearless: [Bool]) -> Int32? {
        var i = 0
        var j = 0
        while i < x.count, j < y.count {
            if x[i] < y[j] {
                i += 1
            } else if x[i] > y[j] {
                j += 1
            } else {
                if !(bothBorn && yearless[Int(x[i])]) { return x[i] }
                i += 1
                j += 1
            }
        }
        return nil
    }

    /// FNV-1a, 64 bits: stable from run to run, unlike `Hasher`.
    private static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}
