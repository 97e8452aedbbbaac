import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Testing
import TestThreads

/// Real Unix users and a group made for one test run (as root), removed afterwards.
final class TestAccounts {
    let suffix = String(UUID().uuidString.prefix(6)).lowercased()
    private(set) var users: [String: (uid: UInt32, gid: UInt32)] = [:]
    private(set) var groups: [String] = []

    static let possible = getuid() == 0 && ["/usr/sbin/useradd", "/usr/sbin/groupadd", "/usr/bin/setpriv", "/usr/bin/socat"]
        .allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }

    func name(_ base: String) -> String { "ct\(base)\(suffix)" }

    @discardableResult
    func group(_ base: String) throws -> String {
        let group = name(base)
        let result = try Daemon.run(URL(fileURLWithPath: "/usr/sbin/groupadd"), [group])
        guard result.status == 0 else { throw CasetrackError(.internalError, "groupadd \(group): \(result.stderr)") }
        groups.append(group)
        return group
    }

    @discardableResult
    func user(_ base: String, groups extra: [String] = []) throws -> String {
        let user = name(base)
        var arguments = ["-M", "-N", "-s", "/usr/sbin/nologin"]
        if !extra.isEmpty { arguments += ["-G", extra.joined(separator: ",")] }
        let result = try Daemon.run(URL(fileURLWithPath: "/usr/sbin/useradd"), arguments + [user])
        guard result.status == 0 else { throw CasetrackError(.internalError, "useradd \(user): \(result.stderr)") }
        let id = try Daemon.run(URL(fileURLWithPath: "/usr/bin/id"), ["-u", user]).stdout
        let gid = try Daemon.run(URL(fileURLWithPath: "/usr/bin/id"), ["-g", user]).stdout
        users[user] = (UInt32(id.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0,
                       UInt32(gid.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0)
        return user
    }

    func uid(_ user: String) -> UInt32 { users[user]?.uid ?? 0 }

    /// Sends `lines` over the socket as `user` (its groups included), closes the sending side,
    /// and returns every line the daemon wrote until it closed.
    func session(as user: String, socket: String, lines: [String], folder: URL) throws -> [String] {
        let input = folder.appendingPathComponent("in-\(user)-\(UUID().uuidString.prefix(4))").path
        try (lines.map { $0 + "\n" }.joined()).write(toFile: input, atomically: true, encoding: .utf8)
        chmod(input, 0o644)
        let output = input + ".out"
        try Spawned.run("exec \(command(as: user)) socat -t 20 - UNIX-CONNECT:\(socket) < \(input) > \(output)")
        return try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    /// The command prefix that runs what follows as `user`, with its groups.
    func command(as user: String) -> String {
        "setpriv --reuid=\(user) --regid=\(users[user]?.gid ?? 0) --init-groups"
    }

    deinit {
        for user in users.keys { _ = try? Daemon.run(URL(fileURLWithPath: "/usr/sbin/userdel"), [user]) }
        for group in groups { _ = try? Daemon.run(URL(fileURLWithPath: "/usr/sbin/groupdel"), [group]) }
    }
}

/// A connection held open as another user (socat under setpriv): lines go in through a FIFO
/// as the test writes them, everything the daemon says lands in a file.
final class UserConnection {
    private let process: Spawned
    private let feed: FileHandle
    private let output: String

    init(as user: String, accounts: TestAccounts, socket: String, folder: URL) throws {
        let input = folder.appendingPathComponent("\(user)-\(UUID().uuidString.prefix(4)).in").path
        output = input + ".out"
        mkfifo(input, 0o644)
        process = try Spawned.shell(
            "exec \(accounts.command(as: user)) socat -t 20 - UNIX-CONNECT:\(socket) < \(input) > \(output)")
        // Opening the write end waits for socat's shell to open the read end.
        feed = try FileHandle(forWritingTo: URL(fileURLWithPath: input))
    }

    deinit {
        try? feed.close()
        if process.isRunning { process.signal(SIGKILL); process.wait() }
    }

    func send(_ text: String) { feed.write(Data(text.utf8)) }

    /// All the daemon wrote so far.
    var received: String { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }

    /// Waits at most 10 s for `done` to hold of what was received.
    @discardableResult
    func wait(until done: (String) -> Bool) -> Bool {
        for _ in 0..<200 { if done(received) { return true }; usleep(50_000) }
        return done(received)
    }

    /// Closes the sending side and waits for the daemon to close the connection; all received.
    func finish() -> String {
        try? feed.close()
        process.wait()
        return received
    }

    /// Waits for the daemon to close the connection by itself; all received.
    func waitForClose() -> String {
        process.wait()
        return received
    }
}

/// Splits what a daemon wrote into the greeting and one answer per request (each ends with
/// its OK or ERR line). Notice lines of a running subscription come between answers, when
/// they come: they are left out.
func answers(_ lines: [String]) -> (greeting: String, answers: [[String]]) {
    var answers: [[String]] = []
    var current: [String] = []
    for line in lines.dropFirst() where !line.hasPrefix("N ") {
        current.append(line)
        if line == "OK" || line.hasPrefix("OK ") || line.hasPrefix("ERR ") {
            answers.append(current)
            current = []
        }
    }
    return (lines.first ?? "", answers)
}

@Suite("Roles: real users, real peer credentials", .serialized, .blocking)
struct RoleTests {
    /// One request per verb (and per raised requirement), with the role it needs and the
    /// events it records when allowed.
    static func requests(case id: String, tag: String, phase: Int, folder: URL) -> [(line: String, needs: Role, events: Int)] {
        let plain: [(line: String, needs: Role)] = [
            ("HELLO", .observer), ("FORMAT text", .observer), ("PING", .observer),
            ("COUNT status=missing", .observer), ("STATS category=civilian", .observer),
            ("SUBSCRIBE category=military", .observer), ("UNSUBSCRIBE", .observer),
            ("COUNT name=Гнатюк", .reader), ("STATS unit=\"3 бригада\"", .reader), ("COUNT tag=medic", .reader),
            ("SUBSCRIBE tag=medic", .reader), ("GET \(id)", .reader), ("HISTORY \(id)", .reader), ("LIST limit=5", .reader),
            ("ADD name=\"Гнатюк \(tag)\" category=civilian status=missing", .writer),
            ("UPDATE \(id) unit=\"3 бригада\"", .writer),
            ("SET-STATUS \(id) captive", .writer),
            ("TEST-NOTICE note=\"role check\"", .writer),
            ("SET-STATUS \(id) missing correction=yes note=\"listed by mistake\"", .admin),
            ("EXCHANGE-LIST", .observer), ("EXPORT limit=5", .observer), ("STATS by=held", .observer),
            ("STATS by=exchange", .observer), ("STATS by=unit", .reader), ("STATS by=tag", .reader),
            ("EXPORT unit=\"3 бригада\"", .reader), ("EXCHANGE-SHOW \"Обмін ролей\"", .reader),
            ("IMPORT row=\"name=Гнатюк-\(tag) category=civilian status=missing ref=ROLE-\(tag)\" dry_run=yes", .writer),
            ("IMPORT row=\"name=Гнатюк-\(tag) category=civilian status=missing ref=ROLE-\(tag)\"", .writer),
            ("EXCHANGE-CREATE \"Обмін \(tag)\" date=2025-05-23", .admin),
            ("EXCHANGE-ADD \"Обмін ролей\" \(id) phase=\(phase)", .admin),
            ("EXCHANGE-COMPLETE \"Обмін ролей\" phase=\(phase) at=2025-05-23", .admin),
            ("BACKUP \(folder.path)/backup-\(tag).db", .admin),
            ("EVENT \(id) sighting proof=letter at=2025-03", .writer),
            ("STATS by=proof", .observer), ("STATS by=place", .reader), ("STATS as_of=2026-01-01", .observer),
            ("CONTACT-ADD \(id) name=\"Гнатюк Мати \(tag)\" relation=мати", .writer), ("CONTACTS \(id)", .reader),
            ("ENQUIRY-ADD \(id) from=МЗС question=\"Чи живий?\"", .writer), ("ENQUIRIES \(id)", .reader),
            ("CONTACTS-EXPORT limit=5", .admin),
            ("QUIT", .observer),
        ]
        return plain.map { request in
            let events: Int
            switch request.line.split(separator: " ").first ?? "" {
            case "EXCHANGE-COMPLETE": events = 2   // the case's return and the phase's own event
            case "IMPORT": events = request.line.contains("dry_run") ? 0 : 1
            case "EXCHANGE-CREATE", "EXCHANGE-ADD", "BACKUP", "CONTACTS-EXPORT": events = 0
            case "CONTACT-ADD", "ENQUIRY-ADD": events = 0   // outside the event log
            default: events = request.needs >= .writer ? 1 : 0
            }
            return (request.line, request.needs, events)
        }
    }

    @Test("role × verb: allowed verbs work, refused ones answer not-permitted and change nothing; history names the uid",
          .enabled(if: TestAccounts.possible, "needs root, useradd, setpriv and socat"))
    func matrix() throws {
        let accounts = TestAccounts()
        let readGroup = try accounts.group("rd")
        let observer = try accounts.user("ob")
        let reader = try accounts.user("rd", groups: [readGroup])   // a reader through a supplementary group
        let writer = try accounts.user("wr")
        let admin = try accounts.user("ad")
        let stranger = try accounts.user("no")
        let daemon = try Daemon(start: false)
        chmod(daemon.folder.path, 0o755)
        try daemon.start(config: """
            socket_mode = 0666
            observers = \(observer)
            readers = @\(readGroup)
            writers = \(accounts.uid(writer))
            admins = \(admin)
            """, extraArguments: ["--log-level", "notice"])
        let root = try daemon.client()
        _ = try root.request(Request(verb: "EXCHANGE-CREATE", positional: ["Обмін ролей"],
                                     options: [("date", "2025-05-23"), ("phases", "10")])).get()
        let people: [(user: String, role: Role?)] = [(observer, .observer), (reader, .reader), (writer, .writer),
                                                     (admin, .admin), (stranger, nil)]
        for (index, person) in people.enumerated() {
            let id = try root.request(Request(verb: "ADD", options: [("name", "Гнатюк Остап \(index)"), ("category", "military"),
                                                                     ("status", "missing")])).get().string("id") ?? ""
            let before = try daemon.lastSequence()
            let requests = Self.requests(case: id, tag: "\(index)", phase: index + 1, folder: daemon.folder)
            let (greeting, got) = answers(try accounts.session(as: person.user, socket: daemon.socket,
                                                               lines: requests.map(\.line), folder: daemon.folder))
            #expect(greeting.contains("role=\(person.role?.rawValue ?? "none")"), "\(person.user): \(greeting)")
            // A peer with no role gets one refusal, then the connection closes.
            #expect(got.count == (person.role == nil ? 1 : requests.count), "\(person.user): \(got)")
            var writes = 0
            for (request, answer) in zip(requests, got) {
                let final = answer.last ?? ""
                if let role = person.role, role >= request.needs {
                    #expect(final.hasPrefix("OK"), "\(person.user) (\(role)) \(request.line): \(answer)")
                    writes += request.events
                } else {
                    #expect(final.hasPrefix("ERR not-permitted "), "\(person.user) \(request.line): \(answer)")
                    // A refusal leaks nothing: no data line comes before it.
                    #expect(answer.count == 1, "\(person.user) \(request.line): \(answer)")
                }
            }
            // Exactly the allowed writes were made: each is one event.
            let made = try daemon.lastSequence() - before
            #expect(made == Int64(writes), "\(person.user) (\(person.role?.rawValue ?? "none")): \(made) events, \(writes) expected")
            if person.role.map({ $0 >= .writer }) == true {
                let history = try root.request(Request(verb: "HISTORY", positional: [id]))
                let uids = history.data.compactMap { $0.int("actor_uid") }
                #expect(uids.last == Int64(accounts.uid(person.user)), "the change names the uid that made it: \(uids)")
            }
        }
        // Every refusal is in the daemon's log with who asked.
        let log = daemon.readAvailableOutput()
        for person in [stranger, observer, reader, writer] {
            #expect(log.contains("peer_uid=\(accounts.uid(person))") , "\(person)'s refusals are logged")
        }
        #expect(log.contains("request refused"))
    }

    @Test("a named socket caps the role: a writer on the ro socket can read but not write",
          .enabled(if: TestAccounts.possible && FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-socket-activate"),
                   "needs root, useradd, setpriv, socat and systemd-socket-activate"))
    func socketCap() throws {
        let accounts = TestAccounts()
        let writer = try accounts.user("wc")
        let daemon = try Daemon(start: false)
        chmod(daemon.folder.path, 0o755)
        let readOnly = daemon.folder.appendingPathComponent("ro.sock").path
        let config = daemon.folder.appendingPathComponent("casetrackd.conf").path
        try "writers = \(writer)\n".write(toFile: config, atomically: true, encoding: .utf8)
        let said = daemon.folder.appendingPathComponent("activate.out").path
        let binary = Daemon.binDirectory.appendingPathComponent("casetrackd").path
        let activator = try Spawned.shell("""
            exec /usr/bin/systemd-socket-activate -l \(daemon.socket) -l \(readOnly) --fdname=rw:ro \
              \(binary) --database \(daemon.database) --config \(config) --log-level warning > \(said) 2>&1
            """)
        defer { if activator.isRunning { activator.signal(SIGKILL); activator.wait() } }
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: readOnly) { usleep(20_000) }
        // The activator makes the sockets its owner's only; this test lets every user connect.
        chmod(daemon.socket, 0o666)
        chmod(readOnly, 0o666)
        let lines = ["ADD name=\"Савчук Ірина\" category=civilian status=missing", "GET C-000001"]
        let onWrite = answers(try accounts.session(as: writer, socket: daemon.socket, lines: lines, folder: daemon.folder))
        #expect(onWrite.greeting.contains("role=writer") && onWrite.answers.map { $0.last?.hasPrefix("OK") } == [true, true],
                "\(onWrite)")
        let onRead = answers(try accounts.session(as: writer, socket: readOnly, lines: lines, folder: daemon.folder))
        #expect(onRead.greeting.contains("role=reader"), "\(onRead.greeting)")
        #expect(onRead.answers.first?.last?.hasPrefix("ERR not-permitted ") == true, "\(onRead.answers)")
        #expect(onRead.answers.first?.last?.contains("this socket (ro) allows at most reader") == true)
        #expect(onRead.answers.last?.last?.hasPrefix("OK") == true && onRead.answers.last?.first?.contains("Савчук") == true)
        activator.signal(SIGTERM)
        activator.wait()
    }

    @Test("an observer never sees a name: every byte of its notices and answers during a write load",
          .enabled(if: TestAccounts.possible, "needs root, useradd, setpriv and socat"))
    func observerSeesNoNames() throws {
        let accounts = TestAccounts()
        let observer = try accounts.user("ow")
        let daemon = try Daemon(start: false)
        chmod(daemon.folder.path, 0o755)
        try daemon.start(config: "socket_mode = 0666\nobservers = \(observer)\n")
        let names = (0..<300).map { "\(Synthetic.surnames[$0 % Synthetic.surnames.count]) \(Synthetic.givenNames[$0 % Synthetic.givenNames.count])" }
        func latin(_ index: Int) -> String { Synthetic.romanize(names[index]) }
        // The observer subscribes live, then replays everything from the start, while root writes.
        let watcher = try UserConnection(as: observer, accounts: accounts, socket: daemon.socket, folder: daemon.folder)
        watcher.send("SUBSCRIBE\n")
        #expect(watcher.wait { $0.contains("OK after=") })
        let writer = try daemon.client()
        for (index, name) in names.enumerated() {
            try writer.send(Request(verb: "ADD", options: [("name", name), ("name", latin(index)), ("category", "civilian"),
                                                           ("status", "missing"), ("unit", "Підрозділ \(index)"),
                                                           ("tag", "secret-tag-\(index)"),
                                                           ("last_place", "Село \(index)"), ("note", "записав \(name)"),
                                                           ("sex", "female"), ("service_number", "ЖС-\(900_000 + index)"),
                                                           ("rank", "ранг-\(index)"), ("birth_place", "Місто \(index)")]))
        }
        for _ in names { _ = try writer.receive().get() }
        for index in stride(from: 1, through: names.count, by: 3) {
            _ = try writer.request(Request(verb: "SET-STATUS", positional: [CaseID(number: Int64(index)).description, "captive"],
                                           options: [("note", "бачили \(names[index - 1])"), ("source", "лист \(names[index - 1])")])).get()
        }
        // Captivity events: their places and the cause of death are personal data too.
        for index in 1...10 {
            let id = CaseID(number: Int64(index)).description
            _ = try writer.request(Request(verb: "EVENT", positional: [id, "transfer"],
                                           options: [("to", "Колонія \(index)"), ("at", "2024-03")])).get()
            _ = try writer.request(Request(verb: "EVENT", positional: [id, "sighting"],
                                           options: [("proof", "letter"), ("place", "Табір \(index)"), ("at", "2025-01")])).get()
        }
        _ = try writer.request(Request(verb: "SET-STATUS", positional: ["C-000002", "deceased"], options: [("at", "2025-06")])).get()
        _ = try writer.request(Request(verb: "EVENT", positional: ["C-000002", "death"],
                                       options: [("place", "Лікарня смерті"), ("cause", "причина смерті")])).get()
        let captivityEvents = 22
        // Contacts and enquiries, then a status change that names the contacts to readers.
        for index in 1...3 {
            let id = CaseID(number: Int64(index)).description
            _ = try writer.request(Request(verb: "CONTACT-ADD", positional: [id], options: [
                ("name", "Контактна Особа \(index)"), ("relation", "сестра"), ("phone", "+380 50 000 00 0\(index)"),
                ("email", "sister\(index)@example.org"), ("note", "приватна нотатка \(index)")])).get()
            _ = try writer.request(Request(verb: "ENQUIRY-ADD", positional: [id], options: [
                ("from", "Організація \(index)"), ("question", "питання про \(names[index - 1])")])).get()
        }
        _ = try writer.request(Request(verb: "SET-STATUS", positional: ["C-000001", "returned"])).get()
        let contactEvents = 1
        _ = try writer.request(Request(verb: "TEST-NOTICE", options: [("note", "нотатка для \(names[0])")])).get()
        watcher.send("UNSUBSCRIBE\nSUBSCRIBE since=0\n")
        let last = try daemon.lastSequence()
        // Wait for the replay to reach the newest event, then ask what an observer may ask.
        watcher.wait { $0.components(separatedBy: "N seq=\(last) ").count == 3 }
        watcher.send("COUNT\nSTATS\nGET C-000001\nCOUNT name=\(names[0].split(separator: " ")[0])\nEXPORT limit=10000\nSTATS by=held\n"
                     + "CONTACTS C-000001\nENQUIRIES\nENQUIRIES C-000002\n")
        let received = watcher.finish()
        let notices = received.split(separator: "\n").filter { $0.hasPrefix("N ") }
        let changes = stride(from: 1, through: names.count, by: 3).underestimatedCount
        #expect(notices.count == 2 * (names.count + changes + captivityEvents + contactEvents + 1),
                "live and replayed notices: \(notices.count)")
        #expect(!received.contains("Контактна") && !received.contains("+380") && !received.contains("sister")
                && !received.contains("приватна") && !received.contains("Організація") && !received.contains("питання")
                && !received.contains("contacts="), "an observer saw a contact or an enquiry")
        #expect(received.components(separatedBy: "ERR not-permitted ").count - 1 >= 5, "GET, a name filter, CONTACTS, ENQUIRIES ×2")
        #expect(!received.contains("Колонія") && !received.contains("Табір") && !received.contains("Лікарня")
                && !received.contains("причина"), "an observer saw a place or a cause of a captivity event")
        // What is not personal: that there was a proof of life, when, and of which kind.
        #expect(notices.filter { $0.contains("kind=sighting") && $0.contains("proof=letter") }.count == 20)
        for (index, name) in names.enumerated() {
            for word in name.split(separator: " ") + latin(index).split(separator: " ") {
                #expect(!received.contains(word), "an observer saw \(word)")
            }
        }
        #expect(!received.contains("Підрозділ") && !received.contains("Село") && !received.contains("лист")
                && !received.contains("secret-tag") && !received.contains("нотатка"))
        // Identity fields are personal data too.
        #expect(!received.contains("ЖС-") && !received.contains("ранг-") && !received.contains("Місто")
                && !received.contains("female") && !received.contains("sex="))
        #expect(received.contains("ERR not-permitted "), "GET and a name filter are refused")
        // The observer's export: every case, without personal data.
        #expect(received.contains("OK count=\(names.count) personal_data=no"), "\(received.suffix(300))")
        #expect(received.contains("D id=C-000300 status=missing category=civilian"))
    }

    @Test("a reload that lowers a subscriber's role: names stop at once; with no role left the subscription ends",
          .enabled(if: TestAccounts.possible, "needs root, useradd, setpriv and socat"))
    func revokedOnReload() throws {
        let accounts = TestAccounts()
        let person = try accounts.user("rv")
        let daemon = try Daemon(start: false)
        chmod(daemon.folder.path, 0o755)
        let config = daemon.folder.appendingPathComponent("casetrackd.conf").path
        try daemon.start(config: "socket_mode = 0666\nreaders = \(person)\n", extraArguments: ["--log-level", "notice"])
        let subscriber = try UserConnection(as: person, accounts: accounts, socket: daemon.socket, folder: daemon.folder)
        subscriber.send("SUBSCRIBE\n")
        #expect(subscriber.wait { $0.contains("OK after=") })
        let writer = try daemon.client()
        func add(_ name: String) throws {
            _ = try writer.request(Request(verb: "ADD", options: [("name", name), ("category", "civilian"), ("status", "missing")])).get()
        }
        func reload(_ text: String) throws {
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            _ = daemon.readAvailableOutput()
            kill(try #require(daemon.process?.processIdentifier), SIGHUP)
            #expect((try? daemon.waitForOutput(containing: "configuration reloaded")) != nil)
        }
        try add("Лисенко Богдан")
        #expect(subscriber.wait { $0.contains("names=\"Лисенко Богдан\"") }, "a reader gets names")
        try reload("socket_mode = 0666\nobservers = \(person)\n")
        try add("Руденко Олена")
        #expect(subscriber.wait { $0.contains("id=C-000002") } && !subscriber.received.contains("Руденко"), "as an observer: no names")
        try reload("socket_mode = 0666\n")
        try add("Хоменко Юрій")
        let all = subscriber.waitForClose()
        #expect(all.contains("BYE not-permitted after=2 "), "\(all)")
        #expect(!all.contains("C-000003") && !all.contains("Хоменко"))
    }
}

extension Daemon {
    /// The newest sequence number in the database.
    func lastSequence() throws -> Int64 {
        let result = try Daemon.run(URL(fileURLWithPath: "/usr/bin/sqlite3"), [database, "SELECT coalesce(max(seq), 0) FROM events"])
        return Int64(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }
}
