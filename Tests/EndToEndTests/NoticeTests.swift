// Over 400 lines: every test of SUBSCRIBE, WAIT and their casectl commands against one real
// daemon, with the small helpers they share.
import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Testing
import TestThreads

@Suite("Notices: subscribe, resume, overflow, gap", .blocking)
struct NoticeTests {
    @Test("a replay under a write load with a tiny buffer: exactly every event, live after it; UNSUBSCRIBE stops it")
    func replayUnderLoad() throws {
        let daemon = try Daemon(start: false)
        // Far smaller than the replay (the queue overflows while the store is read, and the
        // subscription must register again instead of cutting the subscriber off), larger
        // than one group commit of the writers below (at most 20 notices).
        try daemon.start(config: "subscriber_buffer = 64\n")
        let cases = try daemon.openCases(20)
        let acknowledged = AcknowledgedSequences()
        try Daemon.toggle(socket: daemon.socket, cases: cases, rounds: 50, into: acknowledged)  // 1,000 stored
        let socket = daemon.socket
        let writers = (0..<2).map { writer in
            Thread {
                try? Daemon.toggle(socket: socket, cases: Array(cases[(writer * 10)..<(writer * 10 + 10)]), rounds: 40,
                                   into: acknowledged)
            }
        }
        let session = try daemon.raw()
        writers.forEach { $0.start() }
        try session.send("SUBSCRIBE since=0\n")
        #expect(try session.answer().first?.hasPrefix("OK after=0 last=") == true)
        // Read while the writers write: the replay and the live notices meet meanwhile.
        // 20 opened, 1,000 stored changes, 800 from the writers.
        let expected = 20 + 1_000 + 800
        var received: [Int64] = []
        while received.count < expected {
            let line: String?
            do {
                line = try session.line()
            } catch {
                Issue.record("\(error) after \(received.count) notices, the last \(received.last ?? 0)")
                return
            }
            guard let line, let seq = SubscriberSwarm.sequence(line) else {
                Issue.record("not a notice: \(line ?? "end of stream")")
                return
            }
            received.append(seq)
        }
        while writers.contains(where: { !$0.isFinished }) { usleep(5_000) }
        #expect(acknowledged.all.count == 1_800)
        #expect(received == Array(1...Int64(expected)), "every event once, in order, across replay and live")
        // And live from here.
        let test = try #require(try daemon.client().request(Request(verb: "TEST-NOTICE")).get().int("seq"))
        #expect(try session.line().flatMap(SubscriberSwarm.sequence) == test)
        try session.send("UNSUBSCRIBE\nPING\n")
        #expect(try session.answer() == ["OK"])
        #expect(try session.answer() == ["OK"])
        try daemon.casectl("test-notice")
        try session.send("PING\n")
        #expect(try session.answer() == ["OK"], "nothing after UNSUBSCRIBE")
    }

    @Test("a subscriber killed mid-stream resumes from its last sequence number and gets exactly the rest")
    func resumeAfterKill() throws {
        let daemon = try Daemon()
        let cases = try daemon.openCases(20)
        let acknowledged = AcknowledgedSequences()
        try Daemon.toggle(socket: daemon.socket, cases: cases, rounds: 10, into: acknowledged)
        // The first subscriber reads part of the history, then dies without a word.
        var lastSeen: Int64 = 0
        do {
            let first = try daemon.client()
            try first.subscribe(NoticeFilter(), since: 0)
            for _ in 0..<57 {
                guard case .notice(let notice, _)? = try first.nextNotice() else { Issue.record("stream ended"); return }
                lastSeen = notice.seq
            }
        }
        #expect(lastSeen == 57)
        // More changes while it is gone.
        try Daemon.toggle(socket: daemon.socket, cases: cases, rounds: 3, into: acknowledged)
        let last = try daemon.client().request(Request(verb: "TEST-NOTICE")).get().int("seq") ?? 0
        let second = try daemon.client()
        try second.subscribe(NoticeFilter(), since: lastSeen)
        var rest: [Int64] = []
        while rest.last != last {
            guard case .notice(let notice, _)? = try second.nextNotice() else { break }
            rest.append(notice.seq)
        }
        #expect(rest == Array((lastSeen + 1)...last), "exactly the rest, in order")
    }

    @Test("a subscriber that never reads slows nobody, then gets the overflow marker; resuming from it loses nothing")
    func neverReading() throws {
        let daemon = try Daemon(start: false)
        // Small, so that the stuck subscriber overflows soon; larger than one group commit of the
        // 4 writers below (at most 40 notices), so that a reading subscriber never does.
        try daemon.start(config: "subscriber_buffer = 200\n")
        let cases = try daemon.openCases(40)
        let socket = daemon.socket
        let rounds = 100
        let total = 40 * rounds

        // The same load, first without and then with a subscriber that does not read. Timed
        // until the writers are done and a reading subscriber has every notice.
        func run(_ acknowledged: AcknowledgedSequences) throws -> Duration {
            let watcher = try SubscriberSwarm(socket: socket, count: 1, subscribe: "SUBSCRIBE kind=status")
            let started = ContinuousClock.now
            let writers = (0..<4).map { writer in
                Thread {
                    try? Daemon.toggle(socket: socket, cases: Array(cases[(writer * 10)..<(writer * 10 + 10)]), rounds: rounds,
                                       into: acknowledged)
                }
            }
            writers.forEach { $0.start() }
            try watcher.collect(timeout: 120) { $0.lines[0].count >= total }
            while writers.contains(where: { !$0.isFinished }) { usleep(2_000) }
            let elapsed = ContinuousClock.now - started
            #expect(watcher.sequences(0) == acknowledged.all.sorted(), "the reading subscriber got every notice")
            return elapsed
        }
        let alone = try run(AcknowledgedSequences())

        let stuck = try daemon.raw()
        try stuck.send("SUBSCRIBE kind=status\n")
        let answer = try stuck.answer()
        #expect(answer.first?.hasPrefix("OK after=") == true)
        let startedAfter = Int64(answer.first?.split(separator: "=").last ?? "") ?? -1
        let acknowledged = AcknowledgedSequences()
        let withStuck = try run(acknowledged)
        // Generous: the point is "not held up", not a benchmark (make bench measures).
        #expect(withStuck < alone * 4 + .seconds(2), "alone \(alone), with a stuck subscriber \(withStuck)")

        // Now it reads: what fitted in the socket, then the marker, then the end.
        var received: [Int64] = []
        var marker: String?
        while let line = try stuck.line() {
            if let seq = SubscriberSwarm.sequence(line) { received.append(seq); continue }
            marker = line
            break
        }
        #expect(try stuck.line() == nil, "disconnected after the marker")
        let resumeAt = try #require(marker.flatMap { line -> Int64? in
            guard line.hasPrefix("BYE overflow after=") else { return nil }
            return Int64(line.dropFirst("BYE overflow after=".count).prefix { $0 != " " })
        }, "marker: \(marker ?? "none")")
        #expect(received.count < total, "it was cut off")
        #expect(resumeAt == (received.last ?? startedAfter))
        // Resuming from the marker gives exactly the rest.
        let resumed = try daemon.client()
        try resumed.subscribe(NoticeFilter(kinds: [.status]), since: resumeAt)
        var rest: [Int64] = []
        let all = acknowledged.all.sorted()
        while rest.count + received.count < all.count {
            guard case .notice(let notice, _)? = try resumed.nextNotice() else { break }
            rest.append(notice.seq)
        }
        #expect(received + rest == all)
    }

    @Test("since= before what retention kept gets an explicit gap answer; from the oldest kept it replays")
    func gap() throws {
        let daemon = try Daemon(start: false)
        try daemon.start(config: "retention = 5\nhousekeeping_interval = 1\nheld_alerts = off\n")
        let cases = try daemon.openCases(4)
        try Daemon.toggle(socket: daemon.socket, cases: cases, rounds: 4, into: AcknowledgedSequences())  // seq 5...20
        // Trimming happens in the background, within a second. Each look is a connection of
        // its own: one whose SUBSCRIBE was accepted can be cut off by a trim during its
        // replay (BYE gap, then closed), as the protocol says.
        var answer: [String] = []
        for _ in 0..<100 {
            let look = try daemon.raw()
            try look.send("SUBSCRIBE since=3\n")
            answer = try look.answer()
            // A look during the writes trims less; the one after them trims through 15.
            if answer.first?.hasPrefix("ERR gap oldest=16 ") == true { break }
            usleep(50_000)
        }
        #expect(answer.first?.hasPrefix("ERR gap oldest=16 message=") == true, "\(answer)")
        let session = try daemon.raw()
        try session.send("SUBSCRIBE since=15\n")
        #expect(try session.answer() == ["OK after=15 last=20"])
        var replayed: [Int64] = []
        for _ in 16...20 { replayed += (try session.line()).flatMap(SubscriberSwarm.sequence).map { [$0] } ?? [] }
        #expect(replayed == Array(16...20))
        // History lost its trimmed part too (C-000001 changed at 1, 5, 9, 13 and 17); casectl
        // watch says so with its own exit status.
        try session.send("UNSUBSCRIBE\nHISTORY C-000001\n")
        _ = try session.answer()
        let history = try session.answer()
        #expect(history.count == 2 && history[0].hasPrefix("D seq=17 ") && history[1] == "OK count=1", "\(history)")
        let watch = try daemon.casectl("watch", "--after", "0")
        #expect(watch.status == 6 && watch.stderr.contains("oldest kept is 16"), "\(watch.status) \(watch.stderr)")
    }

    @Test("a subscription replays and goes live with exactly the events its filter selects")
    func filtersMatchPlainSelection() throws {
        let daemon = try Daemon()
        // Subscribed before anything happens, so that these see everything live.
        let filters: [(String, (Notice) -> Bool)] = [
            ("status=captive", { $0.oldStatus == .captive || $0.newStatus == .captive }),
            ("new=returned,deceased", { $0.newStatus == .returned || $0.newStatus == .deceased }),
            ("old=missing category=civilian", { $0.oldStatus == .missing && $0.category == .civilian }),
            ("tag=medic", { $0.tags.contains("medic") }),
            ("unit=\"36TH BRIGADE\"", { $0.unit?.lowercased() == "36th brigade" }),
            ("id=C-000003 id=C-000007", { $0.caseID?.number == 3 || $0.caseID?.number == 7 }),
            ("kind=update,created", { $0.kind == .update || $0.kind == .created }),
            ("status=missing kind=status tag=kherson", { ($0.oldStatus == .missing || $0.newStatus == .missing) && $0.kind == .status && $0.tags.contains("kherson") }),
        ]
        let live = try filters.map { try SubscriberSwarm(socket: daemon.socket, count: 1, subscribe: "SUBSCRIBE \($0.0)") }
        // A mixed history: opens, status changes, corrections, tag/unit/category updates.
        var random = SeededRandom(seed: 7)
        let client = try daemon.client()
        for index in 0..<30 {
            let category = index % 3 == 0 ? "civilian" : "military"
            let unit = ["36th Brigade", "12th brigade", "Navy 501"][index % 3]
            var options: [(key: String, value: String)] = [("name", "Мельник Тарас \(index)"), ("category", category),
                                                           ("status", index % 4 == 0 ? "captive" : "missing"), ("unit", unit)]
            if index % 2 == 0 { options.append(("tag", "medic")) }
            if index % 5 == 0 { options.append(("tag", "kherson")) }
            _ = try client.request(Request(verb: "ADD", options: options)).get()
        }
        for _ in 0..<200 {
            let id = "C-\(String(format: "%06d", Int(random.next() % 30) + 1))"
            let choice = random.next() % 6
            let request: Request
            switch choice {
            case 0: request = Request(verb: "SET-STATUS", positional: [id, "captive"])
            case 1: request = Request(verb: "SET-STATUS", positional: [id, "missing"])
            case 2: request = Request(verb: "SET-STATUS", positional: [id, random.next() % 2 == 0 ? "returned" : "deceased"])
            case 3: request = Request(verb: "UPDATE", positional: [id], options: [(random.next() % 2 == 0 ? "add_tag" : "remove_tag", "medic")])
            case 4: request = Request(verb: "UPDATE", positional: [id], options: [("category", random.next() % 2 == 0 ? "civilian" : "military")])
            default: request = Request(verb: "SET-STATUS", positional: [id, "missing"], options: [("correction", "yes")])
            }
            _ = try client.request(request)  // refusals (illegal transitions) are part of the mix
        }
        let last = try client.request(Request(verb: "TEST-NOTICE")).get().int("seq") ?? 0
        // Every event, unfiltered, is the plain truth each filter is checked against.
        let everything = try daemon.client()
        try everything.subscribe(NoticeFilter(), since: 0)
        var all: [Notice] = []
        while all.last?.seq != last {
            guard case .notice(let notice, _)? = try everything.nextNotice() else { break }
            all.append(notice)
        }
        #expect(all.map(\.seq) == Array(1...last))
        for (index, (filter, plain)) in filters.enumerated() {
            let expected = all.filter { $0.kind == .test || plain($0) }.map(\.seq)
            let filterHasKind = filter.contains("kind=")
            let wanted = filterHasKind ? all.filter(plain).map(\.seq) : expected
            #expect(wanted.count > 1, "\(filter) selects something")
            try live[index].collect(timeout: 30) { $0.sequences(0).last == wanted.last }
            #expect(live[index].sequences(0) == wanted, "live \(filter)")
            let replay = try SubscriberSwarm(socket: daemon.socket, count: 1, subscribe: "SUBSCRIBE since=0 \(filter)")
            try replay.collect(timeout: 30) { $0.sequences(0).last == wanted.last }
            #expect(replay.sequences(0) == wanted, "replayed \(filter)")
        }
    }

    @Test("the daemon records a held alert for a case past 8 years once, and not again after a restart")
    func heldAlertThroughDaemon() throws {
        let daemon = try Daemon(start: false)
        try daemon.start(config: "housekeeping_interval = 1\n")
        let session = try daemon.raw()
        try session.send("SUBSCRIBE kind=held\n")
        _ = try session.answer()
        var since = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: Date())
        since.year = (since.year ?? 2026) - 9
        // The first of the month: a 29 February nine years back may not exist.
        let sinceText = String(format: "%04d-%02d-01", since.year ?? 0, since.month ?? 1)
        try daemon.casectl("add", "--name", "Литвиненко Остап", "--category", "military", "--status", "captive", "--since", sinceText)
        let alert = try #require(try session.line())
        #expect(alert.hasPrefix("N seq=2 id=C-000001 kind=held old=captive new=captive category=military "), "\(alert)")
        #expect(alert.contains(" threshold=8y "))
        #expect(daemon.stop() == 0)
        try daemon.start(extraArguments: ["--config", daemon.folder.appendingPathComponent("casetrackd.conf").path])
        // A second case past 8 years: its alert shows that the looks after the restart ran;
        // none of them may have repeated the first case's alert.
        let again = try daemon.raw()
        try again.send("SUBSCRIBE kind=held\n")
        _ = try again.answer()
        try daemon.casectl("add", "--name", "Литвиненко Ярина", "--category", "civilian", "--status", "captive", "--since", sinceText)
        let second = try #require(try again.line())
        #expect(second.hasPrefix("N seq=4 id=C-000002 kind=held "), "\(second): seq 3 is the new case, nothing in between")
        let history = try daemon.casectl("history", "C-000001", "--json").jsonLines()
        #expect(history.map { $0["kind"] as? String } == ["created", "held"])
    }

    @Test("casectl wait: at once, on the change, on timeout; test-notice reaches a watch --exec hook")
    func casectlScripts() throws {
        let daemon = try Daemon()
        try daemon.casectl("add", "--name", "Кузьменко Дарина", "--category", "civilian", "--status", "missing")
        let atOnce = try daemon.casectl("wait", "C-000001", "--until", "missing,captive")
        #expect(atOnce.status == 0 && atOnce.stdout == "C-000001 missing\n")
        let timedOut = try daemon.casectl("wait", "C-000001", "--until", "returned", "--timeout", "1s")
        #expect(timedOut.status == 124 && timedOut.stderr.contains("did not reach returned"))
        // --timeout 0: has it the status now?
        let now = try daemon.casectl("wait", "C-000001", "--until", "missing", "--timeout", "0")
        #expect(now.status == 0 && now.stdout == "C-000001 missing\n", "\(now.status) \(now.stderr)")
        #expect(try daemon.casectl("wait", "C-000001", "--until", "returned", "--timeout", "0").status == 124)
        #expect(try daemon.casectl("wait", "C-000009", "--until", "returned").status == 2)
        #expect(try daemon.casectl("wait", "C-000001", "--until", "home").status == 64)

        // wait blocks until the change, then returns 0.
        let waiter = Process()
        waiter.executableURL = Daemon.binDirectory.appendingPathComponent("casectl")
        waiter.arguments = ["wait", "C-000001", "--until", "returned", "--timeout", "60s", "--socket", daemon.socket]
        let output = Pipe()
        waiter.standardOutput = output
        try waiter.run()
        usleep(300_000)
        #expect(waiter.isRunning, "still waiting")
        try daemon.casectl("set-status", "C-000001", "captive")
        try daemon.casectl("set-status", "C-000001", "returned")
        waiter.waitUntilExit()
        #expect(waiter.terminationStatus == 0)
        #expect(String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) == "C-000001 returned\n")

        // A test notice runs the hook with the documented variables.
        let hookOutput = daemon.folder.appendingPathComponent("hook.txt").path
        let watch = Process()
        watch.executableURL = Daemon.binDirectory.appendingPathComponent("casectl")
        watch.arguments = ["watch", "--kind", "test", "--socket", daemon.socket, "--exec",
                           "echo \"$CASETRACK_SEQ|$CASETRACK_KIND|$CASETRACK_CASE|$CASETRACK_NOTICE\" >> \(hookOutput)"]
        watch.standardError = FileHandle.nullDevice
        try watch.run()
        defer { kill(watch.processIdentifier, SIGKILL); watch.waitUntilExit() }
        var sent = ""
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: hookOutput) {
            // The watcher may not be subscribed yet: a notice sent before it is not for it.
            sent = try daemon.casectl("test-notice", "--note", "hook check").stdout
            usleep(100_000)
        }
        let hooked = try String(contentsOfFile: hookOutput, encoding: .utf8)
        #expect(sent.hasPrefix("test notice sent: seq "))
        #expect(hooked.contains("|test||{\"seq\":"), "\(hooked)")
        #expect(hooked.contains("\"note\":\"hook check\""))
    }

    @Test("protocol errors of SUBSCRIBE and UNSUBSCRIBE change nothing and leave the connection usable")
    func badSubscriptions() throws {
        let daemon = try Daemon()
        let session = try daemon.raw()
        for (line, code) in [("SUBSCRIBE status=lost", "bad-argument"), ("SUBSCRIBE since=-1", "bad-argument"),
                             ("SUBSCRIBE since=abc", "bad-argument"), ("SUBSCRIBE kind=gossip", "bad-argument"),
                             ("SUBSCRIBE since=99", "bad-argument"), ("SUBSCRIBE id=X-1", "bad-argument"),
                             ("UNSUBSCRIBE", "bad-argument")] {
            try session.send(line + "\n")
            let answer = try session.answer()
            #expect(answer.count == 1 && answer[0].hasPrefix("ERR \(code) "), "\(line): \(answer)")
        }
        try session.send("SUBSCRIBE\n")
        #expect(try session.answer() == ["OK after=0 last=0"])
        try session.send("SUBSCRIBE\n")
        #expect(try session.answer().first?.hasPrefix("ERR already-subscribed ") == true)
        // Queries run on a subscribed connection; notices come between answers.
        try session.send("ADD name=\"Бондар Ірина\" category=civilian status=missing\nCOUNT\n")
        var lines: [String] = []
        while lines.filter({ $0.hasPrefix("OK") }).count < 2 { lines.append(try #require(try session.line())) }
        #expect(lines.contains { $0.hasPrefix("N seq=1 id=C-000001 kind=created old=- new=missing category=civilian ") })
        #expect(lines.last == "OK count=1" || lines.contains("OK count=1"))
        try session.send("UNSUBSCRIBE\n")
        #expect(try session.answer() == ["OK"])
        try daemon.casectl("test-notice")
        try session.send("PING\n")
        #expect(try session.answer() == ["OK"], "no notice after UNSUBSCRIBE")
    }

    @Test("a replay carries the names a case has now, even of an event a live subscriber got with the old names")
    func replayNamesAreCurrent() throws {
        let daemon = try Daemon()
        let live = try daemon.raw()
        try live.send("SUBSCRIBE\n")
        #expect(try live.answer() == ["OK after=0 last=0"])
        try daemon.casectl("add", "--name", "Кравець Ольга", "--category", "civilian", "--status", "missing")
        let first = try #require(try live.line())
        #expect(first.hasPrefix("N seq=1 ") && first.contains("names=\"Кравець Ольга\""), "\(first)")
        // The name was entered wrongly; corrected, later replays must not spread the old one.
        _ = try daemon.casectl("update", "C-000001", "--name", "Кравченко Ольга")
        let second = try #require(try live.line())
        #expect(second.hasPrefix("N seq=2 ") && second.contains("names=\"Кравченко Ольга\""), "\(second)")
        let replay = try daemon.raw()
        try replay.send("SUBSCRIBE since=0\n")
        #expect(try replay.answer() == ["OK after=0 last=2"])
        let replayed = [try #require(try replay.line()), try #require(try replay.line())]
        #expect(replayed.allSatisfy { $0.contains("names=\"Кравченко Ольга\"") && !$0.contains("Кравець") }, "\(replayed)")
    }

    @Test("JSON notices carry seq, id, kind, old and new; names only as a separate field")
    func jsonNotices() throws {
        let daemon = try Daemon()
        let session = try daemon.raw()
        try session.send("FORMAT json\nSUBSCRIBE\n")
        _ = try session.answer()
        _ = try session.answer()
        try daemon.casectl("add", "--name", "Гончаренко Марія", "--name", "Maria Honcharenko", "--category", "civilian",
                           "--status", "captive", "--tag", "medic")
        let line = try #require(try session.line())
        #expect(line.hasPrefix("N {"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.dropFirst(2).utf8)) as? [String: Any])
        #expect(object["seq"] as? Int == 1 && object["id"] as? String == "C-000001" && object["kind"] as? String == "created")
        #expect(object["old"] as? String == "-" && object["new"] as? String == "captive")
        #expect(object["names"] as? [String] == ["Гончаренко Марія", "Maria Honcharenko"])
        #expect(object["tags"] as? [String] == ["medic"])
    }

    @Test("on SIGTERM a subscriber is told where to resume")
    func stopTellsSubscribers() throws {
        let daemon = try Daemon()
        let session = try daemon.raw()
        try session.send("SUBSCRIBE\n")
        _ = try session.answer()
        try daemon.casectl("test-notice")
        #expect(try session.line()?.hasPrefix("N seq=1 id=- kind=test ") == true)
        #expect(daemon.stop() == 0)
        #expect(try session.line()?.hasPrefix("BYE shutting-down after=1 message=") == true)
        #expect(try session.line() == nil)
    }
}

enum CursorFile {
    static func contents(_ path: String) throws -> Int64? {
        Int64(try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

extension NoticeFilter {
    init(kinds: Set<EventKind>) {
        self.init()
        self.kinds = kinds
    }
}
