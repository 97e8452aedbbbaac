// The one mapping between records and answer fields. Both wire formats, casectl's output and
// the client library's decoding go through it.

extension CaseRecord {
    /// The record as an answer line. `today` fixes the computed "held for" fields.
    public func fields(today: Day) -> Fields {
        var fields = Fields(reservingCapacity: 24)
        fields.append("id", id.description)
        fields.append("status", status.rawValue)
        fields.append("category", category.rawValue)
        fields.append("version", version)
        fields.append("names", list: names)
        fields.append("birth", birth?.description)
        fields.append("birth_place", birthPlace)
        fields.append("sex", sex?.rawValue)
        fields.append("service_number", serviceNumber)
        fields.append("rank", rank)
        fields.append("unit", unit)
        fields.append("tags", list: tags)
        fields.append("since", since?.description ?? "unknown")
        fields.append("since_precision", (since?.precision ?? .unknown).rawValue)
        fields.append("ended", endedOn?.description)
        if let held = heldFor(today: today), let since, let end = heldEnd(today: today) {
            fields.append("held", held.description)
            fields.append("held_days", end.daysSinceEpoch - since.firstDay.daysSinceEpoch)
        }
        fields.append("last_place", lastKnownPlace)
        fields.append("detention_place", detentionPlace)
        fields.append("refs", list: references)
        fields.append("notes", notes)
        fields.append("proof_of_life", proofOfLife?.on.description)
        fields.append("proof_kind", proofOfLife?.kind.rawValue)
        fields.append("death_place", deathPlace)
        fields.append("death_cause", deathCause)
        fields.append("remains", remains?.rawValue)
        fields.append("created_at", createdAt.description)
        fields.append("updated_at", updatedAt.description)
        return fields
    }

    /// The record without personal data, for an observer's export: id, status, category,
    /// dates and how long, version.
    public func observerFields(today: Day) -> Fields {
        var fields = Fields()
        fields.append("id", id.description)
        fields.append("status", status.rawValue)
        fields.append("category", category.rawValue)
        fields.append("since", since?.description ?? "unknown")
        fields.append("ended", endedOn?.description)
        if let held = heldFor(today: today) { fields.append("held", held.description) }
        fields.append("version", version)
        return fields
    }

    /// Reads a record back from answer fields.
    public init(fields: Fields) throws {
        func require(_ key: String) throws -> String {
            guard let value = fields.string(key) else { throw CasetrackError(.badResponse, "record without \(key)") }
            return value
        }
        func date(_ key: String) throws -> PartialDate? {
            guard let text = fields.string(key), text != "unknown" else { return nil }
            guard let date = PartialDate(text) else { throw CasetrackError(.badResponse, "record with bad \(key) '\(text)'") }
            return date
        }
        func stamp(_ key: String) throws -> Timestamp {
            guard let stamp = Timestamp(try require(key)) else { throw CasetrackError(.badResponse, "record with bad \(key)") }
            return stamp
        }
        guard let id = CaseID(try require("id")),
              let status = Status(rawValue: try require("status")),
              let category = Category(rawValue: try require("category")),
              let version = fields.int("version")
        else { throw CasetrackError(.badResponse, "record with a bad id, status, category or version") }
        self.init(
            id: id, names: fields.strings("names"), birth: try date("birth"), category: category,
            unit: fields.string("unit"), tags: fields.strings("tags"), status: status, since: try date("since"),
            endedOn: try date("ended"), lastKnownPlace: fields.string("last_place"),
            detentionPlace: fields.string("detention_place"), references: fields.strings("refs"),
            notes: fields.string("notes"), version: Int(version), createdAt: try stamp("created_at"),
            updatedAt: try stamp("updated_at"), sex: fields.string("sex").flatMap(Sex.init(rawValue:)),
            serviceNumber: fields.string("service_number"), rank: fields.string("rank"),
            birthPlace: fields.string("birth_place"),
            proofOfLife: try date("proof_of_life").flatMap { on in
                fields.string("proof_kind").flatMap(ProofKind.init(rawValue:)).map { ProofOfLife(on: on, kind: $0) }
            },
            deathPlace: fields.string("death_place"), deathCause: fields.string("death_cause"),
            remains: fields.string("remains").flatMap(RemainsState.init(rawValue:)))
    }
}

extension HistoryEvent {
    public var fields: Fields {
        var fields = Fields()
        fields.append("seq", seq)
        fields.append("id", caseID.description)
        fields.append("kind", kind.rawValue)
        fields.append("old", oldStatus?.rawValue)
        fields.append("new", newStatus?.rawValue)
        fields.append("version", version)
        fields.append("occurred", occurredOn?.description ?? "unknown")
        fields.append("occurred_precision", (occurredOn?.precision ?? .unknown).rawValue)
        fields.append("recorded_at", recordedAt.description)
        fields.append("source", source)
        fields.append("confidence", confidence?.rawValue)
        fields.append("actor_uid", Int64(actor.uid))
        fields.append("actor_pid", Int64(actor.pid))
        fields.append("office", office)
        fields.append("note", note)
        fields.append("changes", list: changes)
        fields.append("threshold", threshold)
        exchange?.append(to: &fields)
        details?.append(to: &fields)
        return fields
    }

    public init(fields: Fields) throws {
        guard let seq = fields.int("seq"), let id = fields.string("id").flatMap({ CaseID($0) }),
              let kind = fields.string("kind").flatMap({ EventKind(rawValue: $0) }),
              let version = fields.int("version"),
              let recorded = fields.string("recorded_at").flatMap({ Timestamp($0) }),
              let uid = fields.int("actor_uid"), let pid = fields.int("actor_pid")
        else { throw CasetrackError(.badResponse, "event line without seq, id, kind, version, recorded_at or actor") }
        self.init(
            seq: seq, caseID: id, kind: kind, oldStatus: fields.string("old").flatMap { Status(rawValue: $0) },
            newStatus: fields.string("new").flatMap { Status(rawValue: $0) },
            occurredOn: fields.string("occurred").flatMap { PartialDate($0) }, recordedAt: recorded,
            source: fields.string("source"), confidence: fields.string("confidence").flatMap { Confidence(rawValue: $0) },
            actor: Actor(uid: UInt32(truncatingIfNeeded: uid), pid: Int32(truncatingIfNeeded: pid)),
            note: fields.string("note"), version: Int(version), changes: fields.strings("changes"),
            threshold: fields.string("threshold"), exchange: ExchangeMark(fields: fields),
            details: CaptivityEventType(kind) == nil ? nil : try CaptivityDetails(fields: fields),
            office: fields.string("office"))
    }
}

/// Counts of cases by status and category.
public struct CaseStatistics: Hashable, Sendable {
    public var counts: [Status: [Category: Int]]

    public init(counts: [Status: [Category: Int]] = [:]) { self.counts = counts }

    public func count(_ status: Status, _ category: Category) -> Int { counts[status]?[category] ?? 0 }

    public var total: Int { counts.values.flatMap(\.values).reduce(0, +) }

    /// One data line per status and category (zeros included, so tables are complete).
    public var lines: [Fields] {
        Status.allCases.flatMap { status in
            Category.allCases.map { category in
                var fields = Fields()
                fields.append("status", status.rawValue)
                fields.append("category", category.rawValue)
                fields.append("count", count(status, category))
                return fields
            }
        }
    }

    public init(lines: [Fields]) {
        self.init()
        for line in lines {
            guard let status = line.string("status").flatMap({ Status(rawValue: $0) }),
                  let category = line.string("category").flatMap({ Category(rawValue: $0) }),
                  let count = line.int("count")
            else { continue }
            counts[status, default: [:]][category] = Int(count)
        }
    }
}
