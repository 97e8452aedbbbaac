import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Testing
import TestThreads

@Suite("One person, one record, against the real daemon", .blocking)
struct IdentityTests {
    func add(_ client: CasetrackClient, _ options: [(key: String, value: String)]) throws -> Fields {
        try client.request(Request(verb: "ADD", options: options)).get()
    }

    @Test("a merge racing a status change: exactly one wins, the other is told why, nothing is half done")
    func race() throws {
        let daemon = try Daemon()
        let setup = try daemon.client()
        for round in 0..<20 {
            let source = try add(setup, [("name", "Бойко Тарас \(round)"), ("category", "civilian"), ("status", "missing"),
                                         ("birth", "1979")]).string("id") ?? ""
            let target = try add(setup, [("name", "Boiko Taras \(round)"), ("category", "civilian"), ("status", "missing"),
                                         ("birth", "1979-02")]).string("id") ?? ""
            let merger = try daemon.client()
            let changer = try daemon.client()
            // Both sent before either answer is read: the writer decides the order.
            try merger.send(Request(verb: "MERGE", positional: [source], options: [("into", target), ("expect_version", "1")]))
            try changer.send(Request(verb: "SET-STATUS", positional: [source, "captive"], options: [("expect_version", "1")]))
            let merged = try merger.receive()
            let changed = try changer.receive()
            switch (merged.outcome, changed.outcome) {
            case (.success, .failure(let error)):
                #expect(error.code == .merged || error.code == .versionConflict, "\(error)")
                let merged = try setup.request(Request(verb: "GET", positional: [target])).data.first
                #expect(merged?.strings("names").count == 2, "the target holds both spellings")
            case (.failure(let error), .success):
                #expect(error.code == .versionConflict, "\(error)")
                #expect(try setup.request(Request(verb: "GET", positional: [source])).data.first?.string("status") == "captive")
            default:
                Issue.record("round \(round): merge \(merged.outcome), set-status \(changed.outcome)")
            }
        }
    }

    @Test("an ADD of a probable duplicate names the case it duplicates and is added all the same, with a notice")
    func flagged() throws {
        let daemon = try Daemon()
        let client = try daemon.client()
        let watcher = try daemon.raw()
        try watcher.send("SUBSCRIBE kind=possible-duplicate\n")
        _ = try watcher.answer()
        _ = try add(client, [("name", "Шевченко Григорій Іванович"), ("category", "military"), ("status", "captive"),
                             ("birth", "1990-04-02"), ("unit", "28 ОМБр")])
        let second = try add(client, [("name", "Shevchenko Hryhoriy"), ("category", "military"), ("status", "captive"),
                                      ("birth", "1990")])
        #expect(second.strings("duplicate_of") == ["C-000001"], "\(second)")
        let notice = try #require(try watcher.line())
        #expect(notice.hasPrefix("N seq=3 id=C-000002 kind=possible-duplicate "), "\(notice)")
        #expect(try client.request(Request(verb: "COUNT")).get().int("count") == 2, "added all the same")
        let pairs = try client.request(Request(verb: "DUPLICATES"))
        #expect(pairs.data.map { [$0.string("a"), $0.string("b")] } == [["C-000001", "C-000002"]])
        _ = try client.request(Request(verb: "NOT-DUPLICATE", positional: ["C-000002", "C-000001"])).get()
        #expect(try client.request(Request(verb: "DUPLICATES")).data.isEmpty, "a decided pair is not suggested again")
        let different = try add(client, [("name", "Шевченко Григорій"), ("category", "military"), ("status", "captive"),
                                         ("birth", "1972"), ("sex", "female")])
        #expect(different.strings("duplicate_of").isEmpty, "another birth year and sex: not the same person")
    }

    @Test("an UPDATE that makes a case another's probable duplicate says so, once; a decided pair stays decided")
    func flaggedOnUpdate() throws {
        let daemon = try Daemon()
        let client = try daemon.client()
        _ = try add(client, [("name", "Бондар Олег Петрович"), ("category", "military"), ("status", "captive"),
                             ("birth", "1980-02-11")])
        _ = try add(client, [("name", "Мельничук Іван"), ("category", "military"), ("status", "captive"), ("birth", "1991")])
        // The second case's name and birth were typed wrong: corrected, it is the first person.
        let fixed = try client.request(Request(verb: "UPDATE", positional: ["C-000002"],
                                               options: [("add_name", "Bondar Oleh"), ("birth", "1980-02-11")])).get()
        #expect(fixed.strings("duplicate_of") == ["C-000001"], "\(fixed)")
        let kinds = try client.request(Request(verb: "HISTORY", positional: ["C-000002"])).data.compactMap { $0.string("kind") }
        #expect(kinds.suffix(2) == ["update", "possible-duplicate"], "\(kinds)")
        // Another change to the same person that makes no new pair says nothing again.
        let again = try client.request(Request(verb: "UPDATE", positional: ["C-000002"], options: [("add_ref", "UA-77")])).get()
        #expect(again.strings("duplicate_of").isEmpty, "\(again)")
        _ = try client.request(Request(verb: "NOT-DUPLICATE", positional: ["C-000002", "C-000001"])).get()
        let decided = try client.request(Request(verb: "UPDATE", positional: ["C-000002"], options: [("add_name", "Бондар Олег")])).get()
        #expect(decided.strings("duplicate_of").isEmpty, "a decided pair stays decided: \(decided)")
    }

    @Test("an IMPORT row flagged as a possible duplicate: last_seq covers its possible-duplicate event")
    func importFlagged() throws {
        let daemon = try Daemon()
        let client = try daemon.client()
        _ = try add(client, [("name", "Кравчишин Устим Петрович"), ("category", "military"), ("status", "captive"),
                             ("birth", "1987-05-11")])
        let answer = try client.request(Request(verb: "IMPORT", options: [
            ("row", "name=\"Kravchyshyn Ustym\" category=military status=captive birth=1987 ref=IM-2024-1"),
        ]))
        let final = try answer.get()
        let row = try #require(answer.data.first)
        #expect(row.strings("duplicate_of") == ["C-000001"], "\(row)")
        let created = try #require(row.int("seq"))
        #expect(final.int("first_seq") == created)
        #expect(final.int("last_seq") == created + 1, "the possible-duplicate event is one of the new case's: \(final)")
        let history = try client.request(Request(verb: "HISTORY", positional: ["C-000002"]))
        #expect(history.data.last?.int("seq") == final.int("last_seq"), "\(history.data)")
    }
}
