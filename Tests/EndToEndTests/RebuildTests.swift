import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Testing
import TestThreads

/// `casetrackd --rebuild`: the database made again from its event log alone.
@Suite("Rebuild from the log", .blocking)
struct RebuildTests {
    /// Alerts off: a restart must not add events of its own between the runs compared.
    static let quiet = "held_alerts = off\nstale_after = off\n"

    static func rebuild(_ daemon: Daemon, _ extra: String...) throws -> CommandResult {
        try DaemonProcess.run(Daemon.binDirectory.appendingPathComponent("casetrackd"),
                              ["--rebuild", "--database", daemon.database] + extra)
    }

    static func sqlite(_ database: String, _ sql: String) throws -> String {
        let result = try DaemonProcess.run(URL(fileURLWithPath: "/usr/bin/sqlite3"), [database, sql])
        #expect(result.status == 0, "\(sql): \(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// What a user can read of the whole register: every case as exported (with its id,
    /// version and times), the histories of some, the exchange report, and the chain head.
    static func register(_ daemon: Daemon) throws -> [String] {
        var seen = try daemon.casectl("export", "--format", "json").stdout.split(separator: "\n").map(String.init)
        for id in ["C-000003", "C-000011", "C-000021", "C-000032", "C-000033"] {
            seen.append(try daemon.casectl("history", id, "--json").stdout)
        }
        seen.append(try daemon.casectl("exchange", "show", "Осінь", "--json").stdout)
        seen.append(try daemon.casectl("count", "--status", "captive").stdout)
        return seen
    }

    @Test("tables wiped behind the daemon's back come back from the log, equal to what was read before")
    func wipedTables() throws {
        let daemon = try Daemon(start: false)
        try daemon.start(config: Self.quiet)
        try ChainTests.history(daemon)
        let before = try Self.register(daemon)
        #expect(before.count > 150)
        #expect(daemon.stop() == 0)

        // The case rows and every table made from them, gone or wrong.
        _ = try Self.sqlite(daemon.database, """
            DELETE FROM cases WHERE id % 3 = 0; DELETE FROM case_name_keys; DELETE FROM case_match_keys WHERE case_id < 50;
            UPDATE cases SET status = 'returned', notes = 'змінено' WHERE id = 4; UPDATE counters SET value = 7 WHERE name = 'cases';
            DELETE FROM case_counts;
            """)
        try daemon.start(config: Self.quiet)
        #expect(try daemon.casectl("verify").status != 0, "verify finds the wiped tables")
        #expect(daemon.stop() == 0)

        let rebuilt = try Self.rebuild(daemon)
        #expect(rebuilt.status == 0, "\(rebuilt.stdout)\(rebuilt.stderr)")
        #expect(rebuilt.stdout.contains("rebuilt from the log: "), "\(rebuilt.stdout)")
        #expect(rebuilt.stdout.contains("the old file is kept as \(daemon.database).before-rebuild-"), "\(rebuilt.stdout)")
        let kept = try FileManager.default.contentsOfDirectory(atPath: daemon.folder.path).filter { $0.contains(".before-rebuild-") }
        #expect(!kept.isEmpty, "the old file is kept beside the new one")

        try daemon.start(config: Self.quiet)
        let verified = try daemon.casectl("verify", "--json")
        #expect(verified.status == 0, "\(verified.stdout)")
        #expect(try Self.register(daemon) == before, "the rebuilt register reads exactly as before")
        // And it takes writes where the old one left off.
        let added = try daemon.casectl("add", "--name", "Відбудований Запис", "--category", "civilian", "--status", "missing")
        #expect(added.status == 0 && added.stdout.contains("C-000151"), "\(added.stdout)\(added.stderr)")
        #expect(daemon.stop() == 0)
    }

    @Test("a damaged log is cut at the last event that links, and the old file stays until the loss is accepted")
    func damagedLog() throws {
        let daemon = try Daemon(start: false)
        try daemon.start(config: Self.quiet)
        try ChainTests.history(daemon)
        // A named write near the end, which the cut below will lose.
        let late = ["add", "--name", "Пізній Запис", "--category", "civilian", "--status", "missing", "--request-id", "late-1"]
        #expect(try daemon.casectl(late).status == 0)
        #expect(daemon.stop() == 0)
        let total = Int(try Self.sqlite(daemon.database, "SELECT max(seq) FROM events")) ?? 0
        #expect(total > 150)
        // An event in the middle rewritten (a forged source): its hash no longer holds.
        _ = try Self.sqlite(daemon.database, "UPDATE events SET source = 'підроблено' WHERE seq = 100")

        let refused = try Self.rebuild(daemon)
        #expect(refused.status == 1, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stdout.contains("the log ends early: event 100 does not match its hash"), "\(refused.stdout)")
        #expect(refused.stdout.contains("every change after event 99 is lost"), "\(refused.stdout)")
        #expect(refused.stdout.contains("the old file was left in place"), "\(refused.stdout)")
        #expect(Int(try Self.sqlite(daemon.database, "SELECT max(seq) FROM events")) == total, "the old file is untouched")

        let accepted = try Self.rebuild(daemon, "--accept-loss")
        #expect(accepted.status == 0, "\(accepted.stdout)\(accepted.stderr)")
        #expect(accepted.stdout.contains("99 events (1 to 99)"), "\(accepted.stdout)")
        try daemon.start(config: Self.quiet)
        let verified = try daemon.casectl("verify", "--json").json()
        #expect(verified["ok"] as? Bool == true && verified["events"] as? Int == 99, "\(verified)")
        // The lost write sent again is made now: its first answer went with the cut.
        let again = try daemon.casectl(late)
        let id = String(again.stdout.prefix(8))
        let found = try daemon.casectl("get", id)
        #expect(again.status == 0 && found.status == 0, "\(again.stdout)\(again.stderr)\(found.stderr)")
        #expect(daemon.stop() == 0)
    }

    @Test("a page of the log overwritten, as a failing sector would: the log is cut before it, and what is kept verifies")
    func damagedPage() throws {
        let daemon = try Daemon(start: false)
        try daemon.start(config: Self.quiet)
        try ChainTests.history(daemon)
        #expect(daemon.stop() == 0)
        let total = Int(try Self.sqlite(daemon.database, "SELECT max(seq) FROM events")) ?? 0
        let page = try #require(Int(try Self.sqlite(daemon.database,
            "SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = 'leaf' ORDER BY pageno LIMIT 1 OFFSET 10")))
        let damaged = try DaemonProcess.run(URL(fileURLWithPath: "/usr/bin/dd"), [
            "if=/dev/urandom", "of=\(daemon.database)", "bs=4096", "seek=\(page - 1)", "count=1", "conv=notrunc",
        ])
        #expect(damaged.status == 0)

        let refused = try Self.rebuild(daemon)
        #expect(refused.status == 1 && refused.stdout.contains("the log ends early: "), "\(refused.stdout)\(refused.stderr)")
        let accepted = try Self.rebuild(daemon, "--accept-loss")
        #expect(accepted.status == 0, "\(accepted.stdout)\(accepted.stderr)")
        let kept = accepted.stdout.firstMatch(of: /rebuilt from the log: (\d+) events/).flatMap { Int($0.1) } ?? 0
        #expect(kept > 0 && kept < total, "\(accepted.stdout)")
        try daemon.start(config: Self.quiet)
        let verified = try daemon.casectl("verify", "--json").json()
        #expect(verified["ok"] as? Bool == true && verified["events"] as? Int == kept, "\(verified)")
        #expect(daemon.stop() == 0)
    }

    @Test("rebuild refuses while the daemon runs, and when retention removed events")
    func refusals() throws {
        let daemon = try Daemon(start: false)
        try daemon.start(config: Self.quiet)
        _ = try daemon.casectl("add", "--name", "Тимчасовий Запис", "--category", "civilian", "--status", "missing")
        let running = try Self.rebuild(daemon)
        #expect(running.status == 1 && running.stderr.contains("another casetrackd already uses the database"), "\(running.stderr)")
        #expect(daemon.stop() == 0)

        _ = try Self.sqlite(daemon.database, "UPDATE counters SET value = 1 WHERE name = 'trimmed_through'")
        let trimmed = try Self.rebuild(daemon)
        #expect(trimmed.status == 1 && trimmed.stderr.contains("retention removed events 1 to 1"), "\(trimmed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: daemon.database + ".rebuilt"))

        let alone = try DaemonProcess.run(Daemon.binDirectory.appendingPathComponent("casetrackd"), ["--accept-loss"])
        #expect(alone.status == 64 && alone.stderr.contains("--accept-loss only goes with --rebuild"), "\(alone.stderr)")

        let nowhere = try DaemonProcess.run(Daemon.binDirectory.appendingPathComponent("casetrackd"),
                                            ["--rebuild", "--database", daemon.folder.appendingPathComponent("none.sqlite").path])
        #expect(nowhere.status == 1 && nowhere.stderr.contains("there is no database at"), "\(nowhere.stderr)")
        #expect(!FileManager.default.fileExists(atPath: daemon.folder.appendingPathComponent("none.sqlite").path))
    }
}
