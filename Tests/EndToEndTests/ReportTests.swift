import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Testing
import TestThreads

/// `casectl report`: the page's figures against `casectl stats`, and the page as a person
/// sees it, rendered by Debian's chromium.
@Suite("The HTML report", .blocking)
struct ReportTests {
    static let chromium = "/usr/bin/chromium"

    /// A small register: both categories, every status, proofs of life, an exchange whose
    /// name needs escaping.
    static func register(_ daemon: Daemon) throws {
        func ok(_ arguments: String...) throws {
            let result = try daemon.casectl(arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
        }
        let people = [("Ткаченко Роман", "military", "captive", "2015-02"), ("Ковальова Інна", "civilian", "captive", "2016"),
                      ("Дорош Степан", "military", "missing", "2022-03-01"), ("Руденко Леся", "civilian", "missing", "2024-07"),
                      ("Климчук Павло", "military", "captive", "2023-01"), ("Стельмах Ірина", "civilian", "captive", "2019-11")]
        for (name, category, status, since) in people {
            try ok("add", "--name", name, "--category", category, "--status", status, "--since", since)
        }
        try ok("event", "C-000001", "sighting", "--kind", "video", "--at", "2024-02")
        try ok("event", "C-000002", "communication", "--kind", "letter", "--at", "2026-01")
        try ok("set-status", "C-000006", "deceased", "--at", "2025-05")
        try ok("exchange", "create", "Осінь <b>&amp;", "--date", "2026-10", "--phases", "2")
        try ok("exchange", "add", "Осінь <b>&amp;", "C-000003", "C-000005")
        try ok("exchange", "complete", "Осінь <b>&amp;", "--phase", "1", "--at", "2026-10-02")
    }

    /// The figures of the page: `data-cell` → number.
    static func cells(_ html: String) -> [String: Int] {
        var cells: [String: Int] = [:]
        var rest = html[...]
        while let start = rest.range(of: "data-cell=\"") {
            rest = rest[start.upperBound...]
            guard let close = rest.range(of: "\">"), let end = rest.range(of: "</td>") else { break }
            cells[String(rest[..<close.lowerBound])] = Int(rest[close.upperBound..<end.lowerBound])
            rest = rest[end.upperBound...]
        }
        return cells
    }

    /// As the page writes text: `<`, `>`, `&`, quotes.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func jsonLines(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    @Test("every figure on the page is what stats says; no names, no scripts, nothing fetched")
    func figures() throws {
        let daemon = try Daemon()
        try Self.register(daemon)
        let path = daemon.folder.appendingPathComponent("report.html").path
        let made = try daemon.casectl("report", "--html", path)
        #expect(made.status == 0 && made.stdout.hasPrefix("report written to \(path)"), "\(made.stderr)")
        let html = try String(contentsOfFile: path, encoding: .utf8)
        let cells = Self.cells(html)
        // A page that cannot be written says why, in the system's words.
        let nowhere = try daemon.casectl("report", "--html", daemon.folder.appendingPathComponent("no/such/report.html").path)
        #expect(nowhere.status == 1 && nowhere.stderr.contains("cannot write") && nowhere.stderr.contains("No such file or directory"),
                "\(nowhere.stderr)")
        #expect(cells.count > 60, "\(cells.count) figures")

        for line in Self.jsonLines(try daemon.casectl("--json", "stats").stdout) {
            let (status, category) = (line["status"] as? String ?? "", line["category"] as? String ?? "")
            #expect(cells["status:\(status):\(category)"] == line["count"] as? Int, "status \(status) \(category)")
        }
        let held = Self.jsonLines(try daemon.casectl("--json", "stats", "--by", "held", "--status", "missing,captive").stdout)
        let proof = Self.jsonLines(try daemon.casectl("--json", "stats", "--by", "proof").stdout)
        for (table, lines) in [("held", held), ("proof", proof)] {
            #expect(lines.count >= 10)
            for line in lines {
                let key = "\(table):\(line["bucket"] as? String ?? ""):\(line["category"] as? String ?? "")"
                #expect(cells[key] == line["count"] as? Int, "\(key)")
            }
        }
        #expect(cells["proof:1y-3y:military"] == 1 && cells["proof:3m-12m:civilian"] == 1 && cells["proof:never:civilian"] == 1)
        for line in Self.jsonLines(try daemon.casectl("--json", "stats", "--by", "exchange").stdout) {
            let key = "exchanges:\(Self.escape(line["exchange"] as? String ?? ""))/\(line["phase"] as? Int ?? 0)"
            #expect(cells["\(key):listed"] == line["listed"] as? Int && cells["\(key):returned"] == line["returned"] as? Int, "\(key)")
        }
        #expect(cells["exchanges:Осінь &lt;b&gt;&amp;amp;/1:returned"] == 2, "the exchange's name escaped, its figures there")
        // The months: the last is today, and counts the open cases as the status table does.
        let today = Timestamp(unixMilliseconds: Int64(Date().timeIntervalSince1970 * 1000)).day
        for status in ["missing", "captive"] {
            for category in ["military", "civilian"] {
                #expect(cells["months:\(today):\(status) \(category)"] == cells["status:\(status):\(category)"], "\(status) \(category)")
            }
        }
        #expect(cells["months:\(today):captive military"] == 1 && cells["months:\(today):captive civilian"] == 1,
                "two still held after the exchange and a death")

        for name in ["Ткаченко", "Ковальова", "Дорош", "Руденко", "Климчук", "Стельмах"] { #expect(!html.contains(name)) }
        #expect(!html.contains("<script") && !html.contains("http://") && !html.contains("https://") && !html.contains("<b>"),
                "self-contained, nothing to run or fetch, text escaped")

        // The past: at the end of 2026-09-30 nobody had come home yet; the exchange came later.
        let past = daemon.folder.appendingPathComponent("past.html").path
        #expect(try daemon.casectl("report", "--html", past, "--as-of", "2026-09-30", "--category", "military").status == 0)
        let before = Self.cells(try String(contentsOfFile: past, encoding: .utf8))
        let pastStats = Self.jsonLines(try daemon.casectl("--json", "stats", "--as-of", "2026-09-30", "--category", "military").stdout)
        for line in pastStats {
            guard line["category"] as? String == "military" else { continue }
            #expect(before["status:\(line["status"] as? String ?? ""):military"] == line["count"] as? Int)
        }
        #expect(before["status:returned:civilian"] == nil, "one category only")
    }

    @Test("chromium renders the page: a screenshot a person would look at",
          .enabled(if: FileManager.default.isExecutableFile(atPath: ReportTests.chromium), "needs Debian's chromium (make test installs it)"))
    func rendered() throws {
        let daemon = try Daemon()
        try Self.register(daemon)
        let page = daemon.folder.appendingPathComponent("report.html").path
        #expect(try daemon.casectl("report", "--html", page).status == 0)
        let shot = daemon.folder.appendingPathComponent("report.png").path
        let profile = daemon.folder.appendingPathComponent("chromium-profile").path
        let result = try DaemonProcess.run(URL(fileURLWithPath: Self.chromium), [
            "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(profile)", "--screenshot=\(shot)",
            "--window-size=1000,2600", "file://\(page)",
        ])
        #expect(result.status == 0, "\(result.stderr.suffix(500))")
        let png = try Data(contentsOf: URL(fileURLWithPath: shot))
        #expect(png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), "a PNG")
        // Width and height from the IHDR chunk: the window asked for.
        let width = png[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = png[20..<24].reduce(0) { $0 << 8 | Int($1) }
        #expect(width == 1000 && height == 2600, "\(width)×\(height)")
        // A blank page compresses to a few kilobytes; charts, tables and text do not.
        #expect(png.count > 60_000, "\(png.count) bytes: the page rendered empty?")
    }
}
