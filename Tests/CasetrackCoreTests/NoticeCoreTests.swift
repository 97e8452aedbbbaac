import CasetrackCore
import Testing

@Suite("Notices: line format, filters, alerts, settings")
struct NoticeCoreTests {
    let today = Day(year: 2026, month: 6, day: 15)!

    func notice(kind: EventKind = .status, old: Status? = .missing, new: Status? = .captive, category: Category? = .military,
                unit: String? = "36th Brigade", tags: [String] = ["medic", "kherson"], id: Int64 = 7) -> Notice {
        Notice(seq: 42, caseID: id > 0 ? CaseID(number: id) : nil, kind: kind, oldStatus: old, newStatus: new,
               category: category, unit: unit, tags: tags, occurredOn: PartialDate("2024-03"),
               recordedAt: Timestamp(unixMilliseconds: 1_718_445_600_000), version: 3, source: "ICRC",
               confidence: .confirmed, names: ["Ткаченко Іван", "Ivan Tkachenko"])
    }

    @Test("the first seven fields of a text notice stand in a fixed order, names last and separable")
    func textLine() throws {
        let line = ResponseLine.notice(notice().fields(includePersonalData: true)).encoded(.text)
        let words = line.split(separator: " ").prefix(8).map(String.init)
        #expect(words == ["N", "seq=42", "id=C-000007", "kind=status", "old=missing", "new=captive", "category=military", "occurred=2024-03"])
        #expect(line.hasSuffix(#"names="Ткаченко Іван" names="Ivan Tkachenko""#))
        let anonymous = ResponseLine.notice(notice().fields(includePersonalData: false)).encoded(.text)
        #expect(!anonymous.contains("Ткаченко") && !anonymous.contains("names=") && !anonymous.contains("unit=") && !anonymous.contains("source="))
        // A created event has no old status, a test notice no case: still seven fields.
        let test = ResponseLine.notice(notice(kind: .test, old: nil, new: nil, category: nil, id: 0).fields(includePersonalData: false)).encoded(.text)
        #expect(test.hasPrefix("N seq=42 id=- kind=test old=- new=- category=- occurred=2024-03 "))
    }

    @Test("a notice reads back from its line in both directions")
    func roundTrip() throws {
        let original = notice()
        guard case .notice(let fields) = try ResponseLine(text: ResponseLine.notice(original.fields(includePersonalData: true)).encoded(.text)) else {
            Issue.record("not a notice"); return
        }
        #expect(try Notice(fields: fields) == original)
        let json = ResponseLine.notice(original.fields(includePersonalData: true)).encoded(.json)
        #expect(json.hasPrefix(#"N {"seq":42,"id":"C-000007","kind":"status","old":"missing","new":"captive","#))
    }

    @Test("filters: every condition must hold, any value within one; tags all; unit in any case")
    func filters() throws {
        var filter = NoticeFilter()
        #expect(filter.matches(notice()))
        filter.statuses = [.captive]
        #expect(filter.matches(notice()) && filter.matches(notice(old: .captive, new: .returned)))
        #expect(!filter.matches(notice(old: .missing, new: .deceased)))
        filter = NoticeFilter()
        filter.oldStatuses = [.captive]
        #expect(!filter.matches(notice()) && !filter.matches(notice(kind: .created, old: nil, new: .captive)))
        filter = NoticeFilter()
        filter.newStatuses = [.returned, .deceased]
        #expect(filter.matches(notice(new: .deceased)) && !filter.matches(notice()))
        filter = NoticeFilter()
        filter.tags = ["medic", "kherson"]
        #expect(filter.matches(notice()) && !filter.matches(notice(tags: ["medic"])))
        filter = NoticeFilter()
        filter.unit = "36TH BRIGADE"
        #expect(filter.matches(notice()) && !filter.matches(notice(unit: nil)))
        filter = NoticeFilter()
        filter.caseIDs = [CaseID(number: 8)]
        filter.categories = [.military]
        #expect(!filter.matches(notice()) && filter.matches(notice(id: 8)) && !filter.matches(notice(category: .civilian, id: 8)))
    }

    @Test("the fan-out's bit-set matcher says what the filter says, for every kind of condition")
    func matcherAgrees() {
        #expect(EventKind.allCases.count < 64 && Status.allCases.count < 64 && Category.allCases.count < 64)
        var random = SystemRandomNumberGenerator()
        func some<T: Hashable>(_ all: [T], _ most: Int) -> Set<T> {
            Set((0..<Int.random(in: 0...most, using: &random)).map { _ in all.randomElement(using: &random)! })
        }
        func maybe<T>(_ value: T) -> T? { Bool.random(using: &random) ? value : nil }
        let units = ["36th Brigade", "36TH brigade", "Border guard 9"]
        let tags = ["medic", "kherson", "pilot"]
        var notices: [Notice] = []
        for _ in 0..<300 {
            notices.append(notice(kind: EventKind.allCases.randomElement(using: &random)!,
                                  old: maybe(Status.allCases.randomElement(using: &random)!),
                                  new: maybe(Status.allCases.randomElement(using: &random)!),
                                  category: maybe(Category.allCases.randomElement(using: &random)!),
                                  unit: maybe(units.randomElement(using: &random)!),
                                  tags: Array(some(tags, 2)), id: Int64.random(in: 0...4, using: &random)))
        }
        var checked = 0
        var passed = 0
        for _ in 0..<2_000 {
            var filter = NoticeFilter()
            filter.kinds = some(EventKind.allCases, 3)
            filter.statuses = some(Status.allCases, 2)
            filter.oldStatuses = some(Status.allCases, 2)
            filter.newStatuses = some(Status.allCases, 2)
            filter.categories = some(Category.allCases, 2)
            if Int.random(in: 0..<4, using: &random) == 0 { filter.tags = some(tags, 2) }
            if Int.random(in: 0..<4, using: &random) == 0 { filter.unit = units.randomElement(using: &random) }
            if Int.random(in: 0..<4, using: &random) == 0 { filter.caseIDs = Set([CaseID(number: Int64.random(in: 1...4, using: &random))]) }
            let matcher = NoticeMatcher(filter)
            for notice in notices {
                let expected = filter.matches(notice)
                #expect(matcher.matches(NoticeMatcher.Bits(notice), notice) == expected, "\(filter) \(notice.kind)")
                checked += 1
                if expected { passed += 1 }
            }
        }
        // Both answers come up often enough to mean something.
        #expect(checked == 600_000 && passed > 10_000 && passed < checked - 10_000)
    }

    @Test("a test notice passes every filter except one on kinds")
    func testNoticePasses() {
        let test = notice(kind: .test, old: nil, new: nil, category: nil, unit: nil, tags: [], id: 0)
        var filter = NoticeFilter()
        filter.statuses = [.returned]
        filter.tags = ["medic"]
        filter.caseIDs = [CaseID(number: 1)]
        #expect(filter.matches(test))
        filter.kinds = [.status]
        #expect(!filter.matches(test))
        filter.kinds = [.status, .test]
        #expect(filter.matches(test))
    }

    @Test("SUBSCRIBE parses its filter and since=; bad values are refused with the key named")
    func subscribeCommand() throws {
        let command = try Command(Request(line: "SUBSCRIBE since=17 status=captive,missing new=returned category=civilian tag=Medic unit=\"Navy 501\" id=C-3 id=4 kind=held,stale"), today: today)
        guard case .subscribe(let filter, let since) = command else { Issue.record("not SUBSCRIBE"); return }
        #expect(since == 17)
        #expect(filter.statuses == [.captive, .missing] && filter.newStatuses == [.returned] && filter.categories == [.civilian])
        #expect(filter.tags == ["medic"] && filter.unit == "Navy 501" && filter.caseIDs == [CaseID(number: 3), CaseID(number: 4)])
        #expect(filter.kinds == [.held, .stale])
        for (line, key) in [("SUBSCRIBE status=", "status"), ("SUBSCRIBE kind=gossip", "kind"), ("SUBSCRIBE since=x", "since"),
                            ("SUBSCRIBE id=C-0", "id"), ("SUBSCRIBE since=1 since=2", "since"), ("SUBSCRIBE held_min=8y", "held_min")] {
            #expect(throws: CasetrackError.self, "\(line)") { try Command(Request(line: line), today: today) }
            do { _ = try Command(Request(line: line), today: today) } catch let error as CasetrackError {
                #expect(error.code == .badArgument && error.message.contains(key), "\(line): \(error.message)")
            }
        }
        #expect(try Command(Request(line: "TEST-NOTICE note=\"hook check\""), today: today) == .testNotice(note: "hook check"))
        #expect(try Command(Request(line: "UNSUBSCRIBE"), today: today) == .unsubscribe)
    }

    @Test("error details travel before the message and read back")
    func errorDetails() throws {
        var details = Fields()
        details.append("oldest", 16)
        let gap = CasetrackError(.gap, "trimmed", details: details)
        #expect(ResponseLine.error(gap).encoded(.text) == "ERR gap oldest=16 message=trimmed")
        #expect(ResponseLine.error(gap).encoded(.json) == #"ERR gap {"code":"gap","oldest":16,"message":"trimmed"}"#)
        guard case .error(let read) = try ResponseLine(text: "ERR gap oldest=16 message=trimmed") else { Issue.record("not ERR"); return }
        #expect(read.code == .gap && read.details.int("oldest") == 16 && read.message == "trimmed")
    }

    @Test("held alerts: the longest threshold reached and not yet told; open cases with a start only")
    func heldPolicy() {
        let policy = AlertPolicy()
        func record(since: String?, status: Status = .captive) -> CaseRecord {
            CaseRecord(id: CaseID(number: 1), names: ["Мороз Ольга"], category: .civilian, status: status,
                       since: since.flatMap { PartialDate($0) }, version: 1, createdAt: Timestamp(unixMilliseconds: 0),
                       updatedAt: Timestamp(unixMilliseconds: 0))
        }
        #expect(policy.heldAlert(for: record(since: "2018-06-15"), alreadyTold: 0, today: today) == HeldDuration(years: 8))
        #expect(policy.heldAlert(for: record(since: "2018-06-16"), alreadyTold: 0, today: today) == HeldDuration(years: 5))
        #expect(policy.heldAlert(for: record(since: "2018-06-16"), alreadyTold: HeldDuration(years: 5).rank, today: today) == nil)
        #expect(policy.heldAlert(for: record(since: "2025-06-16"), alreadyTold: 0, today: today) == nil)
        #expect(policy.heldAlert(for: record(since: "2010", status: .returned), alreadyTold: 0, today: today) == nil)
        #expect(policy.heldAlert(for: record(since: nil), alreadyTold: 0, today: today) == nil)
        // A partial date counts from its first day, as the held_min filter does.
        #expect(policy.heldAlert(for: record(since: "2018"), alreadyTold: 0, today: today) == HeldDuration(years: 8))
    }

    @Test("alert, retention and subscriber settings: defaults, good values, and errors that name the line")
    func settings() throws {
        var settings = DaemonConfiguration()
        #expect(settings.alerts.heldThresholds == [HeldDuration(years: 1), HeldDuration(years: 5), HeldDuration(years: 8)])
        #expect(settings.alerts.staleAfterDays == nil && settings.retention == .all && settings.subscriberBuffer == 10_000)
        #expect(settings.alerts.proofThresholds.isEmpty, "proof alerts are off unless asked for")
        try settings.apply(fileText: "proof_alerts = 3y,1y\n", origin: "t")
        #expect(settings.alerts.proofThresholds == [HeldDuration(years: 1), HeldDuration(years: 3)])
        #expect(settings.alerts.heldThresholds.count == 3, "held_alerts untouched")
        try settings.apply(fileText: "held_alerts = \"8y, 6m ,2y\"\nstale_after = 180d\nretention = 730d\nsubscriber_buffer = 500\nhousekeeping_interval = 60\n", origin: "t")
        #expect(settings.alerts.heldThresholds == [HeldDuration(months: 6), HeldDuration(years: 2), HeldDuration(years: 8)])
        #expect(settings.alerts.staleAfterDays == 180 && settings.retention == .days(730))
        #expect(settings.subscriberBuffer == 500 && settings.housekeepingInterval == 60)
        #expect(settings.alerts.proofThresholds.count == 2, "proof_alerts untouched by held_alerts")
        try settings.apply(fileText: "held_alerts = off\nstale_after = off\nproof_alerts = off\nretention = 1000000\n", origin: "t")
        #expect(settings.alerts.proofThresholds.isEmpty)
        #expect(settings.alerts.heldThresholds.isEmpty && settings.alerts.staleAfterDays == nil && settings.retention == .events(1_000_000))
        for bad in ["held_alerts = 8y,8y", "held_alerts = 0d", "held_alerts = soon", "proof_alerts = 1y,12m", "proof_alerts = never", "stale_after = 30", "retention = forever",
                    "retention = 0", "subscriber_buffer = 2", "housekeeping_interval = 0"] {
            let before = settings
            #expect(throws: CasetrackError.self) { try settings.apply(fileText: "# x\n" + bad + "\n", origin: "f.conf") }
            do { try settings.apply(fileText: "# x\n" + bad + "\n", origin: "f.conf") } catch let error as CasetrackError {
                #expect(error.message.hasPrefix("f.conf:2: "), "\(bad): \(error.message)")
            }
            #expect(settings == before, "\(bad) changed nothing")
        }
    }
}
