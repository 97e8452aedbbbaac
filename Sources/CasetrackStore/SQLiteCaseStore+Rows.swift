import CasetrackCore
import GRDB

// A case's rows: the case itself and its key tables, written as one case is opened or changed.

extension SQLiteCaseStore {
    /// `keys`: the case's name and blocking keys when computed beforehand (an import's rows).
    static func insert(_ record: CaseRecord, keys: CaseKeys? = nil, _ db: Database) throws {
        try run(RowCoding.insertCase, RowCoding.caseArguments(record), db)
        _ = try bump("cases", db)
        try insertKeys(record, keys: keys ?? CaseKeys(record), db)
    }

    /// Writes `record` over `old`, its stored version, touching only what differs.
    ///
    /// SQLite rewrites an index when the UPDATE names one of its columns, whatever the value:
    /// a status change that rewrote the whole row and its side tables dirtied some twenty
    /// pages, each a WAL frame to write and later checkpoint. Naming only the changed columns
    /// leaves the others' indexes alone.
    ///
    /// Returns the new row's values (``RowCoding/caseValues(_:)``), which the event's image
    /// is made of.
    @discardableResult
    static func replace(_ record: CaseRecord, was old: CaseRecord, _ db: Database) throws -> [DatabaseValue] {
        let new = RowCoding.caseValues(record)
        let before = RowCoding.caseValues(old)
        var assignments: [String] = []
        var arguments: [DatabaseValue] = []
        for index in new.indices.dropFirst() where new[index] != before[index] {
            assignments.append("\(RowCoding.caseTableColumns[index]) = ?")
            arguments.append(new[index])
        }
        if !assignments.isEmpty {
            arguments.append(record.id.number.databaseValue)
            try run("UPDATE cases SET \(assignments.joined(separator: ", ")) WHERE id = ?", StatementArguments(arguments), db)
        }
        // A start moved later (a typo corrected): the held alerts told under the old one may
        // rank above what the case has reached. The mark is turned negative (-told - 1), and
        // the next pass lowers it to what is reached now, quietly, so that the thresholds
        // ahead are told when they come. (Moved earlier, the pass tells what is newly reached.)
        if record.since != old.since, let before = old.since, record.since.map({ $0.firstDay > before.firstDay }) ?? true {
            try run("UPDATE alert_marks SET held_rank = -held_rank - 1 WHERE case_id = ? AND held_rank > 0", [record.id.number], db)
        }
        if record.tags != old.tags {
            try run("DELETE FROM case_tags WHERE case_id = ?", [record.id.number], db)
            try insertRows("case_tags", "tag", record.tags, record.id, db)
        }
        if record.references != old.references {
            try run("DELETE FROM case_refs WHERE case_id = ?", [record.id.number], db)
            try insertReferences(record, db)
        }
        if matchKeysDiffer(record, old) {
            try run("DELETE FROM case_match_keys WHERE case_id = ?", [record.id.number], db)
            try insertMatchKeys(matchKeys(record), record.id, db)
        }
        // Names first: their keys cost more to compute than the rest of a change.
        if record.names != old.names {
            try run("DELETE FROM case_name_keys WHERE case_id = ?", [record.id.number], db)
            try insertRows("case_name_keys", "key", NameKey.keys(for: record.names), record.id, db)
        }
        return new
    }

    static func insertKeys(_ record: CaseRecord, keys: CaseKeys, _ db: Database) throws {
        try insertRows("case_tags", "tag", record.tags, record.id, db)
        try insertReferences(record, db)
        try insertRows("case_name_keys", "key", keys.names, record.id, db)
        try insertMatchKeys(keys.match, record.id, db)
    }

    /// One statement for all of a case's rows of a side table whose rows are a set (a
    /// statement per row was most of the cost of opening a case). `OR IGNORE`: a value
    /// twice is the same row, and a statement that cannot abort halfway needs no statement
    /// journal. With one, SQLite copied every page the statement touched to a temporary
    /// file once it had spilled there: half of what an import wrote.
    private static func insertRows(_ table: String, _ column: String, _ values: [String], _ id: CaseID, _ db: Database) throws {
        guard !values.isEmpty else { return }
        let rows = Array(repeating: "(?, ?)", count: values.count).joined(separator: ", ")
        var arguments = StatementArguments()
        for value in values { arguments += [value, id.number] }
        try run("INSERT OR IGNORE INTO \(table) (\(column), case_id) VALUES \(rows)", arguments, db)
    }

    /// References one statement each: a reference another case holds must abort (the checks
    /// before it make that a failure of the store, not a silent loss), and a single-row
    /// insert needs no statement journal.
    private static func insertReferences(_ record: CaseRecord, _ db: Database) throws {
        for ref in record.references {
            try run("INSERT INTO case_refs (ref, case_id) VALUES (?, ?)", [ref, record.id.number], db)
        }
    }

    /// Runs one of the store's fixed statements, prepared once per connection: the writer
    /// runs the same few statements for every case, and parsing each again is most of the
    /// cost of a small write.
    static func run(_ sql: String, _ arguments: StatementArguments, _ db: Database) throws {
        try db.cachedStatement(sql: sql).execute(arguments: arguments)
    }
}
