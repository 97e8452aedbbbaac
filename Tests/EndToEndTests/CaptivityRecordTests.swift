import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Testing
import TestThreads

/// The whole record of a person through casectl and the real daemon: what happened in
/// captivity, and what `get` and `history` then say.
@Suite("Captivity events through casectl", .blocking)
struct CaptivityRecordTests {
    @Test("a civilian held since 2016: sightings, a transfer, a letter; get shows the place and the last proof of life")
    func civilianHeldSince2016() throws {
        // Held since 2016: the 8-year alert would join the history at the restart.
        let quiet = "held_alerts = off\n"
        let daemon = try Daemon(start: false)
        try daemon.start(config: quiet)
        let opened = try daemon.casectl("add", "--name", "Костенко Андрій", "--category", "civilian", "--status", "captive",
                                        "--since", "2016-04-03", "--detention-place", "СІЗО, Донецьк")
        #expect(opened.status == 0, "\(opened.stderr)")
        func event(_ arguments: String...) throws -> String {
            let result = try daemon.casectl(["event", "C-000001"] + arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            return result.stdout
        }
        _ = try event("sighting", "--kind", "testimony", "--place", "Колонія №3", "--at", "2019-09-12", "--source", "released prisoner")
        _ = try event("transfer", "--to", "Колонія №3, Горлівка", "--at", "2018-06", "--source", "ICRC")
        let wrong = try event("sighting", "--kind", "video", "--at", "2024-01")
        _ = try event("sighting", "--kind", "video", "--at", "2023-02", "--corrects", "4", "--note", "the video is from 2023")
        #expect(wrong.contains("(event 4)"), "\(wrong)")
        _ = try event("communication", "--kind", "letter", "--at", "2022-11-20", "--source", "family")

        let shown = try daemon.casectl("get", "C-000001")
        #expect(shown.stdout.contains("detention place:   Колонія №3, Горлівка"), "\(shown.stdout)")
        #expect(shown.stdout.contains("proof of life:     2023-02 (video), "), "\(shown.stdout)")
        let json = try daemon.casectl("--json", "get", "C-000001").json()
        #expect(json["proof_of_life"] as? String == "2023-02" && json["proof_kind"] as? String == "video", "\(json)")
        #expect(json["version"] as? Int == 6)

        let history = try daemon.casectl("history", "C-000001").stdout
        #expect(history.contains("transfer \"СІЗО, Донецьк\" -> \"Колонія №3, Горлівка\""), "\(history)")
        #expect(history.contains("sighting: testimony at \"Колонія №3\"; proof_of_life: (none) -> 2019-09-12 testimony"), "\(history)")
        #expect(history.contains("sighting: video (corrects event 4); proof_of_life: 2024-01 video -> 2023-02 video"), "\(history)")
        #expect(history.contains("communication: letter"), "\(history)")

        // Refusals say why and change nothing.
        let dead = try daemon.casectl("event", "C-000001", "death", "--cause", "хвороба")
        #expect(dead.status == 3 && dead.stderr.contains("not deceased"), "\(dead.stderr)")
        let undated = try daemon.casectl("event", "C-000001", "sighting", "--kind", "call")
        #expect(undated.status == 64 && undated.stderr.contains("needs --at DATE"), "\(undated.stderr)")
        let misplaced = try daemon.casectl("event", "C-000001", "transfer", "--to", "A", "--kind", "letter", "--at", "2024")
        #expect(misplaced.status == 64 && misplaced.stderr.contains("takes no --kind"), "\(misplaced.stderr)")
        #expect(try daemon.casectl("--json", "get", "C-000001").json()["version"] as? Int == 6)

        // The facts and their events hold across a restart and verify against each other.
        #expect(daemon.stop() == 0)
        try daemon.start(config: quiet)
        #expect(try daemon.casectl("get", "C-000001").stdout == shown.stdout)
        let verified = try daemon.casectl("verify")
        #expect(verified.status == 0, "\(verified.stdout)")
        let events = try daemon.client().request(Request(verb: "HISTORY", positional: ["C-000001"]))
        let kinds = events.data.compactMap { $0.string("kind") }
        #expect(kinds == ["created", "sighting", "transfer", "sighting", "sighting", "communication"])
        #expect(events.data[3].string("proof") == "video" && events.data[4].int("corrects") == 4)
    }

    @Test("a death and the remains on a deceased case; a subscriber gets each event with its details")
    func deathAndRemains() throws {
        let daemon = try Daemon()
        #expect(try daemon.casectl("add", "--name", "Гуменюк Ярослав", "--category", "military", "--status", "captive",
                                   "--since", "2022-03").status == 0)
        let watcher = try daemon.raw()
        try watcher.send("SUBSCRIBE kind=death kind=remains\n")
        _ = try watcher.answer()
        #expect(try daemon.casectl("set-status", "C-000001", "deceased", "--at", "2024").status == 0)
        let death = try daemon.casectl("event", "C-000001", "death", "--at", "2024-08-03", "--place", "Лікарня №2",
                                       "--cause", "поранення")
        #expect(death.status == 0, "\(death.stderr)")
        #expect(try daemon.casectl("event", "C-000001", "remains", "--state", "repatriated", "--at", "2025-02").status == 0)
        let shown = try daemon.casectl("get", "C-000001").stdout
        #expect(shown.contains("status:            deceased since 2024-08-03"), "\(shown)")
        #expect(shown.contains("place of death:    Лікарня №2") && shown.contains("cause of death:    поранення"), "\(shown)")
        #expect(shown.contains("remains:           repatriated"), "\(shown)")
        let first = try #require(try watcher.line())
        #expect(first.hasPrefix("N seq=3 id=C-000001 kind=death ") && first.contains("place=\"Лікарня №2\"")
                && first.contains("cause=поранення"), "\(first)")
        let second = try #require(try watcher.line())
        #expect(second.hasPrefix("N seq=4 id=C-000001 kind=remains ") && second.contains("remains=repatriated"), "\(second)")

        // The death's day withdrawn: the case ends on the day its status change gave again.
        let withdrawn = try daemon.casectl("event", "C-000001", "retraction", "--corrects", "3")
        #expect(withdrawn.status == 0, "\(withdrawn.stderr)")
        let after = try daemon.casectl("get", "C-000001").stdout
        #expect(after.contains("status:            deceased since 2024\n"), "\(after)")
        #expect(!after.contains("place of death:"), "\(after)")
    }

    @Test("proof-older finds a proof certainly that old and no younger one; no-proof and stats by proof agree with them")
    func proofQueries() throws {
        let daemon = try Daemon()
        let today = Timestamp(unixMilliseconds: Int64(Date().timeIntervalSince1970 * 1000)).day
        let twoYears = today.adding(months: -24)
        // Two days' margin either side: the daemon's day may turn while the test runs.
        let cases: [(name: String, proof: String?, found: Bool)] = [
            ("Левченко Орест", twoYears.adding(days: -2).description, true),
            ("Ткачук Марина", twoYears.adding(days: 2).description, false),
            // The month two years ago: its first day is old enough, its last day may not be.
            ("Савчук Ілля", String(twoYears.description.prefix(7)), false),
            ("Бондар Зиновій", String(twoYears.adding(months: -2).description.prefix(7)), true),
            ("Мороз Ганна", nil, false),
        ]
        for (index, person) in cases.enumerated() {
            #expect(try daemon.casectl("add", "--name", person.name, "--category", "civilian", "--status", "captive",
                                       "--since", "2016").status == 0)
            if let proof = person.proof {
                let id = CaseID(number: Int64(index + 1)).description
                let recorded = try daemon.casectl("event", id, "sighting", "--kind", "call", "--at", proof)
                #expect(recorded.status == 0, "\(recorded.stderr)")
            }
        }
        let listed = try daemon.casectl("--json", "list", "--proof-older", "2y").stdout
            .split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            }.compactMap { $0["names"] as? [String] }.compactMap(\.first)
        #expect(Set(listed) == Set(cases.filter(\.found).map(\.name)), "\(listed)")
        #expect(try daemon.casectl("count", "--no-proof").stdout == "1\n")
        #expect(try daemon.casectl("count", "--proof-older", "1y", "--no-proof").status == 64)
        let stats = try daemon.casectl("--json", "stats", "--by", "proof", "--category", "civilian").stdout
            .split(separator: "\n").compactMap { line in (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] }
        func bucket(_ name: String) -> Int? {
            stats.first { $0["category"] as? String == "civilian" && $0["bucket"] as? String == name }?["count"] as? Int
        }
        #expect(bucket("1y-3y") == 4 && bucket("never") == 1 && bucket("under-3m") == 0, "\(stats)")
        // As the register stood: yesterday nobody was on it; today, the five.
        let yesterday = try daemon.casectl("stats", "--as-of", today.adding(days: -1).description).stdout
        #expect(yesterday.contains("total            0         0      0"), "\(yesterday)")
        let now = try daemon.casectl("stats", "--as-of", today.description)
        #expect(now.stdout == (try daemon.casectl("stats").stdout), "\(now.stdout)")
        let mixed = try daemon.casectl("stats", "--as-of", "2025", "--held-min", "1y")
        #expect(mixed.status == 64 && mixed.stderr.contains("takes status= and category= only"), "\(mixed.stderr)")
    }
}
