import CasetrackCore
import CasetrackTestSupport
import Foundation
import Testing
import TestThreads

@Suite("casectl against the real daemon", .blocking)
struct CasectlTests {
    @Test("identity fields: add shows them, update clears one, a wrong sex is refused before anything is sent")
    func identity() throws {
        let daemon = try Daemon()
        let soldier = try daemon.casectl("add", "--name", "Гнатюк Остап", "--category", "military", "--status", "captive",
                                         "--sex", "Male", "--service-number", "ЖС-401522", "--rank", "старший солдат",
                                         "--birth-place", "Ніжин")
        #expect(soldier.status == 0, "\(soldier.stderr)")
        let shown = try daemon.casectl("get", "C-000001")
        let rows = shown.lines.map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        for row in ["sex: male", "service number: ЖС-401522", "rank: старший солдат", "birth place: Ніжин"] {
            #expect(rows.contains(row), "\(row) in \(shown.stdout)")
        }
        let cleared = try daemon.casectl("update", "C-000001", "--service-number", "", "--json").json()
        #expect(cleared["service_number"] == nil && cleared["sex"] as? String == "male")
        let noSex = try daemon.casectl("update", "C-000001", "--sex", "", "--json")
        let sexAfter = noSex.status == 0 ? try noSex.json()["sex"] : "refused"
        #expect(noSex.status == 0 && sexAfter == nil, "\(noSex.stdout)\(noSex.stderr)")
        let bad = try daemon.casectl("add", "--name", "x", "--category", "civilian", "--status", "missing", "--sex", "m")
        #expect(bad.status == 64 && bad.stderr.contains("'male', 'female' or 'unknown'"), "\(bad.stderr)")
    }

    @Test("the README walkthrough: add, get, set-status, history, list, count, stats")
    func walkthrough() throws {
        let daemon = try Daemon()
        let added = try daemon.casectl("add", "--name", "Іваненко Петро Олексійович", "--name", "Ivanenko Petro",
                                       "--category", "military", "--unit", "12th brigade", "--tag", "azov",
                                       "--status", "captive", "--since", "2022-05-20", "--source", "official statement",
                                       "--confidence", "confirmed")
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stdout == "C-000001 added: captive, version 1 (event 1)\n")
        try daemon.casectl("add", "--name", "Ковальчук Юлія Андріївна", "--category", "civilian", "--status", "captive",
                           "--since", "2014-07", "--tag", "kherson")
        try daemon.casectl("add", "--name", "Мороз Ганна", "--category", "civilian", "--status", "missing",
                           "--since", "2023")

        let get = try daemon.casectl("get", "C-000001")
        #expect(get.status == 0)
        #expect(get.stdout.contains("Іваненко Петро Олексійович") && get.stdout.contains("Ivanenko Petro"))
        #expect(get.stdout.contains("held for:") && get.stdout.contains("version:           1"))
        let json = try daemon.casectl("get", "C-000001", "--json").json()
        #expect(json["id"] as? String == "C-000001" && json["status"] as? String == "captive" && json["version"] as? Int == 1)
        #expect(json["names"] as? [String] == ["Іваненко Петро Олексійович", "Ivanenko Petro"])
        #expect(json["since_precision"] as? String == "day" && json["held_days"] is Int)

        let changed = try daemon.casectl("set-status", "C-000001", "returned", "--at", "2025-05-23",
                                         "--source", "exchange list", "--expect-version", "1")
        #expect(changed.status == 0 && changed.stdout.contains("returned, version 2"))

        let history = try daemon.casectl("history", "C-000001", "--json").jsonLines()
        #expect(history.map { $0["kind"] as? String } == ["created", "status"])
        #expect(history[1]["old"] as? String == "captive" && history[1]["new"] as? String == "returned")
        #expect(history[1]["occurred"] as? String == "2025-05-23" && history[1]["source"] as? String == "exchange list")
        #expect(history[1]["actor_uid"] as? Int == Int(getuid()))
        let table = try daemon.casectl("history", "C-000001")
        #expect(table.lines.count == 3 && table.lines[0].hasPrefix("SEQ") && table.stdout.contains("captive -> returned"))

        let held = try daemon.casectl("list", "--category", "civilian", "--status", "captive", "--held-min", "8y", "--json")
        #expect(try held.jsonLines().map { $0["id"] as? String } == ["C-000002"])
        #expect(try daemon.casectl("count", "--tag", "azov", "--status", "captive", "--json").stdout == "{\"count\":0}\n")
        #expect(try daemon.casectl("count", "--tag", "azov").stdout == "1\n")
        #expect(try daemon.casectl("count", "--status", "captive,missing").stdout == "2\n")

        for query in ["ivanenko", "ІВАНЕНКО", "Ivanenko Petro Oleksiyovych"] {
            let found = try daemon.casectl("list", "--name", query)
            #expect(found.lines.count == 3 && found.lines[1].hasPrefix("C-000001"), "\(query): \(found.stdout)")
        }
        #expect(try daemon.casectl("list", "--name", "yulia kovalchuk", "--json").jsonLines().count == 1)

        let ping = try daemon.casectl("ping", "--json").json()
        #expect(ping["protocol"] as? Int == 1 && (ping["max_line"] as? Int ?? 0) > 1_000)

        let stats = try daemon.casectl("stats")
        #expect(stats.lines.first == "STATUS    MILITARY  CIVILIAN  TOTAL")
        #expect(stats.lines.contains("captive          0         1      1"))
        #expect(stats.lines.contains("returned         1         0      1"))
        #expect(stats.lines.last == "total            1         2      3")
        let statsJSON = try daemon.casectl("stats", "--json").jsonLines()
        #expect(statsJSON.count == 8 && statsJSON.compactMap { $0["count"] as? Int }.reduce(0, +) == 3)
    }

    @Test("output that cannot be written (a full disk): watch stops before its cursor passes the notice; export fails")
    func fullOutput() throws {
        let daemon = try Daemon()
        #expect(try daemon.casectl("add", "--name", "Вовк Зеновія", "--category", "civilian", "--status", "missing").status == 0)
        let cursor = daemon.folder.appendingPathComponent("cursor").path
        func run(_ arguments: [String]) throws -> (status: Int32, stderr: String) {
            let process = Process()
            process.executableURL = Daemon.binDirectory.appendingPathComponent("casectl")
            process.arguments = arguments + ["--socket", daemon.socket]
            // /dev/full: every write fails with ENOSPC, as on a full disk.
            guard let full = FileHandle(forWritingAtPath: "/dev/full") else { throw CasetrackError(.internalError, "no /dev/full") }
            process.standardOutput = full
            let errors = Pipe()
            process.standardError = errors
            let ended = DispatchSemaphore(value: 0)
            process.terminationHandler = { _ in ended.signal() }
            try process.run()
            // A watch that goes on as if the line were out never ends by itself.
            if ended.wait(timeout: .now() + 30) == .timedOut {
                process.terminate()
                process.waitUntilExit()
                return (-1, "still running after 30 s: " + String(decoding: errors.fileHandleForReading.availableData, as: UTF8.self))
            }
            return (process.terminationStatus, String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        }
        let watched = try run(["watch", "--after", "0", "--cursor-file", cursor])
        #expect(watched.status == 1 && watched.stderr.contains("cannot write notice 1"), "\(watched.status) \(watched.stderr)")
        let kept = (try? String(contentsOfFile: cursor, encoding: .utf8)) ?? "none"
        #expect(kept == "none" || kept == "0\n", "the cursor did not pass the notice: \(kept)")
        let exported = try run(["export"])
        #expect(exported.status == 1 && exported.stderr.contains("cannot write the export"), "\(exported.status) \(exported.stderr)")
        // Any other command too: `get ID --json > case.json` on a full disk must not exit 0.
        for arguments in [["get", "C-000001", "--json"], ["list"], ["history", "C-000001"], ["stats"]] {
            let printed = try run(arguments)
            #expect(printed.status == 1 && printed.stderr.contains("cannot write standard output: No space left on device"),
                    "\(arguments): \(printed.status) \(printed.stderr)")
        }
    }

    @Test("a write run again with the same --request-id says that its answer is the first one's")
    func replayedSaysSo() throws {
        let daemon = try Daemon()
        let person = ["add", "--name", "Вовк Зеновія", "--category", "civilian", "--status", "missing", "--request-id", "intake-7"]
        let first = try daemon.casectl(person)
        #expect(first.status == 0 && first.stderr.isEmpty, "\(first.stderr)")
        let again = try daemon.casectl(person)
        #expect(again.status == 0 && again.stdout == first.stdout, "\(again.stdout)")
        #expect(again.stderr.contains("the first of an earlier run with --request-id intake-7: nothing was done now"), "\(again.stderr)")
        #expect(try daemon.casectl("count").stdout == "1\n")
    }

    @Test("exit statuses: not found 2, refused 3, bad usage 64, unreachable 69")
    func exitStatuses() throws {
        let daemon = try Daemon()
        try daemon.casectl("add", "--name", "Бойко Тарас", "--category", "military", "--status", "captive")
        let before = try daemon.dump()

        let notFound = try daemon.casectl("get", "C-000042")
        #expect(notFound.status == 2 && notFound.stderr == "casectl: no case C-000042\n")
        let illegal = try daemon.casectl("set-status", "C-000001", "captive")
        #expect(illegal.status == 3 && illegal.stderr.contains("already captive"))
        let conflict = try daemon.casectl("set-status", "C-000001", "returned", "--expect-version", "7")
        #expect(conflict.status == 3 && conflict.stderr.contains("version 1, not 7"))
        let badValue = try daemon.casectl("list", "--held-min", "eight years")
        #expect(badValue.status == 64 && badValue.stderr.contains("not a duration"))
        let badOption = try daemon.casectl("list", "--colour", "red")
        #expect(badOption.status == 64)
        let unreachable = try daemon.casectl("count", "--socket", daemon.folder.appendingPathComponent("nothing.sock").path)
        #expect(unreachable.status == 69 && unreachable.stderr.contains("cannot reach casetrackd"))
        #expect(try daemon.dump() == before, "refused commands changed nothing")

        let corrected = try daemon.casectl("set-status", "C-000001", "returned")
        #expect(corrected.status == 0)
        let back = try daemon.casectl("set-status", "C-000001", "captive", "--correction", "--note", "was not on the bus")
        #expect(back.status == 0 && back.stdout.contains("corrected: captive, version 3"))
        let history = try daemon.casectl("history", "C-000001", "--json").jsonLines()
        #expect(history.map { $0["kind"] as? String } == ["created", "status", "correction"])
    }

    @Test("update changes fields, keeps them in history, and refuses a reference owned by another case")
    func update() throws {
        let daemon = try Daemon()
        try daemon.casectl("add", "--name", "Жук Михайло", "--category", "military", "--status", "missing", "--ref", "LIST-1")
        try daemon.casectl("add", "--name", "Гнатюк Ірина", "--category", "civilian", "--status", "captive")
        let updated = try daemon.casectl("update", "C-000002", "--add-name", "Hnatiuk Iryna", "--unit", "Navy 501",
                                         "--add-tag", "medic", "--detention-place", "Колонія №1, м. Н.")
        #expect(updated.status == 0, "\(updated.stderr)")
        let record = try daemon.casectl("get", "C-000002", "--json").json()
        #expect(record["names"] as? [String] == ["Гнатюк Ірина", "Hnatiuk Iryna"])
        #expect(record["detention_place"] as? String == "Колонія №1, м. Н." && record["version"] as? Int == 2)
        let history = try daemon.casectl("history", "C-000002", "--json").jsonLines()
        #expect((history.last?["changes"] as? [String])?.count == 4)
        let duplicate = try daemon.casectl("update", "C-000002", "--add-ref", "LIST-1")
        #expect(duplicate.status == 3 && duplicate.stderr.contains("already belongs to C-000001"))
        #expect(try daemon.casectl("list", "--name", "hnatyuk").lines.count == 3)
    }
}

extension CasectlTests {
    @Test("merge, conflict, where a merged case went, unmerge and not-duplicate, as an operator types them")
    func merges() throws {
        let daemon = try Daemon()
        try daemon.casectl("add", "--name", "Гнатюк Остап Петрович", "--category", "military", "--status", "captive",
                           "--birth", "1991", "--ref", "UA-1")
        try daemon.casectl("add", "--name", "Hnatiuk Ostap", "--category", "military", "--status", "captive",
                           "--birth", "1991-03-12", "--unit", "54 brigade", "--ref", "ICRC-77")
        try daemon.casectl("add", "--name", "Гнатюк Остап", "--category", "military", "--status", "captive",
                           "--birth", "1985", "--unit", "10 brigade")
        #expect(try daemon.casectl("count").stdout == "3\n")
        // As JSON, reasons are an array even when there is one, and numbers are numbers.
        let pairs = try daemon.casectl("--json", "duplicates").jsonLines()
        #expect(!pairs.isEmpty && pairs.allSatisfy { $0["reasons"] is [String] && $0["score"] != nil }, "\(pairs)")

        let conflict = try daemon.casectl("merge", "C-000003", "--into", "C-000002")
        #expect(conflict.status == 3 && conflict.stderr.contains("birth: target has 1991-03-12, source has 1985"), "\(conflict.stderr)")
        #expect(conflict.stderr.contains("unit: target has \"54 brigade\", source has \"10 brigade\""))

        let merged = try daemon.casectl("merge", "C-000001", "--into", "C-000002", "--expect-version", "1", "--note", "одна людина")
        #expect(merged.status == 0 && merged.stdout.hasPrefix("C-000002 now holds C-000001: captive, version 2 (event "),
                "\(merged.stdout) \(merged.stderr)")
        #expect(try daemon.casectl("count").stdout == "2\n")
        let gone = try daemon.casectl("get", "C-000001")
        #expect(gone.status == 2 && gone.stderr.contains("C-000001 was merged into C-000002"), "\(gone.stderr)")
        let target = try daemon.casectl("get", "C-000002", "--json").json()
        #expect(target["names"] as? [String] == ["Hnatiuk Ostap", "Гнатюк Остап Петрович"])
        #expect(target["refs"] as? [String] == ["ICRC-77", "UA-1"] && target["birth"] as? String == "1991-03-12")
        let history = try daemon.casectl("history", "C-000002", "--json").jsonLines()
        #expect(history.last?["kind"] as? String == "merged" && history.last?["note"] as? String == "одна людина")

        let back = try daemon.casectl("unmerge", "C-000001")
        #expect(back.status == 0 && back.stdout.hasPrefix("C-000001 is back (version 3); C-000002 as it was"), "\(back.stderr)")
        #expect(try daemon.casectl("count").stdout == "3\n")
        #expect(try daemon.casectl("get", "C-000002", "--json").json()["refs"] as? [String] == ["ICRC-77"])

        let decided = try daemon.casectl("not-duplicate", "C-000002", "C-000003", "--note", "різні роки народження")
        #expect(decided.status == 0 && decided.stdout == "C-000002 and C-000003 are two people\n")
        #expect(try daemon.casectl("not-duplicate", "C-000003", "C-000002").stdout.contains("(already recorded)"))
        let wrong = try daemon.casectl("merge", "C-000002", "--into", "C-000002")
        #expect(wrong.status == 64 && wrong.stderr.contains("cannot be merged into itself"))

        // unmerge --json prints the records as get --json does.
        #expect(try daemon.casectl("merge", "C-000001", "--into", "C-000002").status == 0)
        let records = try daemon.casectl("--json", "unmerge", "C-000001").jsonLines()
        #expect(records.count == 2 && records.allSatisfy { $0["version"] is Int && $0["names"] is [String] }, "\(records)")
    }
}
