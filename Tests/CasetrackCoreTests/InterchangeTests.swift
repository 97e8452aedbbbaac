import CasetrackCore
import Testing

@Suite("Import and export files, exchange and statistics requests")
struct InterchangeTests {
    static let today = Day(year: 2026, month: 11, day: 27)!

    @Test("CSV: quotes, doubled quotes, commas and line breaks inside fields, CR LF, record line numbers")
    func csv() throws {
        let text = "a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\n\n1,,3"
        let records = try CaseFile.csvRecords(text)
        #expect(records.map(\.line) == [1, 2, 5])
        #expect(records[1].fields == ["x, y", "say \"hi\"", "two\nlines"])
        #expect(records[2].fields == ["1", "", "3"])
        #expect(try CaseFile.csvRecords(CaseFile.csvLine(records[1].fields))[0].fields == records[1].fields)
        #expect(throws: CaseFile.Problem.self) { try CaseFile.csvRecords("a\n\"open") }
        #expect(throws: CaseFile.Problem.self) { try CaseFile.csvRecords("a\nb\"c") }
        #expect(throws: CaseFile.Problem.self) { try CaseFile.csvRecords("a\n\"b\"c") }
    }

    @Test("a file's rows become ADD options: lists split on |, ended becomes at, export-only columns ignored")
    func rows() throws {
        let csv = """
            id,status,category,names,since,ended,tags,refs,version,held
            C-000007,returned,civilian,"Олійник Оксана|Oliinyk Oksana",2014-07,2025-05-23,kherson|medic,UA-7,3,10y
            """
        let (rows, problems) = CaseFile.rows(csv, format: .csv)
        #expect(problems.isEmpty && rows.count == 1 && rows[0].line == 2)
        let row = try ImportRow(try CaseFile.rowText(rows[0]), today: Self.today)
        #expect(row.new.names == ["Олійник Оксана", "Oliinyk Oksana"] && row.new.tags == ["kherson", "medic"])
        #expect(row.new.status == .returned && row.details.occurredOn == PartialDate("2025-05-23") && row.new.references == ["UA-7"])
        // JSON lines read the same record from an export line.
        let json = #"{"id":"C-000007","status":"returned","category":"civilian","version":3,"names":["Олійник Оксана","Oliinyk Oksana"],"since":"2014-07","ended":"2025-05-23","tags":["kherson","medic"],"refs":["UA-7"],"held_days":3970}"#
        let (jsonRows, jsonProblems) = CaseFile.rows(json, format: .json)
        #expect(jsonProblems.isEmpty)
        #expect(try ImportRow(try CaseFile.rowText(jsonRows[0]), today: Self.today) == row)
        // Unknown columns and malformed lines are named with their line.
        let bad = CaseFile.rows("names,colour\nA,red\n", format: .csv)
        #expect(bad.problems.map(\.field) == ["colour"] && bad.problems.map(\.line) == [1])
        let badJSON = CaseFile.rows("{\"names\":[1]}\nnot json\n", format: .json)
        #expect(badJSON.problems.map(\.line) == [1, 2])
        // CR LF line ends (one Character in Swift) split like LF.
        let crlf = CaseFile.rows("{\"names\":[\"A\"]}\r\n{\"names\":[\"B\"]}\r\n", format: .json)
        #expect(crlf.problems.isEmpty && crlf.rows.map(\.line) == [1, 2])
    }

    @Test("every problem of a row is reported, each with its field")
    func problems() {
        let problems = ImportRow.problems("name=\"Бойко Юрій\" category=militari status=captivee since=2019-02-30 ref=X-1",
                                          today: Self.today)
        #expect(problems.compactMap(ImportRow.field(of:)) == ["category", "status", "since"])
        #expect(ImportRow.problems("name=\"Бойко Юрій\" category=civilian status=captive", today: Self.today)
            .compactMap(ImportRow.field(of:)) == ["ref"], "a row without a reference could not be imported twice safely")
        #expect(ImportRow.problems("name=\"Бойко Юрій\" category=civilian status=captive ref=X-1", today: Self.today).isEmpty)
    }

    @Test("the planner: new, existing, and conflicting references")
    func planner() throws {
        let owners = ["A-1": CaseID(number: 1), "B-1": CaseID(number: 2)]
        var planner = ImportPlanner { owners[$0] }
        func row(_ refs: String...) throws -> ImportRow {
            try ImportRow("name=Тест category=civilian status=missing " + refs.map { "ref=\($0)" }.joined(separator: " "), today: Self.today)
        }
        #expect(try planner.decide(try row("N-1"), index: 0) == .add)
        #expect(try planner.decide(try row("A-1"), index: 1) == .existing(CaseID(number: 1)))
        guard case .conflict = try planner.decide(try row("A-1", "B-1"), index: 2) else { Issue.record("two cases"); return }
        guard case .conflict = try planner.decide(try row("A-1", "N-9"), index: 3) else { Issue.record("half known"); return }
        guard case .conflict(let message) = try planner.decide(try row("N-1"), index: 4) else { Issue.record("repeat"); return }
        #expect(message.contains("row 1"))
    }

    @Test("exchange, import, export and backup requests: arguments and roles")
    func commands() throws {
        func command(_ line: String) throws -> Command { try Command(Request(line: line), today: Self.today) }
        #expect(try command("EXCHANGE-CREATE \"1000 for 1000\" date=2025-05-23 phases=3")
            == .exchangeCreate(name: "1000 for 1000", date: PartialDate("2025-05-23")!, phases: 3, note: nil))
        #expect(try command("EXCHANGE-ADD swap C-1 C-2 C-1 phase=2")
            == .exchangeAdd(name: "swap", phase: 2, ids: [CaseID(number: 1), CaseID(number: 2)]))
        #expect(throws: CasetrackError.self) { try command("EXCHANGE-ADD swap") }
        #expect(throws: CasetrackError.self) { try command("EXCHANGE-COMPLETE swap") }
        #expect(throws: CasetrackError.self) { try command("EXCHANGE-CREATE swap") }
        #expect(throws: CasetrackError.self) { try command("EXCHANGE-CREATE swap date=2025 phases=0") }
        #expect(throws: CasetrackError.self) { try command("BACKUP relative.db") }
        #expect(throws: CasetrackError.self) { try command("COUNT phase=1") }
        #expect(throws: CasetrackError.self) { try command("STATS by=colour") }
        #expect(throws: CasetrackError.self) { try command("STATS by=day") }
        #expect(throws: CasetrackError.self) { try command("STATS by=held from=2025-01-01") }
        #expect(throws: CasetrackError.self) { try command("STATS by=day from=2026-01-01 to=2025-01-01") }
        #expect(try command("STATS by=day from=2025-05-20").requiredRole == .observer)
        #expect(try command("STATS by=unit").requiredRole == .reader)
        #expect(try command("STATS by=exchange exchange=swap").requiredRole == .observer)
        #expect(try command("EXPORT").requiredRole == .observer)
        #expect(try command("EXPORT tag=medic").requiredRole == .reader)
        #expect(try command("EXCHANGE-COMPLETE swap phase=1").requiredRole == .admin && (try command("EXCHANGE-COMPLETE swap phase=1")).isWrite)
        #expect(try command("IMPORT row=x dry_run=yes").isWrite == false)
        #expect(try command("IMPORT row=x").isWrite)
    }

    @Test("held buckets meet held_min exactly at the thresholds")
    func buckets() {
        let start = Day(year: 2018, month: 11, day: 27)!
        #expect(HeldBucket.of(start: start, end: Self.today) == .from8y)
        #expect(HeldBucket.of(start: start.adding(days: 1), end: Self.today) == .from5to8y)
        #expect(HeldBucket.of(start: Self.today, end: Self.today) == .under1y)
        #expect(HeldBucket.of(start: nil, end: Self.today) == .unknown)
    }
}
