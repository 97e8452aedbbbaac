@testable import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Testing
import TestThreads

/// Bad input of every kind against the real daemon: each gets a clear answer, leaves the
/// database as it was, and the daemon goes on serving everyone else.
@Suite("Hostile input and limits", .serialized, .blocking)
final class HostileInputTests {
    let daemon: Daemon

    init() throws {
        daemon = try Daemon(start: false)
        try daemon.start(config: "line_timeout = 2\n", extraArguments: ["--log-level", "notice"])
        _ = try daemon.client().request(Request(verb: "ADD", options: [("name", "Мороз Наталія"), ("category", "civilian"),
                                                                       ("status", "missing")])).get()
    }

    /// Runs `attack` and checks that the database did not change and a new client is served.
    func unchanged(_ attack: () throws -> Void) throws {
        let before = try daemon.dump()
        try attack()
        #expect(try daemon.dump() == before, "the database changed")
        let other = try daemon.raw()
        try other.send("PING\n")
        #expect(try other.answer() == ["OK"], "another client is still served")
    }

    static let malformedLines: [MalformedLine] = [
        MalformedLine(bytes: [0xFF, 0xFE, 0x41, 0x0A], "ERR invalid-utf8 "),
        MalformedLine("GET C-0\u{0}01\n", "ERR bad-request "),
        MalformedLine("ADD name=\"Бойко category=military status=missing\n", "ERR bad-request "),
        MalformedLine("ADD name=Бойко\u{7}Ігор category=military status=missing\n", "ERR bad-request "),
        MalformedLine("ADD name=\"Бойко \u{1B}[31mІгор\" category=military status=missing\n", "ERR bad-request "),
        MalformedLine("LIST limit=99999999999999999999999\n", "ERR bad-argument "),
        MalformedLine("SUBSCRIBE since=99999999999999999999\n", "ERR bad-argument "),
        MalformedLine("GET C-99999999999999999999\n", "ERR bad-argument "),
        MalformedLine("SET-STATUS C-000001 captive expect_version=-1\n", "ERR bad-argument "),
        MalformedLine("ADD name=Жук category=military status=missing since=-0001-01-01\n", "ERR bad-argument "),
        MalformedLine("ADD name=Жук category=military status=missing since=2022-02-30\n", "ERR bad-argument "),
        MalformedLine("ADD name=Жук category=military status=missing since=10000-01-01\n", "ERR bad-argument "),
        MalformedLine("ADD name=Жук category=military status=missing birth=1800-13-01\n", "ERR bad-argument "),
        MalformedLine("GET \"C-1' OR '1'='1\"\n", "ERR bad-argument "),
        MalformedLine("DROP TABLE cases\n", "ERR unknown-verb "),
        MalformedLine("FETCH C-000001\n", "ERR unknown-verb "),
        MalformedLine("ADD name=Жук category=military status=missing status=captive\n", "ERR bad-argument "),
        MalformedLine(String(repeating: "A", count: 70_000) + "\n", "ERR line-too-long "),
    ]

    @Test("malformed lines: each gets its error code, nothing changes", arguments: HostileInputTests.malformedLines)
    func malformed(_ line: MalformedLine) throws {
        let bytes = line.bytes, expected = line.expected
        try unchanged {
            let session = try daemon.raw()
            try session.send(bytes: bytes)
            let answer = try session.answer()
            #expect(answer.count == 1 && answer[0].hasPrefix(expected) && answer[0].contains("message="), "\(answer)")
            // The connection stays in step: the next request is answered.
            try session.send("PING\n")
            #expect(try session.answer() == ["OK"])
        }
    }

    @Test("SQL in a value is only ever a value")
    func sqlLooking() throws {
        try unchanged {
            let session = try daemon.raw()
            try session.send("COUNT name=\"'; DROP TABLE cases; --\"\nLIST name=\"%' OR 1=1 --\"\nCOUNT tag=\"x' OR 'a'='a\"\n")
            #expect(try session.answer() == ["OK count=0"])
            #expect(try session.answer() == ["OK count=0"])
            #expect(try session.answer().first?.hasPrefix("ERR bad-argument message=\"tag: ") == true)
        }
        let added = try daemon.client().request(Request(verb: "ADD", options: [
            ("name", "Robert'); DROP TABLE cases;--"), ("category", "civilian"), ("status", "missing")])).get()
        let id = try #require(added.string("id").flatMap(CaseID.init))
        #expect(try daemon.client().get(id)?.names == ["Robert'); DROP TABLE cases;--"])
    }

    @Test("10,000 pipelined bad lines: 10,000 errors in order, then the connection still works")
    func pipelinedGarbage() throws {
        try unchanged {
            let session = try daemon.raw()
            var text = ""
            for index in 0..<10_000 { text += index % 2 == 0 ? "BOGUS \(index)\n" : "GET \"unterminated\n" }
            try session.send(text)
            var unknown = 0, bad = 0
            for index in 0..<10_000 {
                let answer = try session.answer()
                if index % 2 == 0, answer.first?.hasPrefix("ERR unknown-verb ") == true { unknown += 1 }
                if index % 2 == 1, answer.first?.hasPrefix("ERR bad-request ") == true { bad += 1 }
            }
            #expect(unknown == 5_000 && bad == 5_000)
            try session.send("PING\n")
            #expect(try session.answer() == ["OK"])
        }
    }

    @Test("a line that never ends: a final BYE after line_timeout, then the connection closes")
    func neverEndingLine() throws {
        try unchanged {
            let session = try daemon.raw()
            try session.send("GET C-0000")
            let bye = try session.line()
            #expect(bye?.hasPrefix("BYE limit-exceeded limit=line_timeout ") == true, "\(bye ?? "nil")")
            #expect(try session.line() == nil, "closed after the BYE")
        }
        #expect(daemon.readAvailableOutput().contains("limit=line_timeout"), "the disconnect is logged")
    }

    @Test("a write never ended, cut off by line_timeout, is not run after the connection closes")
    func unfinishedWriteNotRun() throws {
        try unchanged {
            let session = try daemon.raw()
            try session.send("SET-STATUS C-000001 deceased")
            let bye = try session.line()
            #expect(bye?.hasPrefix("BYE limit-exceeded limit=line_timeout ") == true, "\(bye ?? "nil")")
            #expect(try session.line() == nil, "closed after the BYE")
            // Nothing to await for a change that must not come: run as it was, the cut line
            // was made within milliseconds of the close.
            usleep(1_000_000)
        }
    }

    @Test("a client that connects and sends nothing is kept and costs nobody anything")
    func silentClient() throws {
        let silent = try daemon.raw()
        #expect(silent.greeting.hasPrefix("HELLO protocol=1 ") && silent.greeting.contains("role=admin"))
        try unchanged { sleep(3) }  // longer than line_timeout: no partial line, so no cut
        try silent.send("PING\n")
        #expect(try silent.answer() == ["OK"])
    }

    @Test("a client that half-closes gets the answers to what it sent, then the end")
    func halfClose() throws {
        try unchanged {
            let session = try daemon.raw()
            try session.send("PING\nGET C-000001")
            session.halfClose()
            #expect(try session.answer() == ["OK"])
            let record = try session.answer()
            #expect(record.first?.contains("Мороз") == true && record.last?.hasPrefix("OK") == true)
            #expect(try session.line() == nil)
        }
    }
}

/// One bad request and the start of the answer it must get.
struct MalformedLine: Sendable, CustomTestStringConvertible {
    let bytes: [UInt8]
    let expected: String

    init(_ text: String, _ expected: String) { self.init(bytes: Array(text.utf8), expected) }

    init(bytes: [UInt8], _ expected: String) {
        self.bytes = bytes
        self.expected = expected
    }

    var testDescription: String { String(decoding: bytes.prefix(60), as: UTF8.self).debugDescription }
}

@Suite("Limits under pressure", .serialized, .blocking)
struct LimitTests {
    @Test("thousands of connections at once: the allowed number served, the rest told why; then all is well")
    func connectionFlood() throws {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let connections = min(2_000, Int(limit.rlim_cur) - 200)
        let daemon = try Daemon(start: false)
        // Warnings only: a notice per refused connection would fill the harness's output pipe.
        try daemon.start(config: "max_connections = 1000\nmax_connections_per_uid = 600\n")
        var open: [RawSession] = []
        var served = 0, refused = 0, other = 0
        for _ in 0..<connections {
            let session = try daemon.raw()
            if session.greeting.hasPrefix("HELLO ") { served += 1; open.append(session) }
            else if session.greeting.hasPrefix("BYE limit-exceeded limit=max_connections_per_uid ") { refused += 1 }
            else { other += 1 }
        }
        #expect(served == 600 && refused == connections - 600 && other == 0, "served \(served), refused \(refused), other \(other)")
        // The admitted ones all still work.
        for session in open { try session.send("PING\n") }
        var pings = 0
        for session in open where try session.answer() == ["OK"] { pings += 1 }
        #expect(pings == 600)
        open.removeAll()
        // Closed connections free their places.
        var again = 0
        for _ in 0..<50 {
            if let session = try? daemon.raw(), session.greeting.hasPrefix("HELLO ") { again += 1; break }
            usleep(100_000)
        }
        #expect(again == 1)
    }

    @Test("request rate, subscribers, answer size and a client that never reads: each limit answers clearly")
    func perConnectionLimits() throws {
        let daemon = try Daemon(start: false)
        try daemon.start(config: """
            request_rate = 200
            max_subscribers = 1
            output_buffer = 65536
            send_timeout = 2
            """, extraArguments: ["--log-level", "notice"])
        let writer = try daemon.client()
        let notes = String(repeating: "запис ", count: 1_500)
        for index in 0..<12 {
            _ = try writer.request(Request(verb: "ADD", options: [("name", "Яценко Юрій \(index)"), ("category", "military"),
                                                                  ("status", "captive"), ("notes", notes)])).get()
        }
        // Too fast: beyond one second's burst, requests are refused, not run.
        // Whatever this machine's speed: no more than one second's burst plus the rate times
        // the time it took were run, and some were.
        let fast = try daemon.raw()
        let started = ContinuousClock.now
        try fast.send(String(repeating: "PING\n", count: 2_000))
        var limited = 0, ran = 0
        for _ in 0..<2_000 {
            let answer = try fast.answer().first ?? ""
            if answer.hasPrefix("ERR limit-exceeded limit=request_rate ") { limited += 1 } else if answer == "OK" { ran += 1 }
        }
        let seconds = Double((ContinuousClock.now - started).components.seconds) + 1
        #expect(limited + ran == 2_000 && ran >= 200 && Double(ran) <= 200 * (1 + seconds) + 1,
                "\(ran) run, \(limited) refused in about \(seconds) s")
        if 200 * (1 + seconds) < 1_900 { #expect(limited > 0, "2,000 requests came faster than 200 a second") }
        // One subscription allowed.
        let first = try daemon.raw(), second = try daemon.raw()
        try first.send("SUBSCRIBE\n")
        #expect(try first.answer().last?.hasPrefix("OK") == true)
        try second.send("SUBSCRIBE\n")
        #expect(try second.answer().last?.hasPrefix("ERR limit-exceeded limit=max_subscribers ") == true)
        // An answer larger than output_buffer is refused with a way out.
        let reader = try daemon.raw()
        try reader.send("LIST limit=12\nLIST limit=2\n")
        let big = try reader.answer()
        #expect(big.count == 1 && big[0].hasPrefix("ERR limit-exceeded limit=output_buffer ") && big[0].contains("limit="))
        #expect(try reader.answer().count == 3)
        // A client that asks and never reads is cut off after send_timeout; others go on.
        let hog = try daemon.raw()
        try hog.send(String(repeating: "GET C-000001\n", count: 400))
        // The daemon says when it cuts the client off; only then does the client read.
        #expect((try? daemon.waitForOutput(containing: "limit=send_timeout")) != nil)
        var answers = 0
        while let line = try? hog.line() { if line.hasPrefix("OK") { answers += 1 } }
        #expect(answers < 400, "disconnected before all \(answers) answers were taken")
        let still = try daemon.raw()
        try still.send("PING\n")
        #expect(try still.answer() == ["OK"])
    }

    @Test("files holding personal data: created 0600; a looser folder is warned about at start")
    func filePermissions() throws {
        let daemon = try Daemon(start: false)
        chmod(daemon.folder.path, 0o755)
        try daemon.start(extraArguments: ["--log-level", "warning"])
        var info = stat()
        #expect(stat(daemon.database, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(daemon.readAvailableOutput().contains("the data folder \(daemon.folder.path) has mode 755"))
    }
}
