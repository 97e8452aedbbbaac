import CasetrackCore
import Testing

@Suite("Identity fields and deceptive text")
struct IdentityFieldTests {
    let today = Day(year: 2026, month: 6, day: 15)!

    func parse(_ line: String) throws -> Command { try Command(Request(line: line), today: today) }

    func refusal(_ line: String) -> String? {
        do {
            _ = try parse(line)
            return nil
        } catch let error as CasetrackError {
            return error.code == .badArgument ? error.message : "\(error.code): \(error.message)"
        } catch {
            return "\(error)"
        }
    }

    @Test("ADD and UPDATE take sex, service number, rank and place of birth; UPDATE clears with an empty value")
    func identity() throws {
        let command = try parse(#"ADD name="Гнатюк Остап" category=military status=captive sex=MALE service_number="ЖС-401522" rank="молодший сержант" birth_place="Ніжин""#)
        guard case .add(let new, _) = command else { Issue.record("not ADD"); return }
        #expect(new.sex == .male && new.serviceNumber == "ЖС-401522" && new.rank == "молодший сержант" && new.birthPlace == "Ніжин")
        guard case .update(_, let update, _, _) = try parse("UPDATE C-1 sex=unknown service_number= rank=") else {
            Issue.record("not UPDATE"); return
        }
        #expect(update.sex == .some(.unknown) && update.serviceNumber == .some(nil) && update.rank == .some(nil))
        var record = CaseRecord(id: CaseID(number: 1), names: ["Гнатюк Остап"], category: .military, status: .captive,
                                version: 1, createdAt: Timestamp(unixMilliseconds: 0), updatedAt: Timestamp(unixMilliseconds: 0),
                                sex: .male, serviceNumber: "ЖС-401522", rank: "сержант")
        let changes = try update.apply(to: &record)
        #expect(record.sex == .unknown && record.serviceNumber == nil && record.rank == nil)
        #expect(changes == ["sex: male -> unknown", "service_number: ЖС-401522 -> (none)", "rank: сержант -> (none)"])
    }

    @Test("a record's identity fields go out to readers and come back; an observer's fields leave them out")
    func fields() throws {
        let record = CaseRecord(id: CaseID(number: 7), names: ["Ткаченко Ірина"], category: .civilian, status: .missing,
                                version: 3, createdAt: Timestamp(unixMilliseconds: 0), updatedAt: Timestamp(unixMilliseconds: 0),
                                sex: .female, serviceNumber: nil, rank: nil, birthPlace: "Суми")
        let fields = record.fields(today: today)
        #expect(fields.string("sex") == "female" && fields.string("birth_place") == "Суми" && fields.string("rank") == nil)
        #expect(try CaseRecord(fields: fields) == record)
        let observer = record.observerFields(today: today)
        for key in ["sex", "birth_place", "service_number", "rank", "names"] { #expect(observer.string(key) == nil, "\(key)") }
    }

    @Test("bad identity values are refused with what to write", arguments: [
        ("ADD name=x category=civilian status=missing sex=m", "sex: 'm' is not a sex; use one of male, female, unknown"),
        ("ADD name=x category=military status=missing service_number=ABC", "service_number: 'ABC' is not a service number"),
        (#"ADD name=x category=military status=missing service_number="AB 12""#, "service_number: 'AB 12' is not a service number"),
        ("UPDATE C-1 sex=maybe", "sex: 'maybe' is not a sex"),
    ])
    func badIdentity(line: String, message: String) {
        #expect(refusal(line)?.contains(message) == true, "\(refusal(line) ?? "accepted")")
    }

    @Test("invisible characters that make text display as other text are refused, in any text value", arguments: [
        ("ADD name=\"\u{202E}онеквеШ\" category=civilian status=missing", "name: U+202E is a bidirectional control"),
        ("ADD name=\"Шев\u{200B}ченко\" category=civilian status=missing", "name: U+200B is an invisible formatting character"),
        ("ADD name=\"Іван\u{00AD}енко\" category=civilian status=missing", "name: U+00AD is a soft hyphen"),
        ("ADD name=\"Ів\u{200D}ан\" category=civilian status=missing", "name: U+200D is a zero-width joiner"),
        ("ADD name=Жук category=civilian status=missing notes=\"a\u{2067}b\"", "notes: U+2067 is a bidirectional control"),
        ("UPDATE C-1 add_ref=\"UA-1\u{FEFF}\"", "add_ref: U+FEFF is an invisible formatting character"),
        ("ADD name=Жук category=civilian status=missing birth_place=\"\u{200E}Київ\"", "birth_place: U+200E is a bidirectional control"),
        ("EXCHANGE-CREATE \"обмін\u{202D}\" date=2025-05-23", "NAME: U+202D is a bidirectional control"),
    ])
    func deceptive(line: String, message: String) {
        let refused = refusal(line)
        #expect(refused?.hasPrefix(message) == true, "\(refused ?? "accepted")")
        #expect(refused?.hasSuffix("which changes how the text displays without being seen; remove it") == true)
    }

    @Test("joiners stay allowed where a script writes with them")
    func joiners() throws {
        // Persian: the non-joiner inside a word (می‌خواهم), and a Devanagari conjunct with a joiner.
        guard case .add(let new, _) = try parse("ADD name=\"می\u{200C}خواهم\" name=\"क्\u{200D}ष\" category=civilian status=missing") else {
            Issue.record("not ADD"); return
        }
        #expect(new.names.count == 2)
        #expect(DeceptiveText.firstDeceptive(in: "Ševčenko Шевченко") == nil)
        #expect(DeceptiveText.firstDeceptive(in: "\u{200C}abc") == "\u{200C}")
    }
}
