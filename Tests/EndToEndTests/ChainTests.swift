import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Testing
import TestThreads

/// The history as a hash chain: `casectl verify` on a real history, and after each kind of
/// tampering with the database file behind the daemon's back.
@Suite("The event chain: verify, and tampering found", .blocking)
struct ChainTests {
    /// A history with every kind of event: imports, status changes and corrections, updates,
    /// a merge and an unmerge, an exchange completed, a test notice, captivity events and a
    /// correction of one. Returns the seq of the sighting that stays counted.
    @discardableResult
    static func history(_ daemon: Daemon) throws -> Int64 {
        let client = try daemon.client()
        try ImportExportTests.populate(client)
        func send(_ verb: String, _ positional: [String] = [], _ options: [(key: String, value: String)] = []) throws {
            _ = try client.request(Request(verb: verb, positional: positional, options: options)).get()
        }
        try send("UPDATE", ["C-000003"], [("unit", "12 ОМБр"), ("add_tag", "kherson")])
        try send("EXCHANGE-CREATE", ["Осінь"], [("date", "2026-10")])
        try send("EXCHANGE-ADD", ["Осінь", "C-000007", "C-000011"], [("phase", "1")])
        try send("EXCHANGE-COMPLETE", ["Осінь"], [("phase", "1"), ("at", "2026-10-02")])
        try send("SET-STATUS", ["C-000011", "captive"], [("correction", "yes"), ("note", "not on the bus")])
        try send("TEST-NOTICE", [], [("note", "перевірка")])
        // One merge undone, one kept: both leave rows the log must account for.
        let keepTarget = MergeField.allCases.map { (key: "prefer", value: "\($0.rawValue):target") }
        try send("MERGE", ["C-000020"], [("into", "C-000021")] + keepTarget)
        try send("UNMERGE", ["C-000020"])
        try send("MERGE", ["C-000032"], [("into", "C-000033"), ("note", "одна людина")] + keepTarget)
        func event(_ id: String, _ type: String, _ options: [(key: String, value: String)]) throws -> Int64 {
            try #require(try client.request(Request(verb: "EVENT", positional: [id, type], options: options)).get().int("seq"))
        }
        _ = try event("C-000003", "transfer", [("to", "Колонія №3, Горлівка"), ("at", "2024-03"), ("source", "ICRC")])
        let wrong = try event("C-000003", "sighting", [("proof", "testimony"), ("at", "2024-05"), ("place", "Горлівка")])
        return try event("C-000003", "sighting", [("proof", "letter"), ("at", "2024-06-02"), ("corrects", String(wrong)),
                                                  ("note", "the testimony was of another man")])
    }

    func verify(_ daemon: Daemon) throws -> (ok: Bool, json: [String: Any], stdout: String) {
        let result = try daemon.casectl("verify", "--json")
        let json = try result.json()
        let text = try daemon.casectl("verify")
        #expect((result.status == 0) == (json["ok"] as? Bool == true), "exit status and ok agree: \(result.status)")
        return (json["ok"] as? Bool == true, json, text.stdout)
    }

    @Test("a real history verifies; its head is the backup's; it still verifies after a restart")
    func wholeHistory() throws {
        // Time alerts off: whether the imported dates make alerts due at the restart depends
        // on today's date, and a due alert is a new event with a new head.
        let quiet = "held_alerts = off\n"
        let daemon = try Daemon(start: false)
        try daemon.start(config: quiet)
        try Self.history(daemon)
        let (ok, json, text) = try verify(daemon)
        #expect(ok, "\(json)")
        let events = json["events"] as? Int ?? 0
        #expect(events > 150, "\(json)")
        let head = try #require(json["head"] as? String)
        #expect(head.count == 64 && head != String(repeating: "0", count: 64))
        #expect(text.hasPrefix("ok: \(events) events (1 to \(events)), chain head \(head)"), "\(text)")

        let backup = daemon.folder.appendingPathComponent("copy.sqlite").path
        let copied = try daemon.client().request(Request(verb: "BACKUP", positional: [backup])).get()
        #expect(copied.string("head") == head, "the backup names the head it holds")
        let at = try #require(copied.int("last"))
        #expect(daemon.stop() == 0)
        try daemon.start(config: quiet)
        let after = try verify(daemon)
        #expect(after.json["head"] as? String == head, "\(after.stdout) vs \(text)")

        // With the default alerts, the start's look may record alerts: they extend the same
        // chain, which still verifies from event 1.
        #expect(daemon.stop() == 0)
        try daemon.start()
        let extended = try verify(daemon)
        #expect(extended.ok && (extended.json["events"] as? Int ?? 0) >= events, "\(extended.stdout)")

        // That head, kept elsewhere, is checked later, after more events.
        #expect(try daemon.casectl("add", "--name", "Пізніший Запис", "--category", "civilian", "--status", "missing").status == 0)
        let later = try daemon.casectl("verify", "--head", head, "--head-seq", String(at))
        #expect(later.status == 0 && later.stdout.contains("the head kept for event \(at) (\(head)) is this history's"), "\(later.stdout)")
        let laterJSON = try daemon.casectl("verify", "--json", "--head", head, "--head-seq", String(at)).json()
        #expect(laterJSON["kept_head"] as? String == "matches" && laterJSON["head"] as? String != head, "\(laterJSON)")
        // Another register's head, or one past the end: NOT OK, and said.
        let other = String(repeating: "ab", count: 32)
        let wrong = try daemon.casectl("verify", "--head", other, "--head-seq", String(at))
        #expect(wrong.status == 1 && wrong.stdout.contains("is NOT this history's")
                && wrong.stdout.contains("event \(at): the chain recomputed up to it gives \(head), not the head kept"), "\(wrong.stdout)")
        let beyond = try daemon.casectl("verify", "--head", head, "--head-seq", "99999")
        #expect(beyond.status == 1 && beyond.stdout.contains("event 99999: is not in the log"), "\(beyond.stdout)")
        let half = try daemon.casectl("verify", "--head", head)
        #expect(half.status == 64, "\(half.stderr)")
    }

    @Test("verify names an event changed, deleted or swapped, a case row edited, added or put back, a side row lost, a counter moved")
    func tampering() throws {
        let original = try Daemon()
        let sighting = try Self.history(original)
        let (_, kept, _) = try verify(original)
        let keptHead = try #require(kept["head"] as? String), keptSeq = try #require(kept["last_seq"] as? Int)
        #expect(original.stop() == 0)
        let tampers: [(sql: String, named: [String])] = [
            // A captivity event's own fields are in its hash; so is their absence.
            ("UPDATE events SET details = NULL WHERE seq = \(sighting)", ["event \(sighting)"]),
            ("UPDATE events SET details = replace(details, 'letter', 'video') WHERE seq = \(sighting)", ["event \(sighting)"]),
            ("UPDATE cases SET proof_kind = 'visit' WHERE id = 3", ["case C-000003"]),
            ("UPDATE events SET source = 'a forged source' WHERE seq = 40", ["event 40"]),
            ("DELETE FROM events WHERE seq = 41", ["event 41"]),
            ("UPDATE events SET seq = -1 WHERE seq = 50; UPDATE events SET seq = 50 WHERE seq = 51; UPDATE events SET seq = 51 WHERE seq = -1",
             ["event 50", "event 51"]),
            ("UPDATE cases SET status = 'returned' WHERE id = 5 AND status <> 'returned'; UPDATE cases SET status = 'missing' WHERE id = 5 AND changes() = 0",
             ["case C-000005"]),
            ("UPDATE cases SET notes = 'переписано' WHERE id = 6", ["case C-000006"]),
            ("DELETE FROM case_refs WHERE case_id = 7", ["case C-000007"]),
            ("CREATE TEMP TABLE t AS SELECT * FROM cases WHERE id = 8; UPDATE t SET id = 9999; INSERT INTO cases SELECT * FROM t",
             ["case C-009999"]),
            ("DELETE FROM cases WHERE id = 9", ["case C-000009"]),
            // The merged-away source put back: its last event says it has no row.
            ("CREATE TEMP TABLE t AS SELECT * FROM cases WHERE id = 33; UPDATE t SET id = 32; INSERT INTO cases SELECT * FROM t",
             ["case C-000032"]),
            ("UPDATE counters SET value = value + 1 WHERE name = 'cases'", ["counter cases"]),
            ("UPDATE exchange_phases SET seq = seq - 1", ["exchange Осінь phase 1"]),
            ("INSERT INTO case_refs (ref, case_id) VALUES ('ЗАЛИШОК-1', 9999)", ["table case_refs"]),
        ]
        for tamper in tampers {
            let daemon = try Daemon(start: false)
            try FileManager.default.copyItem(atPath: original.database, toPath: daemon.database)
            let edited = try DaemonProcess.run(URL(fileURLWithPath: "/usr/bin/sqlite3"), [daemon.database, tamper.sql])
            #expect(edited.status == 0, "\(edited.stderr)")
            try daemon.start()
            let (ok, json, text) = try verify(daemon)
            #expect(!ok, "\(tamper.sql): \(json)")
            let subjects = (json["problems"] as? [[String: Any]] ?? []).compactMap { $0["subject"] as? String }
            for subject in tamper.named {
                #expect(subjects.contains(subject), "\(tamper.sql): \(subjects)")
            }
            #expect(json["first_bad"] as? String == tamper.named.first, "\(json)")
            #expect(text.contains("NOT OK"), "\(text)")
            // A head kept before the edit: the chain made again from the events no longer
            // leads to it once an event changed (the stored hashes alone still would).
            if tamper.named.contains(where: { $0.hasPrefix("event") }) {
                let against = try daemon.casectl("verify", "--json", "--head", keptHead, "--head-seq", String(keptSeq)).json()
                #expect(against["kept_head"] as? String == "differs", "\(tamper.sql): \(against)")
            }
        }
    }
}
