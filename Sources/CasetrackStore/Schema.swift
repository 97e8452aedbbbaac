import CasetrackCore
import Foundation
import GRDB

/// The database schema, as an ordered list of migrations. A migration, once released, never
/// changes: later versions append new ones.
enum Schema {
    /// The migration that gave events their after-images: a log from before it cannot rebuild.
    static let afterImages = "v9: after-images in the log"

    /// `PRAGMA application_id` of a casetrack database ("CASE"), so that the daemon never
    /// mistakes another application's SQLite file for its own.
    static let applicationID: Int32 = 0x4341_5345

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: cases, events, search keys") { db in
            try db.execute(sql: """
                CREATE TABLE cases (
                    id INTEGER PRIMARY KEY,
                    status TEXT NOT NULL,
                    category TEXT NOT NULL,
                    names TEXT NOT NULL,
                    birth TEXT,
                    unit TEXT,
                    unit_key TEXT,
                    tags TEXT NOT NULL,
                    since TEXT,
                    since_day INTEGER,
                    ended TEXT,
                    ended_day INTEGER,
                    last_place TEXT,
                    detention_place TEXT,
                    refs TEXT NOT NULL,
                    notes TEXT,
                    version INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                CREATE INDEX cases_by_status ON cases(status, category, since_day);
                CREATE INDEX cases_by_category ON cases(category, since_day);
                CREATE INDEX cases_by_since ON cases(since_day);
                CREATE INDEX cases_by_unit ON cases(unit_key);
                CREATE INDEX cases_by_update ON cases(updated_at);

                CREATE TABLE case_tags (
                    tag TEXT NOT NULL,
                    case_id INTEGER NOT NULL,
                    PRIMARY KEY (tag, case_id)
                ) WITHOUT ROWID;
                CREATE INDEX case_tags_by_case ON case_tags(case_id);

                CREATE TABLE case_name_keys (
                    key TEXT NOT NULL,
                    case_id INTEGER NOT NULL,
                    PRIMARY KEY (key, case_id)
                ) WITHOUT ROWID;
                CREATE INDEX case_name_keys_by_case ON case_name_keys(case_id);

                CREATE TABLE case_refs (
                    ref TEXT NOT NULL PRIMARY KEY,
                    case_id INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX case_refs_by_case ON case_refs(case_id);

                CREATE TABLE events (
                    seq INTEGER PRIMARY KEY,
                    case_id INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    old_status TEXT,
                    new_status TEXT,
                    occurred TEXT,
                    recorded_at INTEGER NOT NULL,
                    source TEXT,
                    confidence TEXT,
                    actor_uid INTEGER NOT NULL,
                    actor_pid INTEGER NOT NULL,
                    note TEXT,
                    version INTEGER NOT NULL,
                    changes TEXT NOT NULL
                );
                CREATE INDEX events_by_case ON events(case_id, seq);

                -- Counters bumped in the same transaction as the rows they number, so that
                -- sequence numbers are gap-free in commit order and never reused.
                CREATE TABLE counters (
                    name TEXT NOT NULL PRIMARY KEY,
                    value INTEGER NOT NULL
                ) WITHOUT ROWID;
                INSERT INTO counters (name, value) VALUES ('event_seq', 0), ('case_id', 0);
                """)
            try db.execute(sql: "PRAGMA application_id = \(applicationID)")
        }
        migrator.registerMigration("v2: notices and time alerts") { db in
            try db.execute(sql: """
                -- What notice filters select on, as the case stood right after each event.
                ALTER TABLE events ADD COLUMN category TEXT;
                ALTER TABLE events ADD COLUMN unit TEXT;
                ALTER TABLE events ADD COLUMN tags TEXT NOT NULL DEFAULT '';
                -- The threshold a time alert crossed (held: 8y; stale: 180d).
                ALTER TABLE events ADD COLUMN threshold TEXT;
                UPDATE events SET category = (SELECT category FROM cases WHERE cases.id = events.case_id),
                                  unit = (SELECT unit FROM cases WHERE cases.id = events.case_id),
                                  tags = coalesce((SELECT tags FROM cases WHERE cases.id = events.case_id), '');

                -- Which time alerts each case already had, so that none is recorded twice.
                CREATE TABLE alert_marks (
                    case_id INTEGER PRIMARY KEY,
                    held_rank INTEGER NOT NULL DEFAULT 0,
                    stale_version INTEGER NOT NULL DEFAULT 0
                );
                -- Events up to this sequence number were trimmed by retention.
                INSERT INTO counters (name, value) VALUES ('trimmed_through', 0);
                """)
        }
        migrator.registerMigration("v3: exchanges") { db in
            try db.execute(sql: """
                CREATE TABLE exchanges (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    name_key TEXT NOT NULL UNIQUE,
                    date TEXT NOT NULL,
                    phases INTEGER NOT NULL,
                    note TEXT,
                    created_at INTEGER NOT NULL,
                    actor_uid INTEGER NOT NULL
                );
                -- Who is listed on which phase: a person is on one phase of an exchange.
                CREATE TABLE exchange_cases (
                    exchange_id INTEGER NOT NULL,
                    case_id INTEGER NOT NULL,
                    phase INTEGER NOT NULL,
                    PRIMARY KEY (exchange_id, case_id)
                ) WITHOUT ROWID;
                CREATE INDEX exchange_cases_by_phase ON exchange_cases(exchange_id, phase, case_id);
                CREATE INDEX exchange_cases_by_case ON exchange_cases(case_id);
                -- A row once a phase is completed, with the event that recorded it.
                CREATE TABLE exchange_phases (
                    exchange_id INTEGER NOT NULL,
                    phase INTEGER NOT NULL,
                    completed TEXT,
                    seq INTEGER NOT NULL,
                    PRIMARY KEY (exchange_id, phase)
                ) WITHOUT ROWID;
                -- The exchange phase an event belongs to; counts on the phase's own event.
                ALTER TABLE events ADD COLUMN exchange TEXT;
                ALTER TABLE events ADD COLUMN phase INTEGER;
                ALTER TABLE events ADD COLUMN tally TEXT;
                CREATE INDEX cases_by_ended ON cases(status, ended_day);
                """)
        }
        migrator.registerMigration("v4: first pages in id order, case counts, ends of closed cases only") { db in
            // A LIST by status and category reads this index in id order and stops at its
            // limit; with only (status, category, since_day) SQLite sorted every match first
            // (100,000 of them among a million cases) to return fifty.
            try db.execute(sql: "CREATE INDEX cases_by_status_id ON cases(status, category, id, since_day)")
            // Only closed cases have an end: open ones need no entry, and a change between two
            // open statuses (missing, captive) then leaves this index alone.
            try db.execute(sql: """
                DROP INDEX cases_by_ended;
                CREATE INDEX cases_by_ended ON cases(status, ended_day) WHERE ended_day IS NOT NULL;
                """)
            // Cases counted by status, category and 32-day span of their start, kept by
            // triggers in the transaction of every change. "Held N years or more" on open
            // cases is then a sum over whole spans plus a count of one span's rows, not a
            // count of every matching row (100,000 of them among a million cases).
            try db.execute(sql: """
                CREATE TABLE case_counts (
                    status TEXT NOT NULL,
                    category TEXT NOT NULL,
                    span INTEGER NOT NULL,
                    n INTEGER NOT NULL,
                    PRIMARY KEY (status, category, span)
                ) WITHOUT ROWID;
                INSERT INTO case_counts (status, category, span, n)
                    SELECT status, category, since_day >> 5, count(*) FROM cases WHERE since_day IS NOT NULL GROUP BY 1, 2, 3;
                CREATE TRIGGER case_counts_insert AFTER INSERT ON cases WHEN NEW.since_day IS NOT NULL BEGIN
                    INSERT INTO case_counts (status, category, span, n) VALUES (NEW.status, NEW.category, NEW.since_day >> 5, 1)
                        ON CONFLICT (status, category, span) DO UPDATE SET n = n + 1;
                END;
                CREATE TRIGGER case_counts_delete AFTER DELETE ON cases WHEN OLD.since_day IS NOT NULL BEGIN
                    UPDATE case_counts SET n = n - 1
                        WHERE status = OLD.status AND category = OLD.category AND span = OLD.since_day >> 5;
                END;
                CREATE TRIGGER case_counts_update AFTER UPDATE OF status, category, since_day ON cases BEGIN
                    UPDATE case_counts SET n = n - 1
                        WHERE OLD.since_day IS NOT NULL
                          AND status = OLD.status AND category = OLD.category AND span = OLD.since_day >> 5;
                    INSERT INTO case_counts (status, category, span, n)
                        SELECT NEW.status, NEW.category, NEW.since_day >> 5, 1 WHERE NEW.since_day IS NOT NULL
                        ON CONFLICT (status, category, span) DO UPDATE SET n = n + 1;
                END;
                """)
            // The number of cases, kept by every insert: counting a million rows took most of
            // the time to READY (the first STATUS= line carries it).
            try db.execute(sql: "INSERT INTO counters (name, value) VALUES ('cases', (SELECT count(*) FROM cases))")
        }
        migrator.registerMigration("v5: identity") { db in
            // What tells one person from another of the same name: duplicates and list
            // matching weigh them. Optional, as the rest of a record.
            try db.execute(sql: """
                ALTER TABLE cases ADD COLUMN sex TEXT;
                ALTER TABLE cases ADD COLUMN service_number TEXT;
                ALTER TABLE cases ADD COLUMN rank TEXT;
                ALTER TABLE cases ADD COLUMN birth_place TEXT;

                -- Cases merged into another: out of `cases` (so out of every list and count),
                -- with where they went and both records as they were, for an unmerge.
                CREATE TABLE merged_cases (
                    id INTEGER PRIMARY KEY,
                    merged_into INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    source_record TEXT NOT NULL,
                    target_record TEXT NOT NULL,
                    -- The target as the merge left it: an unmerge restores target_record only
                    -- while the target still reads so (later merges and unmerges aside).
                    merged_target TEXT NOT NULL,
                    listings TEXT NOT NULL,
                    -- The target's alert marks before the merge ('held_rank stale_version').
                    target_marks TEXT NOT NULL
                );
                CREATE INDEX merged_cases_by_target ON merged_cases(merged_into);
                -- Pairs a person decided are two people: never suggested again.
                CREATE TABLE not_duplicates (
                    a INTEGER NOT NULL,
                    b INTEGER NOT NULL,
                    note TEXT,
                    actor_uid INTEGER NOT NULL,
                    recorded_at INTEGER NOT NULL,
                    PRIMARY KEY (a, b)
                ) WITHOUT ROWID;
                -- Blocking keys of duplicate detection (DuplicateBlocking): cases are
                -- compared only with those that share one.
                CREATE TABLE case_match_keys (
                    key TEXT NOT NULL,
                    case_id INTEGER NOT NULL,
                    PRIMARY KEY (key, case_id)
                ) WITHOUT ROWID;
                CREATE INDEX case_match_keys_by_case ON case_match_keys(case_id);
                """)
            // The keys of the cases already on record: computed here, once.
            let records = try Row.fetchCursor(db, sql: "SELECT \(RowCoding.caseColumnsBeforeV10) FROM cases")
            while let row = try records.next() {
                let record = try RowCoding.record(row)
                try SQLiteCaseStore.insertMatchKeys(SQLiteCaseStore.matchKeys(record), record.id, db)
            }
        }
        migrator.registerMigration("v6: request ids") { db in
            try db.execute(sql: """
                -- Writes named by their client (request_id=): a repeat gets the first answer.
                -- The row is written in the write's own transaction; the answer just after.
                CREATE TABLE requests (
                    request_id TEXT PRIMARY KEY,
                    verb TEXT NOT NULL,
                    first_seq INTEGER NOT NULL,
                    last_seq INTEGER NOT NULL,
                    answer TEXT,
                    recorded_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX requests_by_time ON requests(recorded_at);
                """)
        }
        migrator.registerMigration("v7: decisions carried by a merge") { db in
            // A merge carries the source's "not a duplicate" decisions to the target (the
            // person is the same); the pairs it added, for an unmerge to take back.
            try db.execute(sql: "ALTER TABLE merged_cases ADD COLUMN carried_decisions TEXT NOT NULL DEFAULT ''")
        }
        migrator.registerMigration("v8: the event chain") { db in
            try db.execute(sql: """
                -- Every event's link in the chain (EventChain): SHA-256 of the one before and its own row.
                ALTER TABLE events ADD COLUMN hash TEXT;
                -- 'trimmed': the hash of the last event retention removed, where the chain of
                -- the events kept begins.
                CREATE TABLE event_chain (name TEXT PRIMARY KEY, hash TEXT NOT NULL) WITHOUT ROWID;
                """)
            // The events on record, chained here once, in order.
            var previous = EventChain.genesis
            let rows = try Row.fetchCursor(db, sql: "SELECT \(EventChain.columnsBeforeImagesList) FROM events ORDER BY seq")
            while let row = try rows.next() {
                let values = (0..<EventChain.columnsBeforeImages).map { row[$0] as DatabaseValue }
                previous = EventChain.link(previous, values)
                try db.execute(sql: "UPDATE events SET hash = ? WHERE seq = ?", arguments: [previous, values[0]])
            }
        }
        migrator.registerMigration(afterImages) { db in
            try db.execute(sql: """
                -- The case's row as the event left it (CanonicalValues; empty: no row left, the
                -- case was merged away; NULL: the row is unchanged). Hashed with the event from
                -- images_from on.
                ALTER TABLE events ADD COLUMN image BLOB;
                INSERT INTO counters (name, value) SELECT 'images_from', value + 1 FROM counters WHERE name = 'event_seq';
                """)
            // The rows on record become the images of their cases' last changes, so that the
            // log says what every row holds from the upgrade on. These images are outside the
            // chain (their events were hashed before images existed); every later one is in it.
            let changing = EventKind.allCases.filter(\.changesRecord).map { "'\($0.rawValue)'" }.joined(separator: ", ")
            let rows = try Row.fetchCursor(db, sql: """
                SELECT (SELECT max(seq) FROM events WHERE case_id = c.id AND kind IN (\(changing))),
                       \(RowCoding.caseTableColumnsV9.map { "c.\($0)" }.joined(separator: ", "))
                FROM cases c
                """)
            while let row = try rows.next() {
                guard let seq = row[0] as Int64? else { continue }
                let values = (1...RowCoding.caseTableColumnsV9.count).map { row[$0] as DatabaseValue }
                try db.execute(sql: "UPDATE events SET image = ? WHERE seq = ?", arguments: [Data(CanonicalValues.encode(values)), seq])
            }
            try db.execute(sql: """
                UPDATE events SET image = X'' WHERE seq IN (
                    SELECT (SELECT max(seq) FROM events WHERE case_id = m.id AND kind IN (\(changing))) FROM merged_cases m)
                """)
        }
        migrator.registerMigration("v10: captivity events") { db in
            try db.execute(sql: """
                -- A captivity event's own fields (transfer, sighting…), in the protocol's
                -- key=value form; hashed with the event when present.
                ALTER TABLE events ADD COLUMN details TEXT;
                -- What the captivity events make of the case (CaptivityRules).
                ALTER TABLE cases ADD COLUMN proof_on TEXT;
                ALTER TABLE cases ADD COLUMN proof_day INTEGER;
                ALTER TABLE cases ADD COLUMN proof_kind TEXT;
                ALTER TABLE cases ADD COLUMN death_place TEXT;
                ALTER TABLE cases ADD COLUMN death_cause TEXT;
                ALTER TABLE cases ADD COLUMN remains TEXT;
                -- "No proof of life for a year" among open cases.
                CREATE INDEX cases_by_proof ON cases(status, proof_day);
                """)
        }
        migrator.registerMigration("v11: proof-of-life alerts") { db in
            try db.execute(sql: """
                -- The longest proof-stale alert told for a case, and the proof day it counted
                -- from: a newer proof of life starts the count again.
                ALTER TABLE alert_marks ADD COLUMN proof_rank INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE alert_marks ADD COLUMN proof_day INTEGER;
                """)
        }
        migrator.registerMigration("v12: contacts and enquiries") { db in
            try db.execute(sql: """
                -- People to inform about a case: personal data of people who are not the case,
                -- kept outside the event log. A removed contact stays for the enquiries that name
                -- it, no longer listed.
                CREATE TABLE contacts (
                    id INTEGER PRIMARY KEY,
                    case_id INTEGER NOT NULL,
                    name TEXT NOT NULL,
                    relation TEXT NOT NULL,
                    phone TEXT,
                    email TEXT,
                    language TEXT,
                    consent INTEGER,
                    note TEXT,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    removed_at INTEGER,
                    actor_uid INTEGER NOT NULL
                );
                CREATE INDEX contacts_by_case ON contacts(case_id) WHERE removed_at IS NULL;
                -- Who asked about a case, and what they were told.
                CREATE TABLE enquiries (
                    id INTEGER PRIMARY KEY,
                    case_id INTEGER NOT NULL,
                    source TEXT NOT NULL,
                    question TEXT NOT NULL,
                    asked TEXT NOT NULL,
                    asked_day INTEGER NOT NULL,
                    answer TEXT,
                    answered TEXT,
                    recorded_at INTEGER NOT NULL,
                    asked_by_uid INTEGER NOT NULL,
                    answered_by_uid INTEGER
                );
                CREATE INDEX enquiries_by_case ON enquiries(case_id);
                CREATE INDEX enquiries_waiting ON enquiries(asked_day) WHERE answer IS NULL;
                INSERT INTO counters (name, value) VALUES ('contact_id', 0), ('enquiry_id', 0);
                """)
        }
        migrator.registerMigration("v13: offices") { db in
            try db.execute(sql: """
                -- The office that recorded an event (several offices on one shared register;
                -- NULL on a single host). Hashed with the event when set.
                ALTER TABLE events ADD COLUMN office TEXT;
                -- The last round of the shared register this database holds (see SharedLog).
                INSERT INTO counters (name, value) VALUES ('shared_round', 0);
                -- What belongs to this copy alone and is never sent to the register: which
                -- register it follows, and the office it writes as.
                CREATE TABLE office_local (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
                """)
        }
        return migrator
    }
}
