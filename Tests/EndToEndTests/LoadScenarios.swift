import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Synchronization
import Testing
import TestThreads

/// The load scenarios: many subscribers, many rows, kill -9 and backup under a write load.
/// They take most of the suite's time, so they are a suite of their own that a quick local
/// run leaves out (`make test-quick`, which is `swift test --skip LoadScenarios`); `make test`
/// and CI run them.
@Suite("Load scenarios", .blocking)
struct LoadScenarios {
    /// `count` synthetic rows as CSV (the header first); `bad` rows get an unknown category.
    static func registry(_ count: Int, bad: Set<Int> = []) -> String {
        var random = SeededRandom(seed: 50_000)
        let today = Day(unixMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
        var lines = [CaseFile.csvLine(["names", "category", "status", "since", "birth", "unit", "tags", "refs", "notes"])]
        lines.reserveCapacity(count + 1)
        for index in 0..<count {
            let new = Synthetic.newCase(&random, today: today)
            lines.append(CaseFile.csvLine([
                new.names.joined(separator: "|"), bad.contains(index) ? "militari" : new.category.rawValue, new.status.rawValue,
                new.since?.description ?? "", new.birth?.description ?? "", new.unit ?? "", new.tags.joined(separator: "|"),
                "REG-\(index)|LIST-\(index % 7)-\(index)", index % 10 == 0 ? "Сім'я, \"контакт\"\nчерез ГО" : "",
            ]))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    // From NoticeTests.
    @Test("100 subscribers each receive every one of 10,000 status changes from 8 writers, in order, once")
    func fanOut() throws {
        let daemon = try Daemon()
        let cases = try daemon.openCases(80)
        let swarm = try SubscriberSwarm(socket: daemon.socket, count: 100, subscribe: "SUBSCRIBE kind=status")
        let acknowledged = AcknowledgedSequences()
        let socket = daemon.socket
        // 8 writers, 10 cases each, 125 rounds: 10,000 status changes.
        let writers = (0..<8).map { writer in
            Thread {
                try? Daemon.toggle(socket: socket, cases: Array(cases[(writer * 10)..<(writer * 10 + 10)]), rounds: 125,
                                   into: acknowledged)
            }
        }
        writers.forEach { $0.start() }
        try swarm.collect(timeout: 300) { swarm in
            (0..<100).allSatisfy { swarm.lines[$0].count >= 10_000 }
        }
        while writers.contains(where: { !$0.isFinished }) { usleep(5_000) }
        let expected = acknowledged.all.sorted()
        #expect(expected.count == 10_000 && !expected.contains(-1), "every write was acknowledged")
        #expect(Set(expected).count == 10_000)
        for index in 0..<100 {
            let received = swarm.sequences(index)
            #expect(received == expected, "subscriber \(index): \(received.count) notices, first difference at \(zip(received, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1)")
        }
    }

    // From NoticeTests.
    @Test("kill -9 under a write load: no hole in the log, every acknowledged change kept, watch --exec runs once per event")
    func watchThroughCrash() throws {
        let daemon = try Daemon()
        let cases = try daemon.openCases(20)
        let seen = daemon.folder.appendingPathComponent("seen.txt").path
        let cursor = daemon.folder.appendingPathComponent("cursor").path
        let watch = Process()
        watch.executableURL = Daemon.binDirectory.appendingPathComponent("casectl")
        watch.arguments = ["watch", "--after", "0", "--cursor-file", cursor, "--exec", "echo \"$CASETRACK_SEQ $CASETRACK_CASE $CASETRACK_NEW\" >> \(seen)"]
        watch.environment = ProcessInfo.processInfo.environment.merging(["CASETRACK_SOCKET": daemon.socket]) { $1 }
        watch.standardError = FileHandle.nullDevice
        try watch.run()
        defer { if watch.isRunning { kill(watch.processIdentifier, SIGKILL); watch.waitUntilExit() } }

        // Two writers note what the daemon acknowledged: "seq case status".
        let acknowledged = Acknowledged()
        let socket = daemon.socket
        func load(_ cases: [String], rounds: Int) -> Thread {
            Thread {
                guard let client = try? CasetrackClient(socketPath: socket) else { return }
                for round in 0..<rounds {
                    let status = round % 2 == 0 ? "captive" : "missing"
                    do {
                        for id in cases { try client.send(Request(verb: "SET-STATUS", positional: [id, status])) }
                        for _ in cases {
                            // A refusal (after the crash a case may already have that status) is
                            // no acknowledgement; a lost connection is the crash.
                            guard case .success(let final) = try client.receive().outcome else { continue }
                            acknowledged.add("\(final.int("seq") ?? -1) \(final.string("id") ?? "?") \(status)")
                        }
                    } catch {
                        return
                    }
                }
            }
        }
        let writers = [load(Array(cases[0..<10]), rounds: 1_000), load(Array(cases[10..<20]), rounds: 1_000)]
        writers.forEach { $0.start() }
        let started = ContinuousClock.now
        while acknowledged.ids.count < 300, ContinuousClock.now - started < .seconds(60) { usleep(1_000) }
        daemon.crash()
        while writers.contains(where: { !$0.isFinished }) { usleep(5_000) }
        try daemon.start()
        let after = [load(Array(cases[0..<10]), rounds: 6), load(Array(cases[10..<20]), rounds: 6)]
        after.forEach { $0.start() }
        while after.contains(where: { !$0.isFinished }) { usleep(5_000) }
        let last = try #require(try daemon.client().request(Request(verb: "TEST-NOTICE")).get().int("seq"))

        // The log: 1...last without a hole, and every acknowledged change in it as acknowledged.
        let rows = try Daemon.run(URL(fileURLWithPath: "/usr/bin/sqlite3"),
                                  [daemon.database, "SELECT seq, case_id, new_status FROM events WHERE kind = 'status' ORDER BY seq;",
                                   ]).lines
        let stored = Set(rows.map { row -> String in
            let parts = row.split(separator: "|")
            return "\(parts[0]) \(CaseID(number: Int64(parts[1]) ?? 0)) \(parts.count > 2 ? parts[2] : "")"
        })
        let missing = acknowledged.ids.filter { !stored.contains($0) }
        #expect(missing.isEmpty, "acknowledged but not in the log: \(missing.prefix(5))")
        let range = try Daemon.run(URL(fileURLWithPath: "/usr/bin/sqlite3"), [daemon.database, "SELECT count(*), min(seq), max(seq) FROM events;"])
        #expect(range.stdout == "\(last)|1|\(last)\n", "no hole in the sequence numbers")

        // The watcher caught up through the crash and ran its command once per event, in order.
        let deadline = ContinuousClock.now + .seconds(180)
        while (try? CursorFile.contents(cursor)) != last, ContinuousClock.now < deadline { usleep(20_000) }
        #expect(try CursorFile.contents(cursor) == last)
        let runs = try String(contentsOfFile: seen, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(runs.map { Int64($0.prefix { $0 != " " }) ?? -1 } == Array(1...last), "once per event, in order (\(runs.count) runs for \(last) events)")
        let hooked = Set(runs)
        #expect(acknowledged.ids.allSatisfy { hooked.contains($0) }, "every acknowledged change reached the hook with its case and status")
    }

    // From InterchangeTests.
    @Test("50,000 rows: one bad row imports nothing and is named by line and field; a second import changes nothing; a stopped import resumes")
    func fiftyThousand() throws {
        // No time alerts: the event count is then exactly what the imports wrote.
        let daemon = try Daemon(start: false)
        try daemon.start(config: "held_alerts = off\n")
        let bad = daemon.folder.appendingPathComponent("bad.csv").path
        try Self.registry(50_000, bad: [29_999]).write(toFile: bad, atomically: true, encoding: .utf8)
        let refused = try daemon.casectl("import", bad)
        #expect(refused.status == 65)
        // Row 30,000 starts on line 33,001: the header, and a note with a line break in every tenth row before it.
        #expect(refused.stderr.contains("line 33001, field category: 'militari' is not a category"), "\(refused.stderr.prefix(500))")
        #expect(refused.stderr.contains("1 problem; nothing was imported"))
        #expect(try daemon.lastSequence() == 0 && (try daemon.casectl("count").stdout) == "0\n")

        // The first 5,000 rows (the same generator, the same rows), as if an import had stopped
        // there; then the whole file.
        let part = daemon.folder.appendingPathComponent("part.csv").path
        try Self.registry(5_000).write(toFile: part, atomically: true, encoding: .utf8)
        let file = daemon.folder.appendingPathComponent("registry.csv").path
        try Self.registry(50_000).write(toFile: file, atomically: true, encoding: .utf8)
        let first = try daemon.casectl("import", part)
        #expect(first.stdout == "\(part): 5000 rows, 5000 added, 0 on record already\n", "\(first.stderr.prefix(500))")
        let resumed = try daemon.casectl("import", file)
        #expect(resumed.stdout == "\(file): 50000 rows, 45000 added, 5000 on record already\n", "\(resumed.stderr.prefix(500))")
        // One created event per case, and a possible-duplicate event per case casectl said
        // was probably a case on record already (the generated names repeat).
        func flagged(_ stderr: String) -> Int {
            stderr.split(separator: "\n").compactMap { line -> Int? in
                guard line.contains("of the cases added are probably the same person") else { return nil }
                return Int(line.split(separator: " ")[1])
            }.reduce(0, +)
        }
        let last = try daemon.lastSequence()
        #expect(last == Int64(50_000 + flagged(first.stderr) + flagged(resumed.stderr)), "one created event per case")
        let again = try daemon.casectl("import", file, "--json")
        #expect(try again.json()["added"] as? Int == 0 && (try again.json()["existing"] as? Int) == 50_000)
        #expect(try daemon.lastSequence() == last, "a second import changes nothing")
        #expect(try daemon.casectl("count").stdout == "50000\n")
        // Notes with a comma, quotes and a line break came through.
        let noted = try daemon.client().request(Request(verb: "GET", positional: ["C-000001"])).data.first?.string("notes")
        #expect(noted == "Сім'я, \"контакт\"\nчерез ГО")
    }

    // From InterchangeTests.
    @Test("backup during a write load: the restored daemon has every case and event through the backup's sequence number, and nothing after")
    func backupUnderLoad() throws {
        let daemon = try Daemon()
        let socket = daemon.socket
        // Each acknowledged write: its sequence number and the record as it then was.
        let acknowledged = Mutex<[(seq: Int64, record: CaseRecord)]>([])
        let running = Atomic<Bool>(true)
        func writer(_ number: Int) -> Thread {
            Thread {
                guard let client = try? CasetrackClient(socketPath: socket) else { return }
                var ids: [String] = []
                var round = 0
                while running.load(ordering: .relaxed) {
                    round += 1
                    let request = ids.count < 20 || round % 3 == 0
                        ? Request(verb: "ADD", options: [("name", "Мельник Богдан \(number)-\(round)"), ("category", "military"),
                                                         ("status", "captive"), ("ref", "BK-\(number)-\(round)")])
                        : Request(verb: "SET-STATUS", positional: [ids[round % ids.count], round % 2 == 0 ? "captive" : "missing"])
                    guard let answer = try? client.request(request), case .success(let final) = answer.outcome,
                          let fields = answer.data.first, let record = try? CaseRecord(fields: fields), let seq = final.int("seq")
                    else { continue }
                    if request.verb == "ADD" { ids.append(record.id.description) }
                    acknowledged.withLock { $0.append((seq, record)) }
                }
            }
        }
        let writers = [writer(1), writer(2)]
        writers.forEach { $0.start() }
        while acknowledged.withLock({ $0.count }) < 300 { usleep(2_000) }
        let file = daemon.folder.appendingPathComponent("backup.db").path
        let backup = try daemon.casectl("backup", file, "--json")
        while acknowledged.withLock({ $0.count }) < 600 { usleep(2_000) }
        running.store(false, ordering: .relaxed)
        while writers.contains(where: { !$0.isFinished }) { usleep(5_000) }
        #expect(backup.status == 0, "\(backup.stderr)")
        let last = Int64(try backup.json()["last"] as? Int ?? -1)
        let head = try #require(try backup.json()["head"] as? String)
        // The text form names the head too: the line an operator keeps beside the copy.
        let again = try daemon.casectl("backup", file + ".2")
        #expect(again.stdout.contains("chain head "), "\(again.stdout)")
        #expect(!head.isEmpty)
        let all = acknowledged.withLock { $0 }
        #expect(all.contains { $0.seq > last }, "writes went on after the backup")
        #expect(all.contains { $0.seq <= last })
        var info = stat()
        #expect(stat(file, &info) == 0 && info.st_mode & 0o777 == 0o600)

        // What the backup must hold: each case as its last acknowledged write up to `last` left it.
        var expected: [CaseID: (seq: Int64, record: CaseRecord)] = [:]
        for write in all where write.seq <= last {
            if (expected[write.record.id]?.seq ?? 0) < write.seq { expected[write.record.id] = write }
        }
        let restored = try Daemon(start: false)
        try FileManager.default.copyItem(atPath: file, toPath: restored.database)
        try restored.start()
        let client = try restored.client()
        let records = try client.list(CaseFilter())
        #expect(records.count == expected.count)
        let same = records == expected.values.map(\.record).sorted { $0.id < $1.id }
        #expect(same, "every case as acknowledged at the backup's sequence number")
        #expect(try restored.lastSequence() == last)

        // The event log: the same lines, 1 to `last`, in both daemons.
        func replay(_ daemon: Daemon) throws -> [String] {
            let session = try daemon.raw()
            try session.send("SUBSCRIBE since=0\n")
            var lines: [String] = []
            while let line = try session.line() {
                if line.hasPrefix("N ") { lines.append(line) }
                if line.hasPrefix("N seq=\(last) ") { break }
            }
            return lines
        }
        let original = try replay(daemon)
        #expect(original.count == Int(last))
        #expect(try replay(restored) == original)
    }

    // From DurabilityTests.
    @Test("kill -9 in the middle of a write load loses no acknowledged write", arguments: [40, 120, 250])
    func crashUnderLoad(afterMilliseconds delay: Int) throws {
        let daemon = try Daemon()
        let socket = daemon.socket
        let acknowledged = Acknowledged()
        // Four writers pipeline 20 writes at a time and note each id the daemon acknowledges.
        let writers = (0..<4).map { writer in
            Thread {
                guard let client = try? CasetrackClient(socketPath: socket) else { return }
                var index = 0
                while true {
                    do {
                        for _ in 0..<20 {
                            index += 1
                            try client.send(Request(verb: "ADD", options: [
                                ("name", "Ткаченко Андрій \(writer)-\(index)"), ("category", "civilian"),
                                ("status", "missing"), ("ref", "W\(writer)-\(index)"),
                            ]))
                        }
                        for _ in 0..<20 {
                            let final = try client.receive().get()
                            acknowledged.add(final.string("id") ?? "")
                        }
                    } catch {
                        return
                    }
                }
            }
        }
        writers.forEach { $0.start() }
        // The load must be running before the clock starts: wait for the first acknowledgements.
        let started = ContinuousClock.now
        while acknowledged.ids.count < 20, ContinuousClock.now - started < .seconds(20) { usleep(1_000) }
        usleep(useconds_t(delay * 1_000))
        daemon.crash()
        while writers.contains(where: { !$0.isFinished }) { usleep(5_000) }
        let ids = acknowledged.ids
        #expect(!ids.isEmpty, "the load ran before the crash")
        try daemon.start()
        let client = try daemon.client()
        let stored = Set(try client.list(CaseFilter()).map(\.id.description))
        let lost = ids.filter { !stored.contains($0) }
        #expect(lost.isEmpty, "acknowledged but lost: \(lost.prefix(5))")
        let integrity = try Daemon.run(URL(fileURLWithPath: "/usr/bin/sqlite3"), [daemon.database, "PRAGMA integrity_check;"])
        #expect(integrity.stdout == "ok\n")
        // Numbering goes on without reusing an acknowledged id or sequence number.
        let next = try client.request(Request(verb: "ADD", options: [("name", "Поліщук Олена"), ("category", "civilian"),
                                                                     ("status", "missing")])).get()
        #expect(!ids.contains(next.string("id") ?? ""))
        #expect((next.int("seq") ?? 0) == Int64(stored.count + 1))
    }
}
