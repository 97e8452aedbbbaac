import CasetrackCore
import Testing

@Suite("Answer lines")
struct AnswerLineTests {
    let fields: Fields = ["id": .string("C-000001"), "version": .int(3), "names": .list(["Іваненко Петро", "Ivanenko \"P\""])]

    @Test("text mode: key=value with lists as repeated keys")
    func text() {
        #expect(ResponseLine.data(fields).encoded(.text) ==
                #"D id=C-000001 version=3 names="Іваненко Петро" names="Ivanenko \"P\"""#)
        #expect(ResponseLine.ok(Fields()).encoded(.text) == "OK")
        #expect(ResponseLine.error(CasetrackError(.notFound, "no case C-000009")).encoded(.text) ==
                #"ERR not-found message="no case C-000009""#)
        #expect(ResponseLine.bye(CasetrackError(.shuttingDown, "bye")).encoded(.text) == "BYE shutting-down message=bye")
    }

    @Test("numbers are written in decimal as Swift writes them, at both ends of their range")
    func numbers() {
        for value: Int64 in [0, 1, -1, 9, 10, -10, 999_999, 1_000_000, Int64(Int32.max) + 1, .max, .min, .max - 1, .min + 1] {
            var fields = Fields()
            fields.append("n", value)
            fields.append("m", list: [])
            fields.append("k", "")
            #expect(fields.text == "n=\(value) k=\"\"", "\(value)")
        }
    }

    @Test("JSON mode: one object per line, the code inside errors too")
    func json() {
        #expect(ResponseLine.data(fields).encoded(.json) ==
                #"D {"id":"C-000001","version":3,"names":["Іваненко Петро","Ivanenko \"P\""]}"#)
        #expect(ResponseLine.ok(Fields()).encoded(.json) == "OK {}")
        #expect(ResponseLine.error(CasetrackError(.badArgument, "a\nb")).encoded(.json) ==
                #"ERR bad-argument {"code":"bad-argument","message":"a\nb"}"#)
        var controls = Fields()
        controls.append("note", "\u{1}\u{2028}\t")
        #expect(controls.json == #"{"note":"\u0001\u2028\t"}"#)
    }

    @Test("text lines read back")
    func parse() throws {
        #expect(try ResponseLine(text: ResponseLine.data(fields).encoded(.text)) ==
                .data(["id": .string("C-000001"), "version": .string("3"), "names": .string("Іваненко Петро"),
                       "names": .string("Ivanenko \"P\"")]))
        #expect(try ResponseLine(text: "ERR version-conflict message=\"x y\"") ==
                .error(CasetrackError(.versionConflict, "x y")))
        #expect(try ResponseLine(text: "OK") == .ok(Fields()))
        #expect(throws: CasetrackError.self) { try ResponseLine(text: "WHAT 1") }
    }

    @Test("a reply is data lines then exactly one final line")
    func reply() {
        var text = ""
        Reply(data: [fields, fields], final: ["count": .int(2)]).write(.text, into: &text)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 4 && lines[3] == "")
        #expect(lines[0].hasPrefix("D ") && lines[1].hasPrefix("D ") && lines[2] == "OK count=2")
    }
}
