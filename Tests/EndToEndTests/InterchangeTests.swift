import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Synchronization
import Testing
import TestThreads

@Suite("Import, export and backup against the real daemon", .blocking)
struct ImportExportTests {
    @Test("export round-trips through import, as CSV and as JSON lines; importing an export back changes nothing")
    func roundTrip() throws {
        let source = try Daemon()
        try Self.populate(try source.client())
        // The first line names the chain head, as verify does.
        let verified = try source.casectl("verify", "--json").json()
        let head = try #require(verified["head"] as? String)
        let seq = try #require(verified["last_seq"] as? Int)
        let lines = try source.casectl("export", "--format", "json").jsonLines()
        let named = lines.first?["casetrack_export"] as? [String: Any]
        #expect(named?["head"] as? String == head && named?["head_seq"] as? Int == seq, "\(lines.first ?? [:])")
        let original = Array(lines.dropFirst())
        #expect(original.count == 150)
        let plain = try source.casectl("export", "--no-head")
        #expect(plain.lines.first?.hasPrefix("id,status,") == true, "\(plain.lines.first ?? "")")
        for format in ["csv", "json"] {
            let file = source.folder.appendingPathComponent("export.\(format)").path
            let exported = try source.casectl("export", "--format", format, "--output", file)
            #expect(exported.status == 0, "\(exported.stderr)")
            if format == "csv" {
                let first = try String(contentsOfFile: file, encoding: .utf8).prefix { $0 != "\n" }
                #expect(first == "# casetrack export: chain head \(head) at event \(seq)")
            }
            var info = stat()
            #expect(stat(file, &info) == 0 && info.st_mode & 0o777 == 0o600, "an export holds personal data: 0600")
            let target = try Daemon()
            let imported = try target.casectl("import", file)
            #expect(imported.stdout.hasSuffix("150 rows, 150 added, 0 on record already\n"), "\(format): \(imported.stderr.prefix(800))")
            let copy = Array(try target.casectl("export", "--format", "json").jsonLines().dropFirst())
            let same = Self.comparable(copy) == Self.comparable(original)
            #expect(same, "\(format): \(Set(Self.comparable(copy)).symmetricDifference(Self.comparable(original)).prefix(2))")
            let back = try source.casectl("import", file)
            #expect(back.stdout.hasSuffix("150 rows, 0 added, 150 on record already\n"), "\(format): \(back.stderr.prefix(500))")
        }
    }


    /// Cases with every kind of field, some closed with dates of each precision.
    static func populate(_ client: CasetrackClient) throws {
        var random = SeededRandom(seed: 3)
        let today = Day(unixMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
        for index in 0..<150 {
            let new = Synthetic.newCase(&random, today: today)
            var options: [(key: String, value: String)] = new.names.map { ("name", $0) }
            options += [("category", new.category.rawValue), ("status", new.status.rawValue), ("ref", "RT-\(index)")]
            if let since = new.since { options.append(("since", since.description)) }
            if let birth = new.birth { options.append(("birth", birth.description)) }
            if let unit = new.unit { options.append(("unit", unit)) }
            options += new.tags.map { ("tag", $0) }
            if index % 3 == 0 { options += [("last_place", "Село \(index), район"), ("detention_place", "СІЗО \"№\(index)\"")] }
            if index % 4 == 0 { options.append(("notes", "Рядок 1, з комою\nРядок 2 \"в лапках\"")) }
            if index % 5 == 0 { options.append(("ref", "EXTRA-\(index)")) }
            // Identity fields, in some rows only: they must round-trip too, and be absent where not set.
            if index % 3 == 1 { options += [("sex", index % 2 == 0 ? "female" : "male"), ("birth_place", "Ніжин, Чернігівщина")] }
            if new.category == .military, index % 2 == 0 { options += [("service_number", "ЖС-\(400_000 + index)"), ("rank", "молодший сержант")] }
            let id = try client.request(Request(verb: "ADD", options: options)).get().string("id") ?? ""
            // Closed at a date after the start, in each precision (or at an unknown date).
            if index % 4 == 1, (new.since?.lastDay).map({ $0 < Day(year: 2025, month: 1, day: 1)! }) ?? true {
                let at = ["2025-05-23", "2025-05", "2025", "unknown"][index / 4 % 4]
                _ = try client.request(Request(verb: "SET-STATUS", positional: [id, index % 8 == 1 ? "returned" : "deceased"],
                                               options: [("at", at)])).get()
            }
        }
    }

    /// An export's lines without what belongs to the exporting daemon.
    static func comparable(_ lines: [[String: Any]]) -> [String] {
        lines.map { line in
            var line = line
            for key in ["id", "version", "created_at", "updated_at"] { line[key] = nil }
            return String(data: (try? JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])) ?? Data(), encoding: .utf8) ?? ""
        }.sorted()
    }
}

@Suite("Import: a load refused half-way", .blocking)
struct ImportStopTests {
    @Test("a row refused in batch 3 of 5 leaves batches 1-2, says so, sends nothing after; a notice per case loaded")
    func refusedBatch() throws {
        let daemon = try Daemon(start: false)
        // Lines long enough for batches of 1,000 rows (this file's notes make them long).
        try daemon.start(config: "held_alerts = off\nmax_line_length = 1048576\n")
        let file = daemon.folder.appendingPathComponent("registry.csv").path
        // 5,000 rows: batches of 1,000. Row 2,500 is in the third, on line 2,752 (the header,
        // and a note with a line break in every tenth row before it).
        try LoadScenarios.registry(5_000).write(toFile: file, atomically: true, encoding: .utf8)
        let created = try SubscriberSwarm(socket: daemon.socket, count: 1, subscribe: "SUBSCRIBE kind=created")
        let outcome = Mutex<CommandResult?>(nil)
        let imported = DispatchSemaphore(value: 0)
        let importing = Thread {
            let result = try? daemon.casectl("import", file)
            outcome.withLock { $0 = result }
            imported.signal()
        }
        importing.start()
        // The first batch is in (its first notice came): another clerk enters a person under one
        // of row 2,500's references meanwhile. Its other reference is on no case: that row now
        // names a case and no case, which the file's check did not see.
        try created.collect(timeout: 120) { !$0.lines[0].isEmpty }
        let clerk = try daemon.client()
        let entered = try #require(try clerk.request(Request(verb: "ADD", options: [
            ("name", "Остапчук Лука Іванович"), ("category", "civilian"), ("status", "missing"), ("ref", "REG-2500"),
        ])).get().string("id"))
        imported.wait()
        let result = try #require(outcome.withLock { $0 })
        #expect(result.stderr.contains("registry.csv: stopped at line 2752, in batch 3 of 5 (nothing of that batch or after it was loaded); 2000 rows before it were loaded (2000 added)"),
                "\(result.stderr.prefix(600))")
        #expect(result.stderr.hasPrefix("casectl: \(file): line 2752, field refs: the references of this row belong to \(entered) and no case (LIST-1-2500); one row must match one case by all its references or none\n"),
                "the refusal says why, on the file's line: \(result.stderr.prefix(900))")
        #expect(!result.stderr.contains("nothing was imported"), "2,000 rows were")
        #expect(result.status == 3, "refused")
        #expect(try daemon.casectl("count").stdout == "2001\n", "batches 1 and 2, and the clerk's case")
        // A notice per case opened: 2,000 from the import, one for the clerk's; then a marker.
        let marker = try #require(try clerk.request(Request(verb: "ADD", options: [
            ("name", "Марченко Ірина Петрівна"), ("category", "civilian"), ("status", "missing"), ("ref", "MARK-1"),
        ])).get().int("seq"))
        try created.collect(timeout: 60) { $0.sequences(0).contains(marker) }
        #expect(created.lines[0].count == 2_002 && created.sequences(0).last == marker, "\(created.lines[0].count) notices")
        // Run again: the file's check now sees the conflict and loads nothing more.
        let again = try daemon.casectl("import", file)
        #expect(again.status == 65)
        #expect(again.stderr.contains("line 2752, field refs: the references of this row belong to \(entered)"), "\(again.stderr.prefix(600))")
        #expect(try daemon.casectl("count").stdout == "2002\n")
    }
}
