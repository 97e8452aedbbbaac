import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Testing
import TestThreads

/// Synthetic data shaped like the public reports of a three-day "1000 for 1000" exchange.
@Suite("Exchanges and statistics against the real daemon", .blocking)
struct ExchangeTests {
    static let exchange = "Обмін 1000 на 1000"
    static let battalion = "Synthetic 7th battalion"
    /// Phase sizes and their military share: 390 = 270 + 120, then 307 and 303.
    static let phases: [(military: Int, civilian: Int)] = [(270, 120), (207, 100), (223, 80)]

    struct Person {
        var ref: String
        var category: Category
        var since: Day
        var unit: String?
        var phase: Int?
    }

    /// Everyone of the scenario, as import rows: the exchanged, a battalion nobody listed,
    /// civilians held more than eight years, and missing people.
    static func people(today: Day) -> [Person] {
        var random = SeededRandom(seed: 1000)
        var people: [Person] = []
        for (index, phase) in phases.enumerated() {
            for number in 0..<(phase.military + phase.civilian) {
                people.append(Person(ref: "EX-\(index + 1)-\(number)", category: number < phase.military ? .military : .civilian,
                                     since: today.adding(days: -Int.random(in: 600...2_500, using: &random)),
                                     unit: number % 5 == 0 ? Synthetic.units[number % Synthetic.units.count] : nil, phase: index + 1))
            }
        }
        for number in 0..<45 {
            people.append(Person(ref: "BN-\(number)", category: .military, since: today.adding(days: -Int.random(in: 300...900, using: &random)),
                                 unit: battalion, phase: nil))
        }
        for number in 0..<60 {
            people.append(Person(ref: "CV-\(number)", category: .civilian,
                                 since: today.adding(days: -Int.random(in: 2_950...4_300, using: &random)), unit: nil, phase: nil))
        }
        return people
    }

    static func csv(_ people: [Person]) -> String {
        var random = SeededRandom(seed: 7)
        var lines = [CaseFile.csvLine(["names", "category", "status", "since", "unit", "tags", "refs"])]
        for person in people {
            let surname = Synthetic.surnames.randomElement(using: &random) ?? "Коваленко"
            let given = Synthetic.givenNames.randomElement(using: &random) ?? "Петро"
            let names = "\(surname) \(given)|\(Synthetic.romanize("\(surname) \(given)"))"
            lines.append(CaseFile.csvLine([names, person.category.rawValue, "captive", person.since.description,
                                           person.unit ?? "", person.phase.map { "list-\($0)" } ?? "", person.ref]))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func count(_ client: CasetrackClient, _ options: [(key: String, value: String)]) throws -> Int64 {
        try client.request(Request(verb: "COUNT", options: options)).get().int("count") ?? -1
    }

    @Test("a three-day exchange of 390, 307 and 303: every published figure from the daemon's answers, one notice per person")
    func scenario() throws {
        let daemon = try Daemon()
        let today = Day(unixMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
        let people = Self.people(today: today)
        let file = daemon.folder.appendingPathComponent("registry.csv").path
        try Self.csv(people).write(toFile: file, atomically: true, encoding: .utf8)
        let imported = try daemon.casectl("import", file)
        #expect(imported.status == 0 && imported.stdout.contains("\(people.count) added"), "\(imported.stderr)")

        // Ids by reference, from the daemon's own export.
        var ids: [String: String] = [:]
        for line in try daemon.casectl("export", "--format", "json").jsonLines() {
            if let id = line["id"] as? String, let ref = (line["refs"] as? [String])?.first { ids[ref] = id }
        }
        #expect(ids.count == people.count)
        #expect(try daemon.casectl("exchange", "create", Self.exchange, "--date", "2025-05-23", "--phases", "3").status == 0)
        for phase in 1...3 {
            let listed = people.filter { $0.phase == phase }.compactMap { ids[$0.ref] }
            let list = daemon.folder.appendingPathComponent("phase-\(phase).txt").path
            try ("# phase \(phase)\n" + listed.joined(separator: "\n") + "\n").write(toFile: list, atomically: true, encoding: .utf8)
            let added = try daemon.casectl("exchange", "add", Self.exchange, "--phase", String(phase), "--file", list)
            #expect(added.stdout.hasPrefix("\(listed.count) cases listed"), "\(added.stderr)")
        }

        let subscriber = try daemon.raw()
        try subscriber.send("SUBSCRIBE new=returned\n")
        #expect(try subscriber.answer().last?.hasPrefix("OK after=") == true)

        for (index, phase) in Self.phases.enumerated() {
            let done = try daemon.casectl("exchange", "complete", Self.exchange, "--phase", String(index + 1),
                                          "--at", "2025-05-2\(3 + index)", "--source", "official statement")
            #expect(done.stdout.hasPrefix("phase \(index + 1) of \"\(Self.exchange)\" completed: \(phase.military + phase.civilian) returned = \(phase.military) military + \(phase.civilian) civilian"),
                    "\(done.stdout) \(done.stderr)")
        }
        #expect(try daemon.casectl("exchange", "complete", Self.exchange, "--phase", "1").status == 3, "a phase is completed once")

        // One notice per person who came home, and one per phase.
        var notices: [Fields] = []
        while notices.count < 1_003, let line = try subscriber.line() {
            guard line.hasPrefix("N ") else { continue }
            notices.append(try Fields(text: String(line.dropFirst(2))))
        }
        let perPerson = notices.filter { $0.string("kind") == "status" }
        let listed = Set(people.filter { $0.phase != nil }.compactMap { ids[$0.ref] })
        #expect(perPerson.count == 1_000 && Set(perPerson.compactMap { $0.string("id") }) == listed)
        #expect(perPerson.allSatisfy { $0.string("old") == "captive" && $0.string("exchange") == Self.exchange })
        let phaseNotices = notices.filter { $0.string("kind") == "exchange" }
        #expect(phaseNotices.map { $0.int("returned") } == [390, 307, 303])
        #expect(phaseNotices.map { $0.int("military") } == [270, 207, 223] && phaseNotices.map { $0.int("civilian") } == [120, 100, 80])

        // exchange show: the published figures, phase by phase.
        let show = try daemon.casectl("exchange", "show", Self.exchange, "--json").jsonLines()
        let heads = show.filter { $0["row"] as? String == "phase" }
        #expect(heads.map { $0["listed"] as? Int } == [390, 307, 303] && heads.map { $0["returned"] as? Int } == [390, 307, 303])
        #expect(heads.map { $0["military"] as? Int } == [270, 207, 223] && heads.map { $0["civilian"] as? Int } == [120, 100, 80])
        #expect(heads.map { $0["completed"] as? String } == ["2025-05-23", "2025-05-24", "2025-05-25"])
        #expect(!show.contains { $0["unit"] as? String == Self.battalion }, "no member of the battalion is on any list")
        #expect(!show.contains { $0["row"] as? String == "not-returned" })
        #expect(show.last?["listed"] as? Int == 1_000 && show.last?["returned"] as? Int == 1_000)
        let text = try daemon.casectl("exchange", "show", Self.exchange).stdout
        #expect(text.contains("phase 1: completed 2025-05-23, 390 listed, 390 returned = 270 military + 120 civilian"), "\(text)")

        // "None of his unit's members came home"; "none of the civilians held over eight years did".
        let client = try daemon.client()
        #expect(try Self.count(client, [("unit", Self.battalion)]) == 45)
        #expect(try Self.count(client, [("unit", Self.battalion), ("status", "returned")]) == 0)
        #expect(try Self.count(client, [("exchange", Self.exchange), ("unit", Self.battalion)]) == 0)
        #expect(try Self.count(client, [("category", "civilian"), ("held_min", "8y")]) == 60)
        #expect(try Self.count(client, [("category", "civilian"), ("held_min", "8y"), ("status", "returned")]) == 0)
        let held = try daemon.casectl("stats", "--by", "held", "--category", "civilian", "--status", "captive", "--json").jsonLines()
        #expect(held.first { $0["bucket"] as? String == "8y-plus" && $0["category"] as? String == "civilian" }?["count"] as? Int == 60)
        let days = try daemon.casectl("stats", "--by", "day", "--from", "2025-05-22", "--to", "2025-05-26", "--json").jsonLines()
        #expect(days.map { $0["count"] as? Int } == [0, 390, 307, 303, 0])
        let csv = try daemon.casectl("stats", "--by", "exchange", "--csv").lines
        #expect(csv == ["exchange,phase,completed,listed,returned,military,civilian", "\(Self.exchange),1,yes,390,390,270,120",
                        "\(Self.exchange),2,yes,307,307,207,100", "\(Self.exchange),3,yes,303,303,223,80"])

        // Every figure of every breakdown is what COUNT gives on the same filter.
        try Self.reconcile(daemon, client)

        // Someone listed who did not come home after all: a correction keeps the history, and
        // the figures follow.
        let wrong = try #require(ids["EX-1-300"])
        let corrected = try daemon.casectl("set-status", wrong, "captive", "--correction", "--note", "was not on the bus")
        #expect(corrected.status == 0, "\(corrected.stderr)")
        let after = try daemon.casectl("exchange", "show", Self.exchange, "--json").jsonLines()
        let phase1 = try #require(after.first { $0["row"] as? String == "phase" && $0["phase"] as? Int == 1 })
        #expect(phase1["returned"] as? Int == 389 && phase1["civilian"] as? Int == 119 && phase1["not_returned"] as? Int == 1)
        #expect(after.contains { $0["row"] as? String == "not-returned" && $0["id"] as? String == wrong && $0["status"] as? String == "captive" })
        #expect(try Self.count(client, [("exchange", Self.exchange), ("phase", "1"), ("status", "returned")]) == 389)
        let history = try daemon.casectl("history", wrong, "--json").jsonLines()
        #expect(history.map { $0["kind"] as? String } == ["created", "status", "correction"])
        #expect(history[1]["exchange"] as? String == Self.exchange && history[1]["phase"] as? Int == 1)
        try Self.reconcile(daemon, client)
    }

    /// Each row of every `stats --by` table against COUNT with the row's own conditions.
    static func reconcile(_ daemon: Daemon, _ client: CasetrackClient) throws {
        func rows(_ by: String, _ extra: String...) throws -> [[String: Any]] {
            let result = try daemon.casectl(["stats", "--by", by, "--json"] + extra)
            #expect(result.status == 0, "stats --by \(by): \(result.stderr)")
            return try result.jsonLines()
        }
        func number(_ row: [String: Any], _ key: String) -> Int64 { Int64(row[key] as? Int ?? -1) }
        for row in try rows("status") {
            #expect(number(row, "count") == (try count(client, [("status", row["status"] as? String ?? ""), ("category", row["category"] as? String ?? "")])))
        }
        let held = try rows("held")
        for category in ["military", "civilian"] {
            func reached(_ duration: String) throws -> Int64 { try count(client, [("category", category), ("held_min", duration)]) }
            let all = try count(client, [("category", category)])
            let expected: [String: Int64] = [
                "8y-plus": try reached("8y"), "5y-8y": try reached("5y") - reached("8y"), "3y-5y": try reached("3y") - reached("5y"),
                "1y-3y": try reached("1y") - reached("3y"), "under-1y": try reached("0d") - reached("1y"), "unknown": try all - reached("0d"),
            ]
            for row in held where row["category"] as? String == category {
                #expect(number(row, "count") == expected[row["bucket"] as? String ?? ""], "held \(row)")
            }
        }
        for row in try rows("unit") {
            for status in Status.allCases {
                #expect(number(row, status.rawValue) == (try count(client, [("unit", row["unit"] as? String ?? ""), ("status", status.rawValue)])), "unit \(row)")
            }
        }
        for row in try rows("tag") {
            for status in Status.allCases {
                #expect(number(row, status.rawValue) == (try count(client, [("tag", row["tag"] as? String ?? ""), ("status", status.rawValue)])), "tag \(row)")
            }
        }
        for row in try rows("exchange") {
            let base = [("exchange", row["exchange"] as? String ?? ""), ("phase", String(row["phase"] as? Int ?? 0))]
            #expect(number(row, "listed") == (try count(client, base)), "exchange \(row)")
            #expect(number(row, "returned") == (try count(client, base + [("status", "returned")])))
            for category in ["military", "civilian"] {
                #expect(number(row, category) == (try count(client, base + [("status", "returned"), ("category", category)])))
            }
        }
        for row in try rows("day", "--from", "2025-05-22", "--to", "2025-05-26") {
            guard let day = (row["day"] as? String).flatMap(PartialDate.init)?.firstDay else { continue }
            for category in ["military", "civilian"] {
                #expect(number(row, category) == (try count(client, [("status", "returned"), ("category", category),
                                                                    ("ended_from", day.description), ("ended_before", day.adding(days: 1).description)])))
            }
        }
    }

    @Test("a long list goes in requests that fit the daemon's line, whatever the name's length and the request id")
    func longListFitsLines() throws {
        let daemon = try Daemon(start: false)
        try daemon.start(config: "max_line_length = 1024\n")
        let client = try daemon.client()
        let rows = (1...400).map { index in
            (key: "row", value: "name=\"Довгий Список \(index)\" category=military status=captive ref=LL-\(index)")
        }
        for start in stride(from: 0, to: rows.count, by: 8) {
            _ = try client.request(Request(verb: "IMPORT", options: Array(rows[start..<min(start + 8, rows.count)]))).get()
        }
        let list = daemon.folder.appendingPathComponent("list.txt").path
        try ((1...400).map { CaseID(number: Int64($0)).description }.joined(separator: "\n") + "\n")
            .write(toFile: list, atomically: true, encoding: .utf8)
        // Every name length from 1 to 9 letters moves where the batches end.
        for length in 1...9 {
            let name = String(repeating: "Я", count: length)
            #expect(try daemon.casectl("exchange", "create", name, "--date", "2025-05-23").status == 0)
            let added = try daemon.casectl("exchange", "add", name, "--phase", "1", "--file", list,
                                           "--request-id", String(repeating: "r", count: 50) + "-\(length)")
            #expect(added.status == 0 && added.stdout.hasPrefix("400 cases listed"), "name of \(length): \(added.stdout)\(added.stderr)")
        }
    }
}
