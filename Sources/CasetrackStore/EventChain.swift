import CasetrackCore
import GRDB

/// The history as a hash chain: every event row carries
/// `hash = SHA-256(previous hash || the event's canonical bytes)`, so that changing, deleting
/// or reordering a stored event breaks every hash from it on. The newest hash (the head)
/// stands for the whole history before it: a head kept elsewhere (the journal, a backup)
/// proves later that nothing before it was rewritten, unless every later hash was forged too.
///
/// The canonical bytes are the values the row is written with, in the column order of
/// ``columns``, in ``CanonicalValues`` form; nothing depends on how answers render.
///
/// Since schema v10 an event that changes its case's row carries the row as it left it (its
/// after-image, `image`), and the image is hashed with the event: the log then says what every
/// table row must hold (``SQLiteCaseStore/verify()``) and can rebuild them. Events from before
/// (seq below the `images_from` counter) are hashed as they were written, without it.
enum EventChain {
    /// The columns an event from before images is hashed with, in order.
    static let columnsBeforeImagesList = """
        seq, case_id, kind, old_status, new_status, occurred, recorded_at, source, confidence, actor_uid, actor_pid, \
        note, version, changes, category, unit, tags, threshold, exchange, phase, tally
        """
    /// The columns hashed, in order: those `append` writes, `hash` aside.
    static let columns = columnsBeforeImagesList + ", image, details, office"
    /// How many of ``columns`` an event from before images is hashed with.
    static let columnsBeforeImages = 21
    static let columnCount = 24
    static let imageIndex = 21
    /// Since schema v10 a captivity event carries its details (`details`), hashed after the
    /// image. An event without details is hashed without the column, as every event was
    /// before v10, so that their hashes still hold; clearing a captivity event's details,
    /// or giving another event some, breaks its hash all the same.
    static let detailsIndex = 22
    /// Since schema v13 an event recorded by an office of a shared register carries the
    /// office's name, hashed after the details (null or not); an event without one is hashed
    /// as before.
    static let officeIndex = 23
    /// The hash before the first event.
    static let genesis = String(repeating: "0", count: 64)
    static let domain = Array("casetrack-event-v1".utf8)

    /// The hash of an event whose row holds `values` (in ``columns`` order, all of them or
    /// the first ``columnsBeforeImages``), after `previous`.
    static func link(_ previous: String, _ values: some Collection<DatabaseValue>) -> String {
        var hasher = SHA256Digest()
        hasher.update(domain)
        hasher.update(previous.utf8)
        hasher.update(CanonicalValues.encode(Array(values)))
        return hasher.hex()
    }

    /// The hash of the event in `values`, hashed with its image or without, by its seq.
    static func link(_ previous: String, _ values: [DatabaseValue], imagesFrom: Int64) -> String {
        let seq = Int64.fromDatabaseValue(values[0]) ?? 0
        if seq < imagesFrom { return link(previous, values.prefix(columnsBeforeImages)) }
        if values.count > officeIndex, values[officeIndex] != .null { return link(previous, values.prefix(officeIndex + 1)) }
        if values.count > detailsIndex, values[detailsIndex] != .null { return link(previous, values.prefix(detailsIndex + 1)) }
        return link(previous, values.prefix(imageIndex + 1))
    }

    /// The first event hashed with its image.
    static func imagesFrom(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM counters WHERE name = 'images_from'")) ?? 1
    }

    /// The newest hash: the last event's, or (everything trimmed) the last trimmed one's.
    static func head(_ db: Database) throws -> String {
        if let last = try String.fetchOne(db.cachedStatement(sql: "SELECT hash FROM events ORDER BY seq DESC LIMIT 1")) {
            return last
        }
        return try String.fetchOne(db.cachedStatement(sql: "SELECT hash FROM event_chain WHERE name = 'trimmed'")) ?? genesis
    }

    /// The hash before the oldest event kept: that of the last one retention removed.
    static func anchor(_ db: Database) throws -> String {
        try String.fetchOne(db, sql: "SELECT hash FROM event_chain WHERE name = 'trimmed'") ?? genesis
    }
}

extension SQLiteCaseStore {
    public func chainHead() async throws -> ChainHead {
        try await read { db in
            let seq = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM events") ?? Self.trimmedThrough(db)
            return ChainHead(seq: seq, hash: try EventChain.head(db))
        }
    }
}
