import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Testing
import TestThreads

/// Contacts and enquiries through casectl and the protocol, on the real daemon.
@Suite("Contacts and enquiries", .blocking)
struct ContactTests {
    static let mother = ["--name", "Костенко Олена", "--relation", "мати", "--phone", "+380 67 123 45 67", "--language", "uk",
                         "--consent", "yes", "--note", "дзвонити ввечері"]

    @Test("contacts: add, list, change, remove; enquiries: ask, answer, the ones waiting; kept across a restart and a rebuild")
    func contactsAndEnquiries() throws {
        // Every level logged: what the journal would keep of these requests.
        let daemon = try Daemon(start: false)
        try daemon.start(config: "", extraArguments: ["--log-level", "debug"])
        #expect(try daemon.casectl("add", "--name", "Костенко Андрій", "--category", "civilian", "--status", "captive").status == 0)
        #expect(try daemon.casectl("add", "--name", "Гуменюк Ярослав", "--category", "military", "--status", "missing").status == 0)
        let added = try daemon.casectl(["contact", "add", "C-000001"] + Self.mother)
        #expect(added.stdout == "K-000001 added to C-000001\n", "\(added.stderr)")
        #expect(try daemon.casectl("contact", "add", "C-000001", "--name", "Петрук Ілля", "--relation", "адвокат",
                                   "--email", "petruk@example.org").status == 0)
        #expect(try daemon.casectl("contact", "add", "C-000002", "--name", "Гуменюк Ніна", "--relation", "дружина").status == 0)

        // What is refused changes nothing, and says why.
        for (arguments, says) in [
            (["contact", "add", "C-000001", "--name", "Без зв'язку"], "needs relation="),
            (["contact", "add", "C-000001", "--name", "X", "--relation", "y", "--phone", "дзвоніть"], "is not a phone number"),
            (["contact", "add", "C-000001", "--name", "X", "--relation", "y", "--email", "no-at-sign"], "is not an e-mail address"),
            (["contact", "add", "C-000009", "--name", "X", "--relation", "y"], "no case C-000009"),
            (["contact", "update", "K-000002", "--consent", "maybe"], "is not yes or no"),
            (["contact", "update", "K-000099", "--phone", "123"], "no contact K-000099"),
            (["enquiry", "add", "C-000001", "--from", "K-000003", "--question", "?"], "K-000003 is a contact of C-000002, not of C-000001"),
        ] {
            let refused = try daemon.casectl(arguments)
            #expect(refused.status != 0 && refused.stderr.contains(says), "\(arguments): \(refused.stderr)")
        }

        #expect(try daemon.casectl("contact", "update", "K-000002", "--phone", "044 555 01 02", "--consent", "no").status == 0)
        let listed = try daemon.casectl("--json", "contact", "list", "C-000001").stdout.split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(listed.map { $0["contact"] as? String } == ["K-000001", "K-000002"])
        #expect(listed.first?["phone"] as? String == "+380 67 123 45 67" && listed.first?["consent"] as? String == "yes")
        #expect(listed.last?["phone"] as? String == "044 555 01 02" && listed.last?["consent"] as? String == "no")

        // Enquiries: from a contact and from an organisation; one answered.
        #expect(try daemon.casectl("enquiry", "add", "C-000001", "--from", "K-000001", "--question", "Чи є новини?",
                                   "--at", "2026-01-10").stdout == "E-000001 recorded for C-000001\n")
        #expect(try daemon.casectl("enquiry", "add", "C-000002", "--from", "Міністерство", "--question", "Статус?",
                                   "--at", "2026-02-01").status == 0)
        let early = try daemon.casectl("enquiry", "answer", "E-000001", "--answer", "Ні", "--at", "2025-12")
        #expect(early.status == 64 && early.stderr.contains("before the question"), "\(early.stderr)")
        #expect(try daemon.casectl("enquiry", "answer", "E-000001", "--answer", "Лист від 2023 року").status == 0)
        let twice = try daemon.casectl("enquiry", "answer", "E-000001", "--answer", "ще раз")
        #expect(twice.status == 64 && twice.stderr.contains("answered on"), "\(twice.stderr)")
        let waiting = try daemon.casectl("--json", "enquiry", "list", "--unanswered-older", "14d").stdout
        #expect(waiting.contains("\"enquiry\":\"E-000002\"") && !waiting.contains("E-000001"), "\(waiting)")
        #expect(try daemon.casectl("enquiry", "list", "C-000001").stdout.contains("Лист від 2023 року"))

        // A status change names the case's contacts to a reader's subscription.
        let watcher = try daemon.raw()
        try watcher.send("SUBSCRIBE\n")
        _ = try watcher.answer()
        #expect(try daemon.casectl("contact", "remove", "K-000002").stdout == "K-000002 removed from C-000001\n")
        #expect(try daemon.casectl("set-status", "C-000001", "returned").status == 0)
        let notice = try #require(try watcher.line())
        #expect(notice.contains("kind=status") && notice.hasSuffix("contacts=K-000001"), "\(notice)")
        // A replay names them too, as they are now.
        let replay = try daemon.raw()
        let seq = try #require(notice.split(separator: " ").first { $0.hasPrefix("seq=") }.flatMap { Int($0.dropFirst(4)) })
        try replay.send("SUBSCRIBE since=\(seq - 1)\n")
        var replayed = ""
        while replayed.isEmpty, let line = try replay.line() {
            if line.hasPrefix("N seq=\(seq) ") { replayed = line }
        }
        #expect(replayed.hasSuffix("contacts=K-000001"), "\(replayed)")

        // Never in the journal (here the daemon's log on standard error).
        let logged = daemon.readAvailableOutput()
        #expect(logged.contains("contact added") && logged.contains("K-000001"), "\(logged.suffix(400))")
        // The phone number whole: its digits alone turn up in pids (peer_pid=3800).
        for word in ["Олена", "Петрук", "+380", "123 45 67", "ввечері", "petruk@", "новини", "Міністерство", "Лист від"] {
            #expect(!logged.contains(word), "the journal named \(word)")
        }

        // An export with the contacts of the cases it holds, in a second file beside it.
        let file = daemon.folder.appendingPathComponent("returned.csv").path
        let exported = try daemon.casectl("export", "--status", "returned", "--output", file, "--with-contacts")
        #expect(exported.status == 0, "\(exported.stderr)")
        let contacts = try String(contentsOfFile: file + ".contacts.csv", encoding: .utf8).split(separator: "\n")
        #expect(contacts.first == "contact,id,name,relation,phone,email,language,consent,note,created_at,updated_at")
        #expect(contacts.count == 2 && contacts[1].hasPrefix("K-000001,C-000001,Костенко Олена,мати,+380 67 123 45 67"),
                "only C-000001 is returned; K-000002 was removed, K-000003 is C-000002's: \(contacts)")
        let noFile = try daemon.casectl("export", "--with-contacts")
        #expect(noFile.status == 64 && noFile.stderr.contains("give --output"), "\(noFile.stderr)")

        // Kept across a restart, and across a rebuild of the tables from the log.
        let before = try daemon.casectl("--json", "contact", "list", "C-000001").stdout
        let enquiries = try daemon.casectl("--json", "enquiry", "list").stdout
        #expect(daemon.stop() == 0)
        let rebuilt = try RebuildTests.rebuild(daemon)
        #expect(rebuilt.status == 0, "\(rebuilt.stdout)\(rebuilt.stderr)")
        try daemon.start()
        #expect(try daemon.casectl("--json", "contact", "list", "C-000001").stdout == before)
        #expect(try daemon.casectl("--json", "enquiry", "list").stdout == enquiries)
        // New ones follow the copied ones' ids (a counter left behind took id 1 again, and the
        // daemon stopped on the clash).
        let next = try daemon.casectl("contact", "add", "C-000002", "--name", "Гуменюк Оксана", "--relation", "сестра")
        #expect(next.status == 0 && next.stdout == "K-000004 added to C-000002\n", "\(next.stdout)\(next.stderr)")
        let asked = try daemon.casectl("enquiry", "add", "C-000002", "--from", "K-000004", "--question", "Чи є новини?")
        #expect(asked.status == 0 && asked.stdout.hasPrefix("E-000003"), "\(asked.stdout)\(asked.stderr)")
        #expect(daemon.process?.isRunning == true)
    }

    @Test("people coming home in an exchange: each one's notice names their contacts, live as on a replay")
    func exchangeNoticesNameContacts() throws {
        let daemon = try Daemon()
        #expect(try daemon.casectl("add", "--name", "Костенко Андрій", "--category", "military", "--status", "captive").status == 0)
        #expect(try daemon.casectl("add", "--name", "Гуменюк Ярослав", "--category", "military", "--status", "captive").status == 0)
        #expect(try daemon.casectl(["contact", "add", "C-000001"] + Self.mother).status == 0)
        #expect(try daemon.casectl("exchange", "create", "Обмін 12", "--date", "2025-05-23").status == 0)
        let list = daemon.folder.appendingPathComponent("list.txt").path
        try "C-000001\nC-000002\n".write(toFile: list, atomically: true, encoding: .utf8)
        #expect(try daemon.casectl("exchange", "add", "Обмін 12", "--phase", "1", "--file", list).status == 0)
        let watcher = try daemon.raw()
        try watcher.send("SUBSCRIBE new=returned\n")
        _ = try watcher.answer()
        let done = try daemon.casectl("exchange", "complete", "Обмін 12", "--phase", "1", "--at", "2025-05-23")
        #expect(done.status == 0, "\(done.stderr)")
        var live: [String: String] = [:]
        while live.count < 2, let line = try watcher.line() {
            for id in ["C-000001", "C-000002"] where line.contains(" id=\(id) ") { live[id] = line }
        }
        #expect(live["C-000001"]?.hasSuffix("contacts=K-000001") == true, "\(live)")
        #expect(live["C-000002"]?.contains("contacts=") == false, "\(live)")
        let replay = try daemon.raw()
        try replay.send("SUBSCRIBE since=0 new=returned\n")
        var replayed = ""
        while replayed.isEmpty, let line = try replay.line() {
            if line.contains(" id=C-000001 ") { replayed = line }
        }
        #expect(replayed == live["C-000001"], "the live notice is the replayed one")
    }

    @Test("a register moved with its contacts: export --with-contacts, then import --contacts, twice")
    func movedWithContacts() throws {
        let from = try Daemon()
        for (name, ref) in [("Костенко Андрій", "UA-2016-0007"), ("Гуменюк Ярослав", "UA-2022-0112"), ("Мороз Ганна", "UA-2023-0044")] {
            #expect(try from.casectl("add", "--name", name, "--category", "civilian", "--status", "captive", "--ref", ref).status == 0)
        }
        #expect(try from.casectl(["contact", "add", "C-000001"] + Self.mother).status == 0)
        #expect(try from.casectl("contact", "add", "C-000003", "--name", "Мороз Петро", "--relation", "брат",
                                 "--email", "petro@example.org", "--consent", "no").status == 0)
        let file = from.folder.appendingPathComponent("register.csv").path
        #expect(try from.casectl("export", "--output", file, "--with-contacts").status == 0)

        // Another office, whose register already has a case: the ids differ, the references do not.
        let to = try Daemon()
        #expect(try to.casectl("add", "--name", "Савчук Ілля", "--category", "military", "--status", "missing", "--ref", "UA-2024-0001").status == 0)
        let contacts = file + ".contacts.csv"
        let checked = try to.casectl("import", file, "--contacts", contacts, "--dry-run")
        #expect(checked.status == 0 && checked.stdout.contains("2 contacts are valid"), "\(checked.stdout)\(checked.stderr)")
        let imported = try to.casectl("import", file, "--contacts", contacts)
        #expect(imported.status == 0 && imported.stdout.contains("2 contacts, 2 added, 0 on record already"), "\(imported.stdout)\(imported.stderr)")
        let mother = Self.jsonLines(try to.casectl("--json", "contact", "list", "C-000002").stdout)
        #expect(mother.first?["name"] as? String == "Костенко Олена" && mother.first?["phone"] as? String == "+380 67 123 45 67")
        let brother = Self.jsonLines(try to.casectl("--json", "contact", "list", "C-000004").stdout)
        #expect(brother.first?["name"] as? String == "Мороз Петро" && brother.first?["consent"] as? String == "no", "\(brother)")
        let again = try to.casectl("import", file, "--contacts", contacts)
        #expect(again.stdout.contains("2 contacts, 0 added, 2 on record already"), "\(again.stdout)")

        // Run again with the same --request-id after the first run got only part way (here: the
        // first contact): the rest are made, not answered with the first one's answer.
        let third = try Daemon()
        let lines = try String(contentsOfFile: contacts, encoding: .utf8).split(separator: "\n")
        let partial = third.folder.appendingPathComponent("partial.csv").path
        try (lines.prefix(2).joined(separator: "\n") + "\n").write(toFile: partial, atomically: true, encoding: .utf8)
        let first = try third.casectl("import", file, "--contacts", partial, "--request-id", "move-1")
        #expect(first.stdout.contains("1 contacts, 1 added"), "\(first.stdout)\(first.stderr)")
        let resumed = try third.casectl("import", file, "--contacts", contacts, "--request-id", "move-1")
        #expect(resumed.stdout.contains("2 contacts, 1 added, 1 on record already"), "\(resumed.stdout)\(resumed.stderr)")
        #expect(try third.casectl("contact", "list", "C-000003").stdout.contains("Мороз Петро"), "the second contact was made")
        // A contact the daemon would refuse (a phone that is no number) stops the import before
        // any case is loaded, and names its line.
        let fourth = try Daemon()
        let badPhone = fourth.folder.appendingPathComponent("bad-phone.csv").path
        try (String(lines[0]) + "\nK-000001,C-000001,Костенко Олена,мати,дзвоніть ввечері,,,,,,\n")
            .write(toFile: badPhone, atomically: true, encoding: .utf8)
        let stopped = try fourth.casectl("import", file, "--contacts", badPhone)
        #expect(stopped.status == 65 && stopped.stderr.contains("line 2:") && stopped.stderr.contains("not a phone number"), "\(stopped.stderr)")
        #expect(try fourth.casectl("count").stdout == "0\n", "no case was loaded")
        let long = try third.casectl("import", file, "--request-id", String(repeating: "a", count: 57))
        #expect(long.status == 64 && long.stderr.contains("use 1 to 56"), "\(long.stderr)")

        // A contact of a case the file does not hold: nothing is added.
        let stray = to.folder.appendingPathComponent("stray.csv").path
        try (try String(contentsOfFile: contacts, encoding: .utf8) + "K-000009,C-000077,Чужа Особа,сестра,,,,,,,\n")
            .write(toFile: stray, atomically: true, encoding: .utf8)
        let refused = try to.casectl("import", file, "--contacts", stray)
        #expect(refused.status == 65 && refused.stderr.contains("C-000077 is not a case of"), "\(refused.stderr)")
        #expect(!(try to.casectl("contact", "list", "C-000002").stdout.contains("Чужа")))
    }

    @Test("contacts as JSON lines saved with Windows line ends import whole; a line that is not a contact stops the import")
    func jsonContactsWithCRLF() throws {
        let from = try Daemon()
        #expect(try from.casectl("add", "--name", "Костенко Андрій", "--category", "civilian", "--status", "captive", "--ref", "UA-2016-0007").status == 0)
        #expect(try from.casectl(["contact", "add", "C-000001"] + Self.mother).status == 0)
        #expect(try from.casectl("contact", "add", "C-000001", "--name", "Костенко Іван", "--relation", "батько").status == 0)
        let file = from.folder.appendingPathComponent("register.jsonl").path
        #expect(try from.casectl("export", "--format", "json", "--output", file, "--with-contacts").status == 0)
        let contacts = file + ".contacts.jsonl"
        let windows = try String(contentsOfFile: contacts, encoding: .utf8).replacingOccurrences(of: "\n", with: "\r\n")
        try windows.write(toFile: contacts, atomically: true, encoding: .utf8)

        let to = try Daemon()
        let broken = to.folder.appendingPathComponent("broken.jsonl").path
        try (windows + "Костенко Ганна, сестра\r\n").write(toFile: broken, atomically: true, encoding: .utf8)
        let refused = try to.casectl("import", file, "--contacts", broken)
        #expect(refused.status == 65 && refused.stderr.contains("line 3: not a JSON object"), "\(refused.stderr)")
        #expect(try to.casectl("count").stdout == "0\n", "nothing imported")
        let imported = try to.casectl("import", file, "--contacts", contacts)
        #expect(imported.status == 0 && imported.stdout.contains("2 contacts, 2 added"), "\(imported.stdout)\(imported.stderr)")
    }

    static func jsonLines(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }
}
