import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Synchronization
import Testing

@Suite("Import, export and backup against the real daemon")
struct ImportExportTests {
    @Test("export round-trips through import, as CSV and as JSON lines; importing an export back changes nothing")
    func roundTrip() throws {
        let source = try Daemon()
        try Self.populate(try source.client())
        // The first line names the chain head, as verify does.
        let verified = try source.casectl("verify", "--json").json()
        let head = try #require(verified["head"] as? String)
        let seq = try #require(verified["last_seq"] as? Int)
        let lines = try source.casectl("export", "--format", "json").jsonLines()
        let named = lines.first?["casetrack_export"] as? [String: Any]
        #expect(named?["head"] as? String == head && named?["head_seq"] as? Int == seq, "\(lines.first ?? [:])")
        let original = Array(lines.dropFirst())
        #expect(original.count == 150)
        let plain = try source.casectl("export", "--no-head")
        #expect(plain.lines.first?.hasPrefix("id,status,") == true, "\(plain.lines.first ?? "")")
        for format in ["csv", "json"] {
            let file = source.folder.appendingPathComponent("export.\(format)").path
            let exported = try source.casectl("export", "--format", format, "--output", file)
            #expect(exported.status == 0, "\(exported.stderr)")
            if format == "csv" {
                let first = try String(contentsOfFile: file, encoding: .utf8).prefix { $0 != "\n" }
                #expect(first == "# casetrack export: chain head \(head) at event \(seq)")
            }
            var info = stat()
            #expect(stat(file, &info) == 0 && info.st_mode & 0o777 == 0o600, "an export holds personal data: 0600")
            let target = try Daemon()
            let imported = try target.casectl("import", file)
            #expect(imported.stdout.hasSuffix("150 rows, 150 added, 0 on record already\n"), "\(format): \(imported.stderr.prefix(800))")
            let copy = Array(try target.casectl("export", "--format", "json").jsonLines().dropFirst())
            let same = Self.comparable(copy) == Self.comparable(original)
            #expect(same, "\(format): \(Set(Self.comparable(copy)).symmetricDifference(Self.comparable(original)).prefix(2))")
            let back = try source.casectl("import", file)
            #expect(back.stdout.hasSuffix("150 rows, 0 added, 150 on record already\n"), "\(format): \(back.stderr.prefix(500))")
        }
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
            // Identity fields, in some rows only: they must round-trip too, and be absent where not set.
            if index % 3 == 1 { options += [("sex", index % 2 == 0 ? "female" : "male"), ("birth_place", "Ніжин, Чернігівщина")] }
            if new.category == .military, index % 2 == 0 { options += [("service_number", "ЖС-\(400_000 + index)"), ("rank", "молодший сержант")] }
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
}
