import CasetrackCore
import Foundation
import Testing

@Suite("Command validation")
struct CommandTests {
    let today = Day(year: 2026, month: 6, day: 15)!

    func parse(_ line: String) throws -> Command { try Command(Request(line: line), today: today) }

    @Test("ADD with every field")
    func add() throws {
        let command = try parse(#"add name="Іваненко Петро" name="Ivanenko Petro" category=military status=captive since=2022-05 tag=Azov tag=azov ref=UA-1 unit=" 12th  brigade " at=2022-05-20 source="official statement" confidence=confirmed notes="a\nb""#)
        guard case .add(let new, let details) = command else { Issue.record("not ADD"); return }
        #expect(new.names == ["Іваненко Петро", "Ivanenko Petro"])
        #expect(new.tags == ["azov"])
        #expect(new.unit == "12th  brigade")
        #expect(new.since == PartialDate(year: 2022, month: 5))
        #expect(new.notes == "a\nb")
        #expect(details == EventDetails(occurredOn: PartialDate("2022-05-20"), source: "official statement", confidence: .confirmed))
    }

    @Test("at=unknown says the date is unknown; repeated spellings are kept once")
    func unknownDate() throws {
        guard case .setStatus(_, _, let details, _, _) = try parse("SET-STATUS C-1 returned at=UNKNOWN") else {
            Issue.record("not SET-STATUS"); return
        }
        #expect(details.occurredUnknown && details.occurredOn == nil)
        guard case .setStatus(_, _, let plain, _, _) = try parse("SET-STATUS C-1 returned") else { return }
        #expect(!plain.occurredUnknown)
        guard case .add(let new, _) = try parse("ADD name=Жук name=Zhuk name=Жук category=civilian status=missing") else { return }
        #expect(new.names == ["Жук", "Zhuk"])
        guard case .update(_, let update, _, _) = try parse("UPDATE C-1 name=Жук name=Жук") else { return }
        #expect(update.names == ["Жук"])
    }

    @Test("refused lines name what is wrong", arguments: [
        ("FROB", CasetrackError.Code.unknownVerb, "unknown verb"),
        ("GET X-1", .badArgument, "not a case id"),
        ("GET C-1 C-2", .badArgument, "too many values"),
        ("GET C-1 foo=1", .badArgument, "takes no foo="),
        ("ADD category=military status=captive", .badArgument, "at least one name"),
        ("ADD name=x status=captive", .badArgument, "category"),
        ("ADD name=x category=navy status=captive", .badArgument, "not a category"),
        ("ADD name=x category=military", .badArgument, "status"),
        ("ADD name=x category=military status=free", .badArgument, "not a status"),
        ("ADD name=x category=military status=captive since=2022-13", .badArgument, "not a date"),
        ("ADD name=x category=military status=captive since=2022-02-30", .badArgument, "not a date"),
        ("ADD name=x category=military status=captive since=1800", .badArgument, "not a date"),
        ("ADD name=x category=military status=captive since=-2022", .badArgument, "not a date"),
        ("ADD name=x category=military status=captive since=2099-01-01", .badArgument, "in the future"),
        ("ADD name=x category=military status=captive confidence=sure", .badArgument, "not a confidence"),
        ("ADD name=\"\" category=military status=captive", .badArgument, "must not be empty"),
        ("ADD name=\"a\\u{0}b\" category=military status=captive", .badArgument, "control character"),
        ("ADD name=\"a\\nb\" category=military status=captive", .badArgument, "control character"),
        ("ADD name=x category=military status=captive tag=\"a b\"", .badArgument, "not a tag"),
        ("ADD name=x category=military status=captive ref=\"a b\"", .badArgument, "white space"),
        ("ADD name=x category=military category=civilian status=captive", .badArgument, "given twice"),
        ("SET-STATUS C-1", .badArgument, "missing STATUS"),
        ("SET-STATUS C-1 returned expect_version=0", .badArgument, "whole number"),
        ("SET-STATUS C-1 returned expect_version=99999999999999999999", .badArgument, "whole number"),
        ("SET-STATUS C-1 returned correction=maybe", .badArgument, "yes or no"),
        ("UPDATE C-1", .badArgument, "at least one field"),
        ("LIST limit=0", .badArgument, "whole number"),
        ("LIST limit=10001", .badArgument, "whole number"),
        ("LIST held_min=8", .badArgument, "not a duration"),
        ("LIST held_min=8y8y", .badArgument, "not a duration"),
        ("COUNT name=\"!!\"", .badArgument, "no letters"),
        ("COUNT status=", .badArgument, "not a status"),
        ("COUNT status=captive,", .badArgument, "not a status"),
        ("COUNT category=,", .badArgument, "not a category"),
        ("COUNT updated_since=yesterday", .badArgument, "updated_since"),
        ("FORMAT xml", .badArgument, "not text or json"),
        ("k=v", .badRequest, "must start with a verb"),
        ("", .badRequest, "empty line"),
    ])
    func refused(_ line: String, _ code: CasetrackError.Code, _ fragment: String) {
        #expect {
            try parse(line)
        } throws: { error in
            guard let error = error as? CasetrackError else { return false }
            return error.code == code && error.message.contains(fragment)
        }
    }

    @Test("texts are stored in one Unicode form: composed and decomposed spellings are equal")
    func normalized() throws {
        guard case .add(let new, _) = try parse("ADD name=\"Бригада Й\u{306}\" category=civilian status=missing tag=\"cafe\u{301}\" ref=\"e\u{301}\" unit=\"И\u{306}\"") else {
            Issue.record("not ADD"); return
        }
        #expect(Array(new.names[0].unicodeScalars) == Array("Бригада Й\u{306}".precomposedStringWithCanonicalMapping.unicodeScalars))
        #expect(Array(new.tags[0].unicodeScalars) == Array("café".unicodeScalars) && new.tags[0].unicodeScalars.count == 4)
        #expect(new.references[0].unicodeScalars.count == 1 && new.unit?.unicodeScalars.count == 1)
    }

    @Test("filters: lists, comma lists, keys in either spelling")
    func filter() throws {
        guard case .count(let filter) = try parse("COUNT status=captive,missing Category=civilian held-min=8y tag=a tag=b name=ivanenko") else {
            Issue.record("not COUNT"); return
        }
        #expect(filter.statuses == [.captive, .missing])
        #expect(filter.categories == [.civilian])
        #expect(filter.heldMin == HeldDuration(years: 8))
        #expect(filter.tags == ["a", "b"])
        #expect(filter.name == "ivanenko")
    }

    @Test("a filter sent as fields (the client library's) reads back whole, every key")
    func filterFieldsRoundTrip() throws {
        let day = try #require(Day(year: 2024, month: 2, day: 1))
        var filter = CaseFilter()
        filter.statuses = [.captive, .missing]
        filter.categories = [.civilian]
        filter.tags = ["a", "b"]
        filter.unit = "93 бригада"
        filter.heldMin = HeldDuration(years: 2)
        filter.sinceFrom = day
        filter.sinceBefore = day
        filter.updatedSince = Timestamp(unixMilliseconds: 1_700_000_000_000)
        filter.name = "Гуменюк"
        filter.exchange = "Обмін 12"
        filter.phase = 2
        filter.endedFrom = day
        filter.endedBefore = day
        filter.proofOlder = HeldDuration(months: 6)
        let request = Request(verb: "COUNT", options: filter.fields.pairs)
        guard case .count(let read) = try Command(request, today: today) else { Issue.record("not COUNT"); return }
        #expect(read == filter)
        var none = CaseFilter()
        none.noProof = true
        guard case .count(let noProof) = try Command(Request(verb: "COUNT", options: none.fields.pairs), today: today) else { return }
        #expect(noProof == none)
    }

    @Test("a date is in the future from the day after the UTC day: east of Greenwich that day has begun")
    func tomorrowInKyiv() throws {
        // today is 2026-06-15 (UTC); at 23:30 UTC it is already 2026-06-16 in Kyiv.
        guard case .add(let new, _) = try parse("ADD name=x category=military status=captive since=2026-06-16") else {
            Issue.record("not ADD"); return
        }
        #expect(new.since == PartialDate("2026-06-16"))
        #expect(throws: CasetrackError.self) { try parse("ADD name=x category=military status=captive since=2026-06-17") }
    }

    @Test("every verb parses from its own usage example")
    func verbs() throws {
        for line in ["HELLO", "HELLO 1 format=json", "FORMAT json", "PING", "QUIT", "GET C-000001", "HISTORY 7",
                     "SET-STATUS C-1 returned at=2025 correction=yes", "UPDATE C-1 unit=\"\"", "LIST", "COUNT", "STATS"] {
            #expect(try parse(line).verb.name == Request(verb: String(line.split(separator: " ")[0])).verb)
        }
    }
}
