import CasetrackCore
@testable import CasetrackServer
import NIOCore
import Testing

@Suite("Notice lines rendered once")
struct NoticeLinesTests {
    func notice(_ seq: Int64, names: [String] = ["Ткаченко Марія", "Tkachenko Mariia"]) -> Notice {
        var notice = Notice(seq: seq, caseID: CaseID(number: seq), kind: .status, oldStatus: .missing, newStatus: .returned,
                            category: .civilian, unit: nil, tags: [], occurredOn: nil,
                            recordedAt: Timestamp(unixMilliseconds: 1_700_000_000_000), version: 3)
        notice.names = names
        return notice
    }

    func rendered(_ notice: Notice, _ format: WireFormat, personal: Bool) -> String {
        ResponseLine.notice(notice.fields(includePersonalData: personal)).encoded(format) + "\n"
    }

    func text(_ buffer: ByteBuffer) -> String { String(buffer: buffer) }

    @Test("each form is the line a subscriber of that form would render itself")
    func forms() {
        let lines = NoticeLines(capacity: 16)
        let first = notice(1)
        for format in WireFormat.allCases {
            for personal in [false, true] {
                #expect(text(lines.line(for: first, format: format, personal: personal)) == rendered(first, format, personal: personal))
                // Asked again, the same line, whatever the notice value says now.
                #expect(text(lines.line(for: notice(1, names: ["Інше Ім'я"]), format: format, personal: personal))
                        == rendered(first, format, personal: personal))
            }
        }
        #expect(!text(lines.line(for: first, format: .text, personal: false)).contains("Ткаченко"))
        #expect(text(lines.line(for: first, format: .text, personal: true)).contains("Ткаченко"))
    }

    @Test("only the newest lines are kept")
    func bounded() {
        let lines = NoticeLines(capacity: 4)
        for seq in Int64(1)...20 { _ = lines.line(for: notice(seq), format: .text, personal: true) }
        // Forgotten: rendered afresh from the notice given now.
        #expect(text(lines.line(for: notice(1, names: ["Нове Ім'я"]), format: .text, personal: true)).contains("Нове"))
        // Kept: the line rendered the first time.
        #expect(!text(lines.line(for: notice(20, names: ["Нове Ім'я"]), format: .text, personal: true)).contains("Нове"))
    }
}
