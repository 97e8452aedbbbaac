import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Testing
import TestThreads

/// Lists that arrive from outside (exchange lists, a partner's later list) about people on
/// record: `casectl match`, `exchange add --match` and `import --update`.
@Suite("Matching and applying lists against the real daemon", .blocking)
struct ListTests {
    /// Three people on record: one with a service number and a day of birth, one with a
    /// reference, one known only by name and birth month.
    static func populate(_ daemon: Daemon) throws {
        let client = try daemon.client()
        let people: [[(key: String, value: String)]] = [
            [("name", "Шевченко Тарас Григорович"), ("category", "military"), ("status", "captive"), ("birth", "1990-03-04"),
             ("sex", "male"), ("service_number", "АА-123456"), ("since", "2022-05")],
            [("name", "Коваленко Юлія Андріївна"), ("category", "civilian"), ("status", "missing"), ("birth", "1985"),
             ("sex", "female"), ("ref", "ICRC-7")],
            [("name", "Бондар Олексій Петрович"), ("category", "military"), ("status", "captive"), ("birth", "1979-11")],
            [("name", "Мельник Остап"), ("category", "military"), ("status", "returned"), ("birth", "1994"), ("ref", "UA-9")],
        ]
        for person in people { _ = try client.request(Request(verb: "ADD", options: person)).get() }
    }

    func write(_ daemon: Daemon, _ name: String, _ text: String) throws -> String {
        let path = daemon.folder.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Per line of the file: the match and the candidate ids.
    func matches(_ daemon: Daemon, _ file: String) throws -> [Int: (String, [String])] {
        let result = try daemon.casectl("match", file, "--json")
        #expect(result.status == 0, "\(result.stderr)")
        var lines: [Int: (String, [String])] = [:]
        for object in try result.jsonLines() {
            let candidates = (object["candidates"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            lines[object["line"] as? Int ?? 0] = (object["match"] as? String ?? "", candidates)
        }
        return lines
    }

    @Test("match says exact, probable or none for each line, from CSV and JSON lines alike")
    func match() throws {
        let daemon = try Daemon()
        try Self.populate(daemon)
        // Line 2: the service number typed on a Latin keyboard with a space-free separator;
        // 3: a reference; 4: a passport romanization with a year only; 5: nobody on record;
        // 6: our id written in by hand; 7: an id not on record.
        let csv = try write(daemon, "list.csv", """
            names,birth,sex,service_number,refs,id,status,notes
            Shevchenko Taras,,male,aa-123456,,,captive,from the other side's list
            Kovalenko Yuliia,,,,ICRC-7,,,
            Kovalenko Yulia Andriivna,1985-06,female,,,,,
            Tkachenko Stepan,1961,male,,,,,
            Anybody,,,,,C-000003,,
            Somebody,,,,,C-000099,,

            """)
        let expected: [Int: (String, [String])] = [
            2: ("exact", ["C-000001"]), 3: ("exact", ["C-000002"]), 4: ("probable", ["C-000002"]), 5: ("none", []),
            6: ("exact", ["C-000003"]), 7: ("none", []),
        ]
        let found = try matches(daemon, csv)
        #expect(found.mapValues { "\($0.0) \($0.1)" } == expected.mapValues { "\($0.0) \($0.1)" })

        let json = try write(daemon, "list.jsonl", """
            {"names":["Ševčenko Taras Hryhorovych"],"birth":"1990-03"}
            {"names":["Bondar Oleksiy"],"birth":"1979"}
            {"names":["Bondar Oleksii"],"birth":"1952","sex":"female"}

            """)
        let fromJSON = try matches(daemon, json)
        #expect(fromJSON[1]?.0 == "probable" && fromJSON[1]?.1 == ["C-000001"], "\(fromJSON)")
        #expect(fromJSON[2]?.0 == "probable" && fromJSON[2]?.1 == ["C-000003"], "\(fromJSON)")
        #expect(fromJSON[3]?.0 == "none", "another birth year and sex is another person: \(fromJSON)")

        let table = try daemon.casectl("match", csv)
        #expect(table.stdout.contains("(6 lines: 3 exact, 1 probable, 2 none)"), "\(table.stdout)")
        #expect(table.stdout.contains("no case C-000099 on record"), "\(table.stdout)")

        // A bad line: every problem is named with its line, and nothing is asked.
        let bad = try write(daemon, "bad.csv", "names,birth,service_number\nBondar Oleksii,1979-13,\n,,\nX Y,,№ 5\n")
        let refused = try daemon.casectl("match", bad)
        #expect(refused.status == 65)
        #expect(refused.stdout.isEmpty)
        for line in ["line 2, field birth:", "line 3: nothing to match on", "line 4, field service_number:"] {
            #expect(refused.stderr.contains(line), "\(line): \(refused.stderr)")
        }
        let unknownColumn = try daemon.casectl("match", try write(daemon, "col.csv", "names,shoe_size\nX Y,44\n"))
        #expect(unknownColumn.status == 65 && unknownColumn.stderr.contains("shoe_size"), "\(unknownColumn.stderr)")
    }

    @Test("match follows a merged id to the case that holds the person")
    func mergedID() throws {
        let daemon = try Daemon()
        try Self.populate(daemon)
        let client = try daemon.client()
        _ = try client.request(Request(verb: "ADD", options: [("name", "Bondar Oleksii"), ("category", "military"),
                                                              ("status", "captive"), ("birth", "1979")])).get()
        _ = try client.request(Request(verb: "MERGE", positional: ["C-000005"], options: [("into", "C-000003")])).get()
        let result = try daemon.casectl("match", try write(daemon, "l.csv", "id\nC-000005\n"), "--json")
        let line = try #require(try result.jsonLines().first)
        #expect(line["match"] as? String == "exact")
        #expect((line["candidates"] as? [[String: Any]])?.first?["id"] as? String == "C-000003")
        #expect(line["note"] as? String == "C-000005 was merged into C-000003")
    }

    @Test("exchange add --match lists only a clean list: exact lines, probable ones when accepted, never a line twice")
    func exchangeList() throws {
        let daemon = try Daemon()
        try Self.populate(daemon)
        _ = try daemon.casectl("exchange", "create", "Winter 1", "--date", "2026-11")
        func listed() throws -> Int {
            Int(try daemon.client().request(Request(verb: "EXCHANGE-SHOW", positional: ["Winter 1"])).get().int("listed") ?? -1)
        }
        var lines = [
            "names,birth,service_number,refs,id",
            "Shevchenko Taras,,AA123456,,",      // 2: exact by service number
            "Kowalenko Julija,1985,,,",          // 3: probable (German romanization)
            "Tkachenko Stepan,1961,,,",          // 4: none
            ",,,UA-9,",                          // 5: exact by reference
        ]
        var file = try write(daemon, "swap.csv", lines.joined(separator: "\n") + "\n")
        let unclean = try daemon.casectl("exchange", "add", "Winter 1", "--match", file, "--accept-probable")
        #expect(unclean.status == 65)
        #expect(unclean.stderr.contains("line 4: no case on record matches"), "\(unclean.stderr)")
        #expect(unclean.stderr.contains("nobody was listed"))
        #expect(try listed() == 0)

        lines.remove(at: 3)
        file = try write(daemon, "swap.csv", lines.joined(separator: "\n") + "\n")
        let probable = try daemon.casectl("exchange", "add", "Winter 1", "--match", file)
        #expect(probable.status == 65)
        #expect(probable.stderr.contains("line 3: probable: C-000002"), "\(probable.stderr)")
        #expect(try listed() == 0)

        let dry = try daemon.casectl("exchange", "add", "Winter 1", "--match", file, "--accept-probable", "--dry-run")
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("3 cases would be listed on phase 1 of \"Winter 1\" (2 exact, 1 probable)"), "\(dry.stdout)")
        #expect(try listed() == 0)

        // Two lines that are one person: refused, even with every line matched.
        let twice = try write(daemon, "twice.csv", "names,service_number\nShevchenko Taras,AA-123456\nТарас Шевченко,АА 123456\n"
            .replacingOccurrences(of: "АА 123456", with: "АА-123456"))
        let repeated = try daemon.casectl("exchange", "add", "Winter 1", "--match", twice)
        #expect(repeated.status == 65 && repeated.stderr.contains("line 3: C-000001 is line 2 too"), "\(repeated.stderr)")
        #expect(try listed() == 0)

        // The operator settles line 3 by writing our id into it: no --accept-probable needed.
        lines[2] = "Kowalenko Julija,1985,,,C-000002"
        file = try write(daemon, "swap.csv", lines.joined(separator: "\n") + "\n")
        let done = try daemon.casectl("exchange", "add", "Winter 1", "--match", file)
        #expect(done.status == 0, "\(done.stderr)")
        #expect(done.stdout.hasPrefix("3 cases listed on phase 1 of \"Winter 1\" from 3 lines"), "\(done.stdout)")
        #expect(try listed() == 3)
    }

    @Test("import --update: one case named on two lines that the daemon sees in two batches is refused before anything changes")
    func updateAcrossBatches() throws {
        let daemon = try Daemon(start: false)
        // Short lines: a few rows make a batch.
        try daemon.start(config: "max_line_length = 1024\n")
        var cases = "names,category,status,refs\n"
        for index in 1...60 { cases += "Особа Номер\(index),civilian,captive,RB-\(index)|RB-\(index)X\n" }
        let initial = try write(daemon, "cases.csv", cases)
        #expect(try daemon.casectl("import", initial).status == 0)
        var list = "refs,detention_place\nRB-1,Колонія №10\n"
        for index in 2...60 { list += "RB-\(index),Колонія №\(index)\n" }
        list += "RB-1X,СІЗО-2\n"
        let later = try write(daemon, "later.csv", list)
        let refused = try daemon.casectl("import", "--update", later)
        #expect(refused.status == 65 && refused.stderr.contains("C-000001 is the case of line 2 too; a person is updated once per list"),
                "\(refused.status) \(refused.stderr)")
        let history = try daemon.client().request(Request(verb: "HISTORY", positional: ["C-000001"])).data
        #expect(history.count == 1, "nothing of the list was applied")
    }

    @Test("import --update applies a later list: one event per changed case with the row's provenance; a rerun and a bad row change nothing")
    func update() throws {
        let daemon = try Daemon()
        let initial = try write(daemon, "first.csv", """
            names,category,status,birth,refs,unit
            Гнатюк Остап Іванович,military,missing,1988,RG-1,
            Савчук Марія,civilian,captive,1970-02,RG-2,
            Лисенко Петро,military,captive,,RG-3,
            Ткач Ірина,civilian,returned,1999,RG-4,

            """)
        #expect(try daemon.casectl("import", initial).status == 0)
        let client = try daemon.client()
        func history(_ id: String) throws -> [Fields] { try client.request(Request(verb: "HISTORY", positional: [id])).data }
        let watcher = try daemon.raw()
        try watcher.send("SUBSCRIBE\n")
        _ = try watcher.answer()

        let later = try write(daemon, "later.csv", """
            refs,status,names,detention_place,unit,at,source,confidence,note
            RG-1|RG-1B,captive,Hnatiuk Ostap,Колонія №10,,2026-11-20,ICRC list 48,confirmed,seen in a video
            RG-2,,,СІЗО-2,,,ICRC list 48,,
            RG-3,,,,,,ICRC list 48,,

            """)
        let dry = try daemon.casectl("import", "--update", later, "--dry-run")
        #expect(dry.stdout == "\(later): 3 rows are valid; 2 cases would change, 1 hold them already\n", "\(dry.stdout)\(dry.stderr)")
        #expect(try history("C-000001").count == 1, "a dry run changes nothing")

        let applied = try daemon.casectl("import", "--update", later)
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stdout == "\(later): 3 rows, 2 cases changed, 1 held them already\n")
        let first = try history("C-000001")
        #expect(first.count == 2, "one event for the status and the fields together")
        let event = try #require(first.last)
        #expect(event.string("kind") == "status")
        #expect(event.string("old") == "missing" && event.string("new") == "captive", "\(event)")
        #expect(event.string("occurred") == "2026-11-20" && event.string("source") == "ICRC list 48")
        #expect(event.string("confidence") == "confirmed" && event.string("note") == "seen in a video")
        #expect(event.strings("changes").count == 3, "names, detention place, references: \(event.strings("changes"))")
        let record = try #require(try client.request(Request(verb: "GET", positional: ["C-000001"])).data.first)
        #expect(record.strings("names") == ["Гнатюк Остап Іванович", "Hnatiuk Ostap"], "names are added, never replaced")
        #expect(record.strings("refs") == ["RG-1", "RG-1B"])
        #expect(try history("C-000002").last?.string("kind") == "update")
        #expect(try history("C-000003").count == 1, "a row that changes nothing makes no event")
        // The notices, one per changed case, in order.
        let notices = [try watcher.line(), try watcher.line()].compactMap { $0 }
        #expect(notices.count == 2 && notices[0].contains("id=C-000001 kind=status") && notices[1].contains("id=C-000002 kind=update"),
                "\(notices)")

        let again = try daemon.casectl("import", "--update", later)
        #expect(again.stdout == "\(later): 3 rows, 0 cases changed, 3 held them already\n", "a second run changes nothing")
        #expect(try history("C-000001").count == 2)

        // Bad rows: every one is named, and the good row with them is not applied.
        let bad = try write(daemon, "bad.csv", """
            refs,status,unit
            RG-2,,42 ОМБр
            NOPE-1,,
            RG-4,missing,
            RG-1|RG-3,,

            """)
        let refused = try daemon.casectl("import", "--update", bad)
        #expect(refused.status == 65)
        for message in ["line 3, field refs: no case on record has the reference NOPE-1",
                        "line 4: C-000004 cannot go from returned to missing",
                        "line 5, field refs: the references name 2 cases"] {
            #expect(refused.stderr.contains(message), "\(message): \(refused.stderr)")
        }
        #expect(refused.stderr.contains("3 problems; nothing was updated"),
                "\(refused.stderr)")
        #expect(try client.request(Request(verb: "GET", positional: ["C-000002"])).data.first?.string("unit") == nil,
                "the good row of a refused file is not applied")
        let unmatched = try daemon.casectl("import", "--update", try write(daemon, "noref.csv", "names,unit\nX Y,5\n"))
        #expect(unmatched.status == 65 && unmatched.stderr.contains("field refs: an update row names its case"), "\(unmatched.stderr)")
    }
}
