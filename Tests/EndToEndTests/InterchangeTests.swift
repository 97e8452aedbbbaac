import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Synchronization
import Testing

@Suite("Import, export and backup against the real daemon")
struct ImportExportTests {
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
        let last = try daemon.lastSequence()
        #expect(last == 50_000, "one created event per case")
        let again = try daemon.casectl("import", file, "--json")
        #expect(try again.json()["added"] as? Int == 0 && (try again.json()["existing"] as? Int) == 50_000)
        #expect(try daemon.lastSequence() == last, "a second import changes nothing")
        #expect(try daemon.casectl("count").stdout == "50000\n")
        // Notes with a comma, quotes and a line break came through.
        let noted = try daemon.client().request(Request(verb: "GET", positional: ["C-000001"])).data.first?.string("notes")
        #expect(noted == "Сім'я, \"контакт\"\nчерез ГО")
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

    @Test("export round-trips through import, as CSV and as JSON lines; importing an export back changes nothing")
    func roundTrip() throws {
        let source = try Daemon()
        try Self.populate(try source.client())
        let original = try source.casectl("export", "--format", "json").jsonLines()
        #expect(original.count == 150)
        for format in ["csv", "json"] {
            let file = source.folder.appendingPathComponent("export.\(format)").path
            let exported = try source.casectl("export", "--format", format, "--output", file)
            #expect(exported.status == 0, "\(exported.stderr)")
            var info = stat()
            #expect(stat(file, &info) == 0 && info.st_mode & 0o777 == 0o600, "an export holds personal data: 0600")
            let target = try Daemon()
            let imported = try target.casectl("import", file)
            #expect(imported.stdout.hasSuffix("150 rows, 150 added, 0 on record already\n"), "\(format): \(imported.stderr.prefix(800))")
            let copy = try target.casectl("export", "--format", "json").jsonLines()
            let same = Self.comparable(copy) == Self.comparable(original)
            #expect(same, "\(format): \(Set(Self.comparable(copy)).symmetricDifference(Self.comparable(original)).prefix(2))")
            let back = try source.casectl("import", file)
            #expect(back.stdout.hasSuffix("150 rows, 0 added, 150 on record already\n"), "\(format): \(back.stderr.prefix(500))")
        }
    }

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
}
