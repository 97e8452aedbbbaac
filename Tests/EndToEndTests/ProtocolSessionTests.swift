import CasetrackCore
import CasetrackTestSupport
import Foundation
import Testing
import TestThreads

@Suite("Raw protocol sessions", .blocking)
struct ProtocolSessionTests {
    static let add = #"ADD name="Шевчук Оксана" name="Shevchuk Oksana" category=civilian status=captive since=2016-03 tag=kherson"#

    @Test("greeting, pipelining: a hundred requests in one write, answered in order")
    func pipelining() throws {
        let daemon = try Daemon()
        let session = try daemon.raw()
        #expect(session.greeting.hasPrefix("HELLO protocol=1 server=casetrackd/"))
        var batch = Self.add + "\n"
        for index in 0..<100 { batch += index % 2 == 0 ? "GET C-000001\n" : "COUNT status=captive\n" }
        try session.send(batch)
        let created = try session.answer()
        #expect(created.count == 2 && created[1] == "OK id=C-000001 version=1 seq=1")
        for index in 0..<100 {
            let answer = try session.answer()
            if index % 2 == 0 {
                #expect(answer.count == 2 && answer[0].hasPrefix("D id=C-000001 status=captive"))
            } else {
                #expect(answer == ["OK count=1"])
            }
        }
    }

    @Test("GETs among changes in one write see every change answered before them, in order; a last GET before a half-close is answered")
    func readsAmongWrites() throws {
        let daemon = try Daemon()
        let session = try daemon.raw()
        // GETs that the daemon answers at once, on its event loop, and changes that wait for
        // their commit, mixed in one write and sent again at once from a second connection.
        let other = try daemon.raw()
        try session.send(Self.add + "\nGET C-000001\nSET-STATUS C-000001 missing\nGET C-000001\nget C-000001\n"
                         + "SET-STATUS C-000001 captive\nGET C-000001\nGET C-000002\nPING\n")
        #expect(try session.answer().last == "OK id=C-000001 version=1 seq=1")
        #expect(try session.answer().first?.hasPrefix("D id=C-000001 status=captive ") == true)
        #expect(try session.answer().last?.hasPrefix("OK ") == true)
        for _ in 0..<2 { #expect(try session.answer().first?.hasPrefix("D id=C-000001 status=missing category=civilian version=2 ") == true) }
        #expect(try session.answer().last?.hasPrefix("OK ") == true)
        #expect(try session.answer().first?.hasPrefix("D id=C-000001 status=captive category=civilian version=3 ") == true)
        #expect(try session.answer().first?.hasPrefix("ERR not-found ") == true)
        #expect(try session.answer() == ["OK"])
        // What one connection was told is what another reads next.
        try other.send("GET C-000001\n")
        #expect(try other.answer().first?.hasPrefix("D id=C-000001 status=captive category=civilian version=3 ") == true)
        try other.send("GET C-000001")
        other.halfClose()
        #expect(try other.answer().first?.hasPrefix("D id=C-000001 status=captive category=civilian version=3 ") == true)
        #expect(try other.line() == nil, "closed after the last answer")
    }

    @Test("a subscription inside one pipelined write: its answer before its first notice, answers in order")
    func subscriptionInOneWrite() throws {
        let daemon = try Daemon()
        let session = try daemon.raw()
        // Answers to lines that arrive together are written together; a SUBSCRIBE among them
        // must still have its answer out before its first notice, even when a later line of
        // the same write (a change, waiting for its commit) lets the replay run meanwhile.
        try session.send(Self.add + "\n" + Self.add.replacingOccurrences(of: "Оксана", with: "Ганна").replacingOccurrences(of: "Oksana", with: "Hanna") + "\n"
                         + "SUBSCRIBE since=0\nSET-STATUS C-000001 missing\n")
        func isFinal(_ line: String) -> Bool { line == "OK" || line.hasPrefix("OK ") || line.hasPrefix("ERR ") }
        var lines: [String] = []
        while lines.filter(isFinal).count < 4 || lines.filter({ $0.hasPrefix("N ") }).count < 3 {
            guard let line = try session.line() else { break }
            lines.append(line)
        }
        let finals = lines.indices.filter { isFinal(lines[$0]) }
        try #require(finals.count == 4, "\(lines)")
        #expect(lines[finals[0]].hasPrefix("OK id=C-000001") && lines[finals[1]].hasPrefix("OK id=C-000002"), "\(lines)")
        #expect(finals.allSatisfy { lines[$0].hasPrefix("OK") }, "\(lines)")
        #expect(lines[finals[3] - 1].hasPrefix("D id=C-000001 status=missing"), "the change answered last: \(lines)")
        let notices = lines.indices.filter { lines[$0].hasPrefix("N ") }
        let sequence = notices.map { lines[$0].split(separator: " ").first { $0.hasPrefix("seq=") } ?? "" }
        #expect(sequence == ["seq=1", "seq=2", "seq=3"], "the replay, then the change live: \(lines)")
        #expect(notices.allSatisfy { $0 > finals[2] }, "no notice before the SUBSCRIBE answer: \(lines)")
        // UNSUBSCRIBE and PING in one write: nothing after them.
        try session.send("UNSUBSCRIBE\nPING\n")
        #expect(try session.answer() == ["OK"])
        #expect(try session.answer() == ["OK"])
        try daemon.casectl("test-notice")
        try session.send("PING\n")
        #expect(try session.answer() == ["OK"], "no notice after UNSUBSCRIBE")
    }

    @Test("bad lines get an error and the connection stays in step")
    func badLines() throws {
        let daemon = try Daemon()
        let session = try daemon.raw()
        try session.send(Self.add + "\n")
        _ = try session.answer()
        let before = try daemon.dump()
        let cases: [([UInt8], String)] = [
            (Array("FROB\n".utf8), "ERR unknown-verb"),
            (Array("GET \"C-1\n".utf8), "ERR bad-request"),
            ([0x47, 0x45, 0x54, 0x20, 0xFF, 0xFE, 0x0A], "ERR invalid-utf8"),
            (Array("GET C-1\u{0}\n".utf8), "ERR bad-request"),
            (Array((String(repeating: "A", count: 70_000) + "\n").utf8), "ERR line-too-long"),
            (Array("ADD name=x category=military status=captive since=2022-02-30\n".utf8), "ERR bad-argument"),
            (Array("SET-STATUS C-1 returned expect_version=2\n".utf8), "ERR version-conflict"),
            (Array("SET-STATUS C-1 captive\n".utf8), "ERR illegal-transition"),
            (Array("UPDATE C-1 remove_tag=nope\n".utf8), "ERR bad-argument"),
            (Array("LIST name=\"'; DROP TABLE cases; --\"\n".utf8), "OK count=0"),
            (Array("COUNT held_min=99999y\n".utf8), "ERR bad-argument"),
            (Array("\n".utf8), "ERR bad-request"),
        ]
        for (bytes, expected) in cases {
            try session.send(bytes: bytes)
            let answer = try session.answer()
            #expect(answer.last?.hasPrefix(expected) == true, "\(expected): \(answer)")
            try session.send("PING\n")
            #expect(try session.answer() == ["OK"], "still in step after \(expected)")
        }
        // 10,000 pipelined bad lines, then one good one.
        try session.send(String(repeating: "NOPE x\n", count: 10_000) + "PING\n")
        for _ in 0..<10_000 { #expect(try session.answer().first?.hasPrefix("ERR unknown-verb") == true) }
        #expect(try session.answer() == ["OK"])
        #expect(try daemon.dump() == before, "nothing refused changed the database")
    }

    @Test("values with spaces, quotes, newlines, tabs and any script round-trip through the daemon")
    func values() throws {
        let daemon = try Daemon()
        let client = try daemon.client()
        let notes = "Line one\n\tLine \"two\" with \\ backslash = sign\nОстанній рядок 🇺🇦"
        let place = "вул. Шевченка, 5 — \"корпус\" B"
        let added = try client.request(Request(verb: "ADD", options: [
            ("name", "Олійник Марія"), ("name", "O'liinyk \"Mariia\""), ("category", "civilian"), ("status", "missing"),
            ("notes", notes), ("last_place", place),
        ]))
        _ = try added.get()
        let record = try #require(try client.get(CaseID(number: 1)))
        #expect(record.notes == notes && record.lastKnownPlace == place && record.names[1] == "O'liinyk \"Mariia\"")
        let json = try daemon.raw()
        try json.send("FORMAT json\nGET C-1\n")
        #expect(try json.answer() == [#"OK {"format":"json"}"#])
        let line = try json.answer()[0]
        let object = try JSONSerialization.jsonObject(with: Data(line.dropFirst(2).utf8)) as? [String: Any]
        #expect(object?["notes"] as? String == notes)
    }

    @Test("a client that sends and half-closes still gets every answer")
    func halfClose() throws {
        let daemon = try Daemon()
        let session = try daemon.raw()
        try session.send(Self.add + "\nCOUNT\nPING")
        session.halfClose()
        #expect(try session.answer().last == "OK id=C-000001 version=1 seq=1")
        #expect(try session.answer() == ["OK count=1"])
        #expect(try session.answer() == ["OK"])
        #expect(try session.line() == nil, "then the daemon closes")
    }

    @Test("a half-closing client gets the whole of a long answer")
    func halfCloseLongAnswer() throws {
        let daemon = try Daemon()
        let writer = try daemon.raw()
        // Pipelined in rounds of 100: a client that sends megabytes without reading would
        // stall itself, as the daemon stops reading while its answers are not read.
        for round in 0..<30 {
            var batch = ""
            for index in 0..<100 { batch += "ADD name=\"Кравченко Олег \(round * 100 + index)\" category=military status=captive\n" }
            try writer.send(batch)
            for _ in 0..<100 { #expect(try writer.answer().last?.hasPrefix("OK id=") == true) }
        }
        let session = try daemon.raw()
        try session.send("LIST limit=10000")
        session.halfClose()
        var data = 0
        var final: String?
        while let line = try session.line() {
            if line.hasPrefix("D ") { data += 1 } else { final = line }
        }
        #expect(data == 3_000 && final == "OK count=3000")
    }

    @Test("HELLO checks the version; QUIT closes, and what was sent after it is not answered")
    func helloQuit() throws {
        let daemon = try Daemon()
        let writer = try daemon.raw()
        try writer.send(Self.add + "\n")
        #expect(try writer.answer().last?.hasPrefix("OK id=C-000001") == true)
        let session = try daemon.raw()
        try session.send("HELLO 2\nHELLO 1 format=json\nQUIT\nGET C-000001\nPING\n")
        #expect(try session.answer().first?.hasPrefix("ERR unsupported-version") == true)
        #expect(try session.answer().first?.hasPrefix(#"OK {"protocol":1"#) == true)
        #expect(try session.answer() == ["OK {}"])
        #expect(try session.line() == nil)
    }
}
