import CasetrackCore
import Foundation
import GRDB

// Records to and from rows. Lists are stored as one text column in the line protocol's own
// quoting, which reads back exactly; the side tables (tags, refs, name keys) exist for indexes.

enum RowCoding {
    static let caseColumns = caseColumnsV9 + ", proof_on, proof_kind, death_place, death_cause, remains"
    /// The record's columns up to schema v9. A migration before v10 reads records with these
    /// and NULL for the rest (``caseColumnsBeforeV10``): the later columns did not exist yet.
    static let caseColumnsV9 = """
        id, status, category, names, birth, unit, tags, since, ended, last_place, detention_place, refs, notes, \
        version, created_at, updated_at, sex, service_number, rank, birth_place
        """
    static let caseColumnsBeforeV10 = caseColumnsV9 + ", NULL, NULL, NULL, NULL, NULL"

    static func encodeList(_ values: [String]) -> String {
        values.map { LineCodec.quote($0) }.joined(separator: " ")
    }

    static func decodeList(_ text: String) throws -> [String] {
        try LineCodec.tokenize(text).map { token in
            guard case .value(let value) = token else { throw corrupt("a list column holds key=value") }
            return value
        }
    }

    /// A record from a row of exactly ``caseColumns``, in that order. Columns are read by
    /// position: by name, GRDB compares every column's name for each value, which was most of
    /// the cost of a point read.
    static func record(_ row: Row) throws -> CaseRecord {
        try record(CaseColumns(text: { row[Int($0)] }, integer: { row[Int($0)] }))
    }

    /// The columns of one case row, read by position, from a GRDB row or a bare statement.
    struct CaseColumns {
        let text: (Int32) -> String?
        let integer: (Int32) -> Int64
    }

    static func record(_ columns: CaseColumns) throws -> CaseRecord {
        let id = columns.integer(0)
        guard let status = columns.text(1).flatMap(Status.init(rawValue:)),
              let category = columns.text(2).flatMap(Category.init(rawValue:)) else {
            throw corrupt("case \(CaseID(number: id)) has an unknown status or category")
        }
        return CaseRecord(
            id: CaseID(number: id), names: try decodeList(columns.text(3) ?? ""), birth: date(columns.text(4)),
            category: category, unit: columns.text(5), tags: try decodeList(columns.text(6) ?? ""), status: status,
            since: date(columns.text(7)), endedOn: date(columns.text(8)), lastKnownPlace: columns.text(9),
            detentionPlace: columns.text(10), references: try decodeList(columns.text(11) ?? ""), notes: columns.text(12),
            version: Int(columns.integer(13)), createdAt: Timestamp(unixMilliseconds: columns.integer(14)),
            updatedAt: Timestamp(unixMilliseconds: columns.integer(15)),
            sex: try sex(columns.text(16), of: id),
            serviceNumber: columns.text(17), rank: columns.text(18), birthPlace: columns.text(19),
            proofOfLife: try date(columns.text(20)).map { on in
                guard let kind = columns.text(21).flatMap(ProofKind.init(rawValue:)) else {
                    throw corrupt("case \(CaseID(number: id)) has a proof of life of no known kind")
                }
                return ProofOfLife(on: on, kind: kind)
            },
            deathPlace: columns.text(22), deathCause: columns.text(23),
            remains: try columns.text(24).map { text in
                guard let remains = RemainsState(rawValue: text) else { throw corrupt("case \(CaseID(number: id)) has an unknown state of remains") }
                return remains
            })
    }

    /// What duplicate matching reads of a case (``Identity``), in ``identity(_:)``'s order:
    /// decoding the whole record for it was a seventh of an import's time.
    static let identityColumns = "id, names, birth, sex, service_number, unit, since, refs"

    static func identity(_ row: Row) throws -> Identity {
        let id: Int64 = row[0]
        return Identity(
            id: CaseID(number: id), names: try decodeList(row[1] ?? ""), birth: date(row[2]),
            sex: try sex(row[3], of: id),
            serviceNumber: row[4], unit: row[5], since: date(row[6]), references: try decodeList(row[7] ?? ""))
    }

    /// A `sex` column's value; one that is not a ``Sex`` is a damaged row.
    static func sex(_ text: String?, of id: Int64) throws -> Sex? {
        try text.map { text in
            guard let sex = Sex(rawValue: text) else { throw corrupt("case \(CaseID(number: id)) has an unknown sex") }
            return sex
        }
    }

    /// Where each of ``caseColumns`` sits among ``caseTableColumns``.
    static let caseColumnPositions: [Int] = caseColumns.split(separator: ",").compactMap { name in
        caseTableColumns.firstIndex(of: name.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// A record from the values of a whole row, in ``caseTableColumns`` order (an after-image;
    /// one written before the last columns were added lacks them: see ``padded(_:)``).
    static func record(tableValues: [DatabaseValue]) throws -> CaseRecord {
        let values = try padded(tableValues)
        guard caseColumnPositions.count == 25 else { throw corrupt("the case columns are not all in the table") }
        return try record(CaseColumns(text: { String.fromDatabaseValue(values[caseColumnPositions[Int($0)]]) },
                                      integer: { Int64.fromDatabaseValue(values[caseColumnPositions[Int($0)]]) ?? 0 }))
    }

    /// An after-image's values as a whole row: an image written before columns were added
    /// (schema v10 added the captivity facts) holds the first of them, and the others were
    /// NULL then.
    static func padded(_ values: [DatabaseValue]) throws -> [DatabaseValue] {
        guard values.count >= caseTableColumnsV9.count, values.count <= caseTableColumns.count else {
            throw corrupt("a case image holds \(values.count) values, not \(caseTableColumns.count)")
        }
        return values + Array(repeating: .null, count: caseTableColumns.count - values.count)
    }

    static func event(_ row: Row) throws -> HistoryEvent {
        guard let kind = EventKind(rawValue: row["kind"]) else { throw corrupt("event \(row["seq"] as Int64) has an unknown kind") }
        return HistoryEvent(
            seq: row["seq"], caseID: CaseID(number: row["case_id"]), kind: kind,
            oldStatus: (row["old_status"] as String?).flatMap { Status(rawValue: $0) },
            newStatus: (row["new_status"] as String?).flatMap { Status(rawValue: $0) },
            occurredOn: date(row["occurred"]), recordedAt: Timestamp(unixMilliseconds: row["recorded_at"]),
            source: row["source"], confidence: (row["confidence"] as String?).flatMap { Confidence(rawValue: $0) },
            actor: Actor(uid: UInt32(truncatingIfNeeded: row["actor_uid"] as Int64),
                         pid: Int32(truncatingIfNeeded: row["actor_pid"] as Int64)),
            note: row["note"], version: row["version"], changes: try decodeList(row["changes"]),
            threshold: row["threshold"],
            exchange: (row["exchange"] as String?).map { name in
                ExchangeMark(name: name, phase: row["phase"] ?? 0, returned: ExchangeMark.tally(from: row["tally"]))
            },
            details: try (row["details"] as String?).map { text in
                do { return try CaptivityDetails(text: text) } catch { throw corrupt("event \(row["seq"] as Int64) has details that cannot be read") }
            },
            office: row["office"])
    }

    /// A notice from an `events` row joined with its case's `names` (absent for a test event).
    static func notice(_ row: Row) throws -> Notice {
        let event = try self.event(row)
        var notice = Notice(event: event, record: nil)
        notice.category = (row["category"] as String?).flatMap { Category(rawValue: $0) }
        notice.unit = row["unit"]
        notice.tags = try decodeList(row["tags"])
        if let names = row["names"] as String? { notice.names = try decodeList(names) }
        return notice
    }

    static func date(_ text: String?) -> PartialDate? { text.flatMap { PartialDate($0) } }

    /// The columns ``caseValues(_:)`` fills, in its order (the `cases` table but its rowid alias
    /// comes first).
    static let caseTableColumns = caseTableColumnsV9 + [
        "proof_on", "proof_day", "proof_kind", "death_place", "death_cause", "remains",
    ]
    /// The columns as schema v9 had them, which its migration wrote the first images with.
    static let caseTableColumnsV9 = [
        "id", "status", "category", "names", "birth", "unit", "unit_key", "tags", "since", "since_day", "ended",
        "ended_day", "last_place", "detention_place", "refs", "notes", "version", "created_at", "updated_at",
        "sex", "service_number", "rank", "birth_place",
    ]

    static func caseValues(_ record: CaseRecord) -> [DatabaseValue] {
        let values: [(any DatabaseValueConvertible)?] = [
            record.id.number, record.status.rawValue, record.category.rawValue, encodeList(record.names),
            record.birth?.description, record.unit, record.unit.map(CaseFilter.unitKey), encodeList(record.tags),
            record.since?.description, record.since?.firstDay.daysSinceEpoch, record.endedOn?.description,
            record.endedOn?.firstDay.daysSinceEpoch, record.lastKnownPlace, record.detentionPlace,
            encodeList(record.references), record.notes, record.version, record.createdAt.unixMilliseconds,
            record.updatedAt.unixMilliseconds, record.sex?.rawValue, record.serviceNumber, record.rank, record.birthPlace,
            // The day a proof of life may have been, at the latest: "older than a year" means
            // certainly older.
            record.proofOfLife?.on.description, record.proofOfLife?.on.lastDay.daysSinceEpoch, record.proofOfLife?.kind.rawValue,
            record.deathPlace, record.deathCause, record.remains?.rawValue,
        ]
        return values.map { $0?.databaseValue ?? .null }
    }

    /// Inserts a case from ``caseArguments(_:)``.
    static let insertCase = """
        INSERT INTO cases (\(caseTableColumns.joined(separator: ", ")))
        VALUES (\(Array(repeating: "?", count: caseTableColumns.count).joined(separator: ", ")))
        """

    static func caseArguments(_ record: CaseRecord) -> StatementArguments {
        StatementArguments(caseValues(record))
    }

    /// An event's row, in the order of ``EventChain/columns``.
    static func eventValues(_ event: HistoryEvent, _ record: CaseRecord?) -> [DatabaseValue] {
        let values: [(any DatabaseValueConvertible)?] = [
            event.seq, event.caseID.number, event.kind.rawValue, event.oldStatus?.rawValue, event.newStatus?.rawValue,
            event.occurredOn?.description, event.recordedAt.unixMilliseconds, event.source, event.confidence?.rawValue,
            Int64(event.actor.uid), Int64(event.actor.pid), event.note, event.version, encodeList(event.changes),
            record?.category.rawValue, record?.unit, encodeList(record?.tags ?? []), event.threshold,
            event.exchange?.name, event.exchange?.phase, event.exchange?.tallyText,
        ]
        return values.map { $0?.databaseValue ?? .null }
    }

    static func corrupt(_ message: String) -> CasetrackError {
        CasetrackError(.storageFailure, "the database holds data this version cannot read: \(message)")
    }
}
