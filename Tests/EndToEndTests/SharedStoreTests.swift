#if Postgres
import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Synchronization
import Testing
import TestThreads

/// Several offices on one register: real daemons, each with its own SQLite copy, on one real
/// PostgreSQL cluster started by the test (see PostgresCluster).
@Suite("Several offices on PostgreSQL", .serialized, .blocking)
struct SharedStoreTests {
    /// One cluster for the suite; a database per test.
    static let cluster = Result { try PostgresCluster() }

    /// A daemon of office `office` on database `database` of the cluster.
    static func office(_ office: String, database: String, extra: String = "") throws -> Daemon {
        let daemon = try Daemon(start: false)
        try daemon.start(config: """
            store = postgresql
            postgresql = "\(try cluster.get().connInfo(database: database))"
            office = \(office)
            \(extra)
            """)
        return daemon
    }

    static func freshDatabase() throws -> String {
        let name = "reg_\(UUID().uuidString.prefix(8).lowercased())"
        try cluster.get().createDatabase(name)
        return name
    }

    @Test("a change made at one office reaches the other's readers and subscribers, with the same seq and its office")
    func twoOffices() throws {
        let database = try Self.freshDatabase()
        let kyiv = try Self.office("kyiv", database: database)
        let lviv = try Self.office("lviv", database: database)
        let watchers = [try SubscriberSwarm(socket: kyiv.socket, count: 1, subscribe: "SUBSCRIBE since=0"),
                        try SubscriberSwarm(socket: lviv.socket, count: 1, subscribe: "SUBSCRIBE since=0")]

        let added = try kyiv.casectl("add", "--name", "Гнатюк Орест", "--category", "civilian", "--status", "missing")
        #expect(added.status == 0, "\(added.stderr)")
        let id = try #require(added.stdout.split(separator: " ").first.map(String.init))
        // Lviv changes the case Kyiv opened: its copy has it (the write ran against it).
        let moved = try lviv.casectl("set-status", id, "captive", "--source", "ICRC list")
        #expect(moved.status == 0, "\(moved.stderr)")

        for swarm in watchers {
            try swarm.collect(timeout: 30) { $0.sequences(0).count >= 2 }
            #expect(swarm.sequences(0) == [1, 2])
            #expect(swarm.lines[0][0].contains("office=kyiv") && swarm.lines[0][1].contains("office=lviv"), "\(swarm.lines[0])")
        }
        for daemon in [kyiv, lviv] {
            let shown = try daemon.casectl("get", id)
            #expect(shown.lines.contains { $0.hasPrefix("status:") && $0.hasSuffix(" captive") }, "\(shown.stdout)")
            let history = try daemon.casectl("history", id)
            #expect(history.stdout.contains("kyiv: uid") && history.stdout.contains("lviv: uid"), "\(history.stdout)")
        }
        let verified = try lviv.casectl("verify", "--json")
        let report = try verified.json()
        #expect(verified.status == 0 && report["ok"] as? Bool == true, "\(verified.stdout)")
    }

    @Test("writes through both offices at once: every event seen once, in order, on both sides; expect_version holds across offices")
    func concurrentOffices() throws {
        let database = try Self.freshDatabase()
        let offices = [try Self.office("kyiv", database: database), try Self.office("odesa", database: database)]
        let watchers = offices.map { try? SubscriberSwarm(socket: $0.socket, count: 2, subscribe: "SUBSCRIBE since=0") }
        let perWriter = 40
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { writer in
            let daemon = offices[writer % 2]
            do {
                let client = try daemon.client()
                for step in 0..<perWriter {
                    let answer = try client.request(Request(verb: "ADD", options: [
                        ("name", "Тестовий \(writer)-\(step)"), ("category", "military"), ("status", "missing"),
                    ]))
                    if case .failure(let error) = answer.outcome { failures.withLock { $0.append("\(error)") } }
                }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [])
        let total = Int64(8 * perWriter)
        for case let swarm? in watchers {
            try swarm.collect(timeout: 60) { swarm in (0..<2).allSatisfy { swarm.sequences($0).count >= Int(total) } }
            for index in 0..<2 { #expect(swarm.sequences(index) == Array(1...total)) }
        }
        // The two copies are the same register.
        let counts = try offices.map { try $0.casectl("count").stdout }
        #expect(counts[0] == counts[1] && counts[0].contains("\(total)"), "\(counts)")

        // Optimistic concurrency across offices: both read version 1, one wins.
        let id = "C-000001"
        let results = try offices.map { try $0.casectl("set-status", id, "captive", "--expect-version", "1") }
        #expect(results.filter { $0.status == 0 }.count == 1, "\(results.map { ($0.status, $0.stderr) })")
        #expect(results.contains { $0.stderr.contains("version") && $0.status == 3 }, "\(results.map { ($0.status, $0.stderr) })")
    }

    @Test("PostgreSQL down: writes refused at once (storage-unavailable), reads and subscriptions go on, everything resumes when it is back")
    func storeDown() throws {
        let database = try Self.freshDatabase()
        let kyiv = try Self.office("kyiv", database: database)
        let lviv = try Self.office("lviv", database: database)
        let first = try kyiv.casectl("add", "--name", "Дмитренко Яна", "--category", "civilian", "--status", "missing")
        #expect(first.status == 0, "\(first.stderr)")
        let watcher = try SubscriberSwarm(socket: lviv.socket, count: 1, subscribe: "SUBSCRIBE since=0")
        try watcher.collect(timeout: 30) { $0.sequences(0).count >= 1 }

        let cluster = try Self.cluster.get()
        try cluster.stop()
        let started = ContinuousClock.now
        let refused = try kyiv.casectl("add", "--name", "Шевчук Ігор", "--category", "military", "--status", "captive")
        #expect(ContinuousClock.now - started < .seconds(8))
        #expect(refused.status == 69, "\(refused.status)")
        #expect(refused.stderr.contains("the shared store cannot be reached") && refused.stderr.contains("the change was not made"),
                "\(refused.stderr)")
        // Reads are served from the office's copy meanwhile.
        #expect(try lviv.casectl("count").stdout.contains("1"))
        try cluster.start()

        // pg_ctl returned once the server accepts: the next write goes through, and the
        // subscriber on the other office gets it.
        let resumed = try kyiv.casectl("add", "--name", "Шевчук Ігор", "--category", "military", "--status", "captive")
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try watcher.collect(timeout: 30) { $0.sequences(0).count >= 2 }
        #expect(watcher.sequences(0) == [1, 2])
    }

    @Test("a store that stops answering: writes waiting behind a try are refused with it, not after one of their own")
    func hungStore() throws {
        // A cluster of its own: it is frozen (every process stopped), as a server gone from
        // the network would be, with nothing refusing the connection.
        let cluster = try PostgresCluster()
        try cluster.createDatabase("hung")
        let daemon = try Daemon(start: false)
        try daemon.start(config: """
            store = postgresql
            postgresql = "\(cluster.connInfo(database: "hung"))"
            office = odesa
            """, extraArguments: ["--log-level", "notice"])
        #expect(try daemon.casectl("add", "--name", "Мельничук Влада", "--category", "civilian", "--status", "missing").status == 0)
        let pidFile = try String(contentsOf: cluster.data.appendingPathComponent("postmaster.pid"), encoding: .utf8)
        let postmaster = try #require(pidFile.split(separator: "\n").first.flatMap { Int32($0) })
        let children = try Daemon.run(URL(fileURLWithPath: "/usr/bin/pgrep"), ["-P", "\(postmaster)"]).stdout
            .split(separator: "\n").compactMap { Int32($0) }
        let frozen = [postmaster] + children
        for pid in frozen { kill(pid, SIGSTOP) }
        defer { for pid in frozen { kill(pid, SIGCONT) } }

        // Three writers at once: the first round waits out the store's timeout (5 s); the
        // writes queued behind it are refused when it fails, not after a try of their own.
        let outcomes = Mutex<[(status: Int32, seconds: Double)]>([])
        let answered = DispatchSemaphore(value: 0)
        let writers = (0..<3).map { index in
            Thread {
                let started = ContinuousClock.now
                let status = (try? daemon.casectl("add", "--name", "Мельничук \(index)", "--category", "civilian", "--status", "missing").status) ?? -1
                let took = ContinuousClock.now - started
                outcomes.withLock { $0.append((status, Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18)) }
                answered.signal()
            }
        }
        writers.forEach { $0.start() }
        for _ in 0..<3 { _ = answered.wait(timeout: .now() + 60) }
        let seen = outcomes.withLock { $0 }
        #expect(seen.count == 3)
        #expect(seen.allSatisfy { [69, 75].contains($0.status) }, "refused, or of unknown outcome for the one cut mid-append: \(seen)")
        #expect(seen.allSatisfy { $0.seconds < 8 }, "each within the store's timeout and a margin: \(seen)")
        for pid in frozen { kill(pid, SIGCONT) }
        // Back: the office's next look at the store finds it, and writes go through again.
        _ = try daemon.waitForOutput(containing: "writes resumed")
        let resumed = try daemon.casectl("add", "--name", "Мельничук Ліна", "--category", "civilian", "--status", "missing")
        #expect(resumed.status == 0, "\(resumed.stderr)")
        try? cluster.stop()
    }

    @Test("a register moved on by a newer casetrackd: the older office finds it without writing, refuses writes, takes no rounds, serves reads")
    func newerSchema() throws {
        let database = try Self.freshDatabase()
        let kyiv = try Self.office("kyiv", database: database)
        let person = ["add", "--name", "Лисенко Мирослава", "--category", "civilian", "--status", "missing"]
        #expect(try kyiv.casectl(person).status == 0)
        let watcher = try SubscriberSwarm(socket: kyiv.socket, count: 1, subscribe: "SUBSCRIBE since=0")
        try watcher.collect(timeout: 30) { $0.sequences(0).count >= 1 }
        // What a newer casetrackd starting on the register does to it.
        _ = try Self.cluster.get().psql("UPDATE casetrack_register SET schema = schema + 1", database: database)
        // Found without a write: at the office's next look at the register (every 2 s), so
        // that an office that only reads takes none of the newer schema's rounds either.
        let found = try kyiv.waitForOutput(containing: "was moved to schema")
        #expect(found.contains("writes are refused"), "\(found.suffix(400))")
        for _ in 0..<2 {
            let refused = try kyiv.casectl(person)
            #expect(refused.status == 1 && refused.stderr.contains("takes no more writes until it is upgraded"),
                    "\(refused.status) \(refused.stderr)")
        }
        #expect(try kyiv.casectl("count").stdout == "1\n", "reads go on")
        // A round appended now (here by an office that joins once the schema is set back for
        // it: any office that looked meanwhile is refused too) is not taken: a newer schema's
        // rounds would apply only in part. Nothing announces that a follow left it alone, so
        // the check waits past two polls (2 s each) and the wake-up the store sends at once.
        _ = try Self.cluster.get().psql("UPDATE casetrack_register SET schema = schema - 1", database: database)
        let lviv = try Self.office("lviv", database: database)
        #expect(try lviv.casectl("add", "--name", "Лисенко Тарас", "--category", "civilian", "--status", "missing").status == 0)
        try? watcher.collect(timeout: 5) { $0.sequences(0).count >= 2 }
        #expect(watcher.sequences(0) == [1], "the refused office took nothing more from the register")
        #expect(try kyiv.casectl("count").stdout == "1\n")
        #expect(kyiv.stop() == 0)
        _ = try Self.cluster.get().psql("UPDATE casetrack_register SET schema = schema + 1", database: database)
        try kyiv.start(extraArguments: ["--config", kyiv.configFile.path])
        #expect(try kyiv.casectl("count").stdout == "1\n", "it starts, and serves its copy")
        let refused = try kyiv.casectl(person)
        #expect(refused.status == 1 && refused.stderr.contains("kept by a newer casetrackd"), "\(refused.status) \(refused.stderr)")
    }

    @Test("a daemon killed with -9 loses nothing acknowledged; its copy catches up with what the other office wrote meanwhile")
    func killedOffice() throws {
        let database = try Self.freshDatabase()
        let kyiv = try Self.office("kyiv", database: database)
        let lviv = try Self.office("lviv", database: database)
        for index in 0..<20 {
            let added = try kyiv.casectl("add", "--name", "Остапчук \(index)", "--category", "civilian", "--status", "missing")
            #expect(added.status == 0)
        }
        kyiv.crash()
        for index in 0..<5 {
            let added = try lviv.casectl("add", "--name", "Бойчук \(index)", "--category", "civilian", "--status", "missing")
            #expect(added.status == 0)
        }
        // Without the shared store the copy is refused: written alone it would leave the register.
        let alone = try Daemon.run(kyiv.bin.appendingPathComponent("casetrackd"), ["--database", kyiv.database, "--socket", kyiv.socket])
        #expect(alone.status == 1 && alone.stderr.contains("copy of the shared register"), "\(alone.stderr)")
        try kyiv.start(extraArguments: ["--config", kyiv.configFile.path])
        let count = try kyiv.casectl("count")
        #expect(count.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "25", "\(count.stdout) \(count.stderr) \(kyiv.readAvailableOutput())")
        let watcher = try SubscriberSwarm(socket: kyiv.socket, count: 1, subscribe: "SUBSCRIBE since=18")
        try watcher.collect(timeout: 30) { $0.sequences(0).count >= 7 }
        #expect(watcher.sequences(0) == Array(19...25))
    }

    @Test("a database with a history of its own is refused, and so is another register's copy")
    func joinChecks() throws {
        let solo = try Daemon()
        #expect(try solo.casectl("add", "--name", "Левченко Юрій", "--category", "civilian", "--status", "missing").status == 0)
        _ = solo.stop()
        let database = try Self.freshDatabase()
        let refused = try Daemon.run(solo.bin.appendingPathComponent("casetrackd"), [
            "--database", solo.database, "--socket", solo.socket, "--config", Self.write(config: """
                store = postgresql
                postgresql = "\(try Self.cluster.get().connInfo(database: database))"
                """, in: solo.folder),
        ])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("holds a register of its own"), "\(refused.stderr)")

        // An office's copy pointed at another register.
        let first = try Self.office("kyiv", database: try Self.freshDatabase())
        #expect(try first.casectl("add", "--name", "Левченко Юрій", "--category", "civilian", "--status", "missing").status == 0)
        _ = first.stop()
        let other = try Daemon.run(first.bin.appendingPathComponent("casetrackd"), [
            "--database", first.database, "--socket", first.socket, "--config", Self.write(config: """
                store = postgresql
                postgresql = "\(try Self.cluster.get().connInfo(database: try Self.freshDatabase()))"
                """, in: first.folder),
        ])
        #expect(other.status == 1 && other.stderr.contains("follows another register"), "\(other.stderr)")
    }

    @Test("--check-config reaches the shared store and says what it holds")
    func checkConfig() throws {
        let database = try Self.freshDatabase()
        let daemon = try Daemon(start: false)
        let config = try Self.write(config: """
            store = postgresql
            postgresql = "\(try Self.cluster.get().connInfo(database: database))"
            """, in: daemon.folder)
        let good = try Daemon.run(daemon.bin.appendingPathComponent("casetrackd"), ["--config", config, "--check-config"])
        #expect(good.status == 0 && good.stdout.contains("no register yet"), "\(good.stdout) \(good.stderr)")
        let bad = try Self.write(config: """
            store = postgresql
            postgresql = "host=/nonexistent dbname=x user=casetrack"
            """, in: daemon.folder)
        let refused = try Daemon.run(daemon.bin.appendingPathComponent("casetrackd"), ["--config", bad, "--check-config"])
        #expect(refused.status != 0 && refused.stderr.contains("cannot be reached"), "\(refused.stderr)")
    }

    @Test("time alerts are raised once for the register, whichever office looks first")
    func alertsOnce() throws {
        let database = try Self.freshDatabase()
        let config = "held_alerts = 8y\nhousekeeping_interval = 1"
        let kyiv = try Self.office("kyiv", database: database, extra: config)
        let lviv = try Self.office("lviv", database: database, extra: config)
        let watcher = try SubscriberSwarm(socket: lviv.socket, count: 1, subscribe: "SUBSCRIBE kind=held")
        var since = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: Date())
        since.year = (since.year ?? 2026) - 9
        let sinceText = String(format: "%04d-%02d-01", since.year ?? 0, since.month ?? 1)
        for index in 0..<20 {
            let added = try (index % 2 == 0 ? kyiv : lviv).casectl(
                "add", "--name", "Литвиненко \(index)", "--category", "military", "--status", "captive", "--since", sinceText)
            #expect(added.status == 0, "\(added.stderr)")
        }
        try watcher.collect(timeout: 60) { $0.sequences(0).count >= 20 }
        // A last case: its alert shows that both offices looked after the first twenty's.
        try kyiv.casectl("add", "--name", "Литвиненко Ярина", "--category", "civilian", "--status", "captive", "--since", sinceText)
        try watcher.collect(timeout: 60) { $0.lines[0].contains { $0.contains("id=C-000021 ") } }
        let alerted = watcher.lines[0].compactMap { line in line.split(separator: " ").first { $0.hasPrefix("id=") } }
        #expect(alerted.count == 21 && Set(alerted).count == 21, "\(alerted)")
    }

    @Test("a single-host register moves into PostgreSQL whole: ids, history, seq and chain; a new office starts from it")
    func migrate() throws {
        let solo = try Daemon()
        for index in 0..<5 {
            #expect(try solo.casectl("add", "--name", "Мороз \(index)", "--category", "civilian", "--status", "missing").status == 0)
        }
        #expect(try solo.casectl("set-status", "C-000002", "captive", "--source", "ICRC").status == 0)
        #expect(try solo.casectl("contact", "add", "C-000002", "--name", "Мороз Олена", "--relation", "mother").status == 0)
        let head = try solo.casectl("verify", "--json").json()["head"] as? String
        _ = solo.stop()

        let database = try Self.freshDatabase()
        let connInfo = try Self.cluster.get().connInfo(database: database)
        let casetrackd = solo.bin.appendingPathComponent("casetrackd")
        let moved = try Daemon.run(casetrackd, ["--database", solo.database, "--migrate-to-postgresql", connInfo])
        #expect(moved.status == 0, "\(moved.stderr)")
        #expect(moved.stdout.contains("moved 5 cases and 6 events") && moved.stdout.contains(head ?? "?"), "\(moved.stdout)")
        let again = try Daemon.run(casetrackd, ["--database", solo.database, "--migrate-to-postgresql", connInfo])
        #expect(again.status == 1, "\(again.stdout)")

        // The old host goes on as an office; a new office starts from the register.
        try solo.start(config: "store = postgresql\npostgresql = \"\(connInfo)\"\noffice = kyiv\n")
        let lviv = try Self.office("lviv", database: database)
        let watcher = try SubscriberSwarm(socket: solo.socket, count: 1, subscribe: "SUBSCRIBE since=6")
        let next = try lviv.casectl("set-status", "C-000002", "returned")
        #expect(next.status == 0, "\(next.stderr)")
        try watcher.collect(timeout: 30) { $0.sequences(0).count >= 1 }
        #expect(watcher.sequences(0) == [7] && watcher.lines[0][0].contains("office=lviv"), "\(watcher.lines[0])")
        for daemon in [solo, lviv] {
            let history = try daemon.casectl("history", "C-000002", "--json").jsonLines()
            #expect(history.map { $0["seq"] as? Int } == [2, 6, 7], "\(history)")
            #expect(try daemon.casectl("contact", "list", "C-000002").stdout.contains("Мороз Олена"))
            let report = try daemon.casectl("verify", "--json").json()
            #expect(report["ok"] as? Bool == true && report["events"] as? Int == 7, "\(report)")
        }
    }

    @Test("failover: the synchronous standby promoted and the offices pointed at it by a reload lose nothing, and numbers go on")
    func failover() throws {
        // Synchronous from the start: a commit waits until the standby has it.
        let primary = try PostgresCluster(settings: ["synchronous_standby_names=*"])
        let standby = try PostgresCluster(standbyOf: primary)
        try primary.createDatabase("register")
        func config(_ cluster: PostgresCluster, _ office: String) -> String {
            "store = postgresql\npostgresql = \"\(cluster.connInfo(database: "register"))\"\noffice = \(office)\n"
        }
        let offices = try ["kyiv", "lviv"].map { office -> Daemon in
            let daemon = try Daemon(start: false)
            try daemon.start(config: config(primary, office))
            return daemon
        }
        let watchers = try offices.map { try SubscriberSwarm(socket: $0.socket, count: 1, subscribe: "SUBSCRIBE since=0") }
        for index in 0..<20 {
            let added = try offices[index % 2].casectl("add", "--name", "Ткачук \(index)", "--category", "civilian", "--status", "missing")
            #expect(added.status == 0, "\(added.stderr)")
        }
        try primary.crash()
        try standby.promote()
        // Each office is pointed at the new primary by a reload, which answers once done.
        for (daemon, office) in zip(offices, ["kyiv", "lviv"]) {
            try config(standby, office).write(to: daemon.configFile, atomically: true, encoding: .utf8)
            let pid = try #require(daemon.process?.processIdentifier)
            let before = try daemon.casectl("add", "--name", "Ткачук до", "--category", "civilian", "--status", "missing")
            // The old primary is gone: refused (or, cut mid-append, of unknown outcome), never acknowledged.
            #expect([69, 75].contains(before.status) && before.stderr.contains("shared store"), "\(before.status) \(before.stderr)")
            kill(pid, SIGHUP)
        }
        // Once the reload took, writes go through: each office's next write is the register's
        // next number, seen by the subscriber right after the twenty from before.
        for (index, daemon) in offices.enumerated() {
            try daemon.waitForOutput(containing: "the shared store is now")
            let added = try daemon.casectl("add", "--name", "Ткачук після \(index)", "--category", "civilian", "--status", "missing")
            #expect(added.status == 0, "\(added.stderr)")
        }
        // Both offices' subscribers see every number once, in order, across the failover;
        // once they have, each copy holds all of it.
        for watcher in watchers {
            try watcher.collect(timeout: 30) { $0.sequences(0).count >= 22 }
            #expect(watcher.sequences(0) == Array(1...22))
        }
        for daemon in offices {
            #expect(try daemon.casectl("count").stdout == "22\n")
            #expect(try daemon.casectl("verify", "--json").json()["ok"] as? Bool == true)
        }
    }

    @Test("a register that lost an office's last rounds, and then was written past them: the office refuses writes, takes nothing of the other history, serves its copy, and says why, at every start")
    func rewrittenRegister() throws {
        let database = try Self.freshDatabase()
        let cluster = try Self.cluster.get()
        let kyiv = try Self.office("kyiv", database: database)
        func add(_ daemon: Daemon, _ name: String) throws -> CommandResult {
            try daemon.casectl("add", "--name", name, "--category", "civilian", "--status", "missing")
        }
        func registerRound() throws -> Int {
            try #require(Int(try cluster.psql("SELECT round FROM casetrack_register", database: database)
                .trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        for name in ["Шевчук Ганна", "Шевчук Левко", "Шевчук Устим"] { #expect(try add(kyiv, name).status == 0) }
        let watcher = try SubscriberSwarm(socket: kyiv.socket, count: 1, subscribe: "SUBSCRIBE since=0")
        try watcher.collect(timeout: 30) { $0.sequences(0).count >= 3 }
        let held = try registerRound()
        // What a failover to a standby that had not yet received the round of the third
        // person (and any after it) leaves.
        let lost = try #require(Int(try cluster.psql("SELECT min(round) FROM casetrack_rounds WHERE last_seq >= 3", database: database)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        _ = try cluster.psql("DELETE FROM casetrack_rounds WHERE round >= \(lost); UPDATE casetrack_register SET round = \(lost - 1)",
                             database: database)
        // Found by the office's next look at the register (every 2 s at most).
        let fewer = "the shared register holds fewer rounds than this office's copy"
        _ = try kyiv.waitForOutput(containing: fewer)
        let refused = try add(kyiv, "Шевчук Явдоха")
        #expect(refused.status == 1 && refused.stderr.contains(fewer),
                "\(refused.status) \(refused.stderr)")
        #expect(kyiv.stop() == 0)

        // An office that joins the register as it now is writes on, past the rounds lost:
        // case C-000003 is another person there.
        let odesa = try Self.office("odesa", database: database)
        var names = ["Мельник Зоряна", "Мельник Тарас", "Мельник Віра", "Мельник Роман", "Мельник Ліна"].makeIterator()
        while try registerRound() <= held, let name = names.next() { #expect(try add(odesa, name).status == 0) }
        #expect(try registerRound() > held)
        #expect(try odesa.casectl("get", "C-000003").stdout.contains("Мельник Зоряна"))

        // Started again, the first office finds another history under its round numbers.
        try kyiv.start(extraArguments: ["--config", kyiv.configFile.path])
        let differs = "round \(held) is not the round \(held) this office's copy"
        _ = try kyiv.waitForOutput(containing: differs)
        let again = try add(kyiv, "Шевчук Явдоха")
        #expect(again.status == 1 && again.stderr.contains(differs), "\(again.status) \(again.stderr)")
        // Its copy is as it was: its own third person, nothing of the other history.
        #expect(try kyiv.casectl("count").stdout == "3\n")
        #expect(try kyiv.casectl("get", "C-000003").stdout.contains("Шевчук Устим"))
        let late = try SubscriberSwarm(socket: kyiv.socket, count: 1, subscribe: "SUBSCRIBE since=0")
        try late.collect(timeout: 30) { $0.sequences(0).count >= 3 }
        #expect(late.sequences(0) == watcher.sequences(0), "no event of the other history")
    }

    static func write(config: String, in folder: URL) throws -> String {
        let path = folder.appendingPathComponent("office-\(UUID().uuidString.prefix(6)).conf")
        try config.write(to: path, atomically: true, encoding: .utf8)
        return path.path
    }
}
#endif
