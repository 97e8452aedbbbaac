import CasetrackCore
import NIOCore
import Synchronization

/// A GET that may be answered on the calling thread: well formed, by a session whose role
/// may read. Taking one takes nothing (no rate token, no log line).
public struct ImmediateGet: Sendable {
    let id: CaseID
}

extension Dispatcher {
    /// The GET this line asks for, when it is one the session may make; nil for anything
    /// else, which ``answer(_:session:)`` must answer.
    public func immediateGet(_ inbound: InboundLine, session: Session) -> ImmediateGet? {
        guard case .line(let buffer) = inbound, Self.startsWithGet(buffer.readableBytesView) else { return nil }
        let command: Command
        if let id = Self.plainGet(buffer.readableBytesView) {
            command = .get(id)
        } else {
            guard let line = String(validating: buffer.readableBytesView, as: UTF8.self),
                  let parsed = try? Command(Request(line: line), today: now().day) else { return nil }
            command = parsed
        }
        guard case .get(let id) = command, let role = session.role(under: settings.access),
              role >= command.requiredRole else { return nil }
        return ImmediateGet(id: id)
    }

    /// The id of a line that is exactly `GET`, blanks and a bare case id (`C-000123`, `c-123`
    /// or `123`, as ``CaseID`` reads them), read from its bytes; nil for any other line, which
    /// the request parser reads instead. Only for a line that ``startsWithGet(_:)``. Every
    /// line this accepts, the parser reads as the same GET (a test holds the two together):
    /// it only skips building a request for the common case, which was a fifth of a
    /// pipelined GET's cost.
    static func plainGet(_ bytes: ByteBufferView) -> CaseID? {
        var index = bytes.startIndex + 3
        let blanks = index
        while index < bytes.endIndex, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") { index += 1 }
        guard index > blanks, index < bytes.endIndex else { return nil }
        if bytes.endIndex - index > 2, bytes[index] | 0x20 == UInt8(ascii: "c"), bytes[index + 1] == UInt8(ascii: "-") { index += 2 }
        guard index < bytes.endIndex, bytes.endIndex - index <= 15 else { return nil }
        var number: Int64 = 0
        while index < bytes.endIndex {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            number = number * 10 + Int64(digit)
            index += 1
        }
        return number > 0 ? CaseID(number: number) : nil
    }

    /// Answers GETs at once, on the calling thread, in order, as far as the store reads their
    /// cases without waiting: all of them in one read of the store, which sees every change
    /// acknowledged before it began. Returns the answers to the first `n` of them; the rest
    /// (from a case missing, merged, or not readable here) were not touched and must be
    /// answered by ``answer(_:session:)``.
    ///
    /// A GET answered here is answered as there: the same rate limit, role, audit and answer.
    public func answerNow(_ gets: [ImmediateGet], session: inout Session) -> [Reply] {
        guard !gets.isEmpty else { return [] }
        let configuration = settings.current
        let today = now().day
        let records = store.getNow(gets.map(\.id))
        var replies: [Reply] = []
        replies.reserveCapacity(records.count)
        for (get, record) in zip(gets, records) {
            if let refusal = Self.rateRefusal(configuration, session: &session) {
                replies.append(refusal)
                continue
            }
            let reply = Reply(data: [record.fields(today: today)])
            if configuration.auditReads { audit(.get(get.id), reply: reply, session: session) }
            replies.append(reply)
        }
        return replies
    }

    /// ``answerNow(_:session:)`` with the answers rendered: the bytes of the first `count`
    /// GETs' answers, in order. A burst of ``splitBurst`` or more is split in two, the second
    /// half read and rendered by ``ReadHelper`` while this thread does the first. Each half
    /// reads in a snapshot of its own, both taken after every line of the burst was read (each
    /// GET still sees every change acknowledged before it was sent), the second half's after
    /// the first's (a later GET never sees an older state than an earlier one). The rate limit
    /// is applied afterwards, here, in order; with `audit_reads` each answer is logged as it is
    /// made, so the burst is not split.
    func renderNow(_ gets: [ImmediateGet], session: inout Session, format: WireFormat) -> RenderedAnswers {
        let configuration = settings.current
        guard !gets.isEmpty else { return RenderedAnswers() }
        if configuration.auditReads {
            var rendered = RenderedAnswers()
            for reply in answerNow(gets, session: &session) { rendered.append(reply, format) }
            return rendered
        }
        let today = now().day
        let ids = gets.map(\.id)
        let store = self.store
        @Sendable func render(_ ids: ArraySlice<CaseID>, whenBegun: () -> Void = {}) -> RenderedAnswers {
            var rendered = RenderedAnswers()
            for record in store.getNow(Array(ids), whenBegun: whenBegun) {
                rendered.append(Reply(data: [record.fields(today: today)]), format)
            }
            return rendered
        }
        var served: RenderedAnswers
        if ids.count >= Self.splitBurst {
            let half = ids.count / 2
            let second = HalfBurst()
            var helped = false
            // Offered once this half's snapshot is taken: the helper's begins after it.
            served = render(ids[..<half]) {
                helped = ReadHelper.shared.offer {
                    let answers = render(ids[half...])
                    second.answers.withLock { $0 = answers }
                }
            }
            let secondDone = helped && ReadHelper.shared.finish()
            // The second half counts only behind a whole first half: from a case not served
            // here on, every line goes to the task.
            if served.count == half {
                served.append(contentsOf: secondDone ? second.answers.withLock { $0 } : render(ids[half...]))
            }
        } else {
            served = render(ids[...])
        }
        var refusals: [Int: Reply] = [:]
        for index in 0..<served.count {
            if let refusal = Self.rateRefusal(configuration, session: &session) { refusals[index] = refusal }
        }
        // Usually none: the bytes go out as rendered.
        guard !refusals.isEmpty else { return served }
        var answers = RenderedAnswers()
        for index in 0..<served.count {
            if let refusal = refusals[index] {
                answers.append(refusal, format)
            } else {
                answers.append(served[index])
            }
        }
        return answers
    }

    /// GETs in one burst from which half is handed to ``ReadHelper``: fewer are not worth
    /// the hand-over.
    static let splitBurst = 32

    /// One line answered at once, or nil (nothing taken or logged): a GET as the one above
    /// answers it, alone.
    public func answerNow(_ inbound: InboundLine, session: inout Session) -> Reply? {
        guard let get = immediateGet(inbound, session: session) else { return nil }
        return answerNow([get], session: &session).first
    }

    /// Whether a line starts with the verb GET and a separator, in any case (the cheap test
    /// before parsing: every other line goes the usual way).
    static func startsWithGet(_ bytes: ByteBufferView) -> Bool {
        guard bytes.count > 4 else { return false }
        var index = bytes.startIndex
        for letter in [UInt8(ascii: "g"), UInt8(ascii: "e"), UInt8(ascii: "t")] {
            guard bytes[index] | 0x20 == letter else { return false }
            index = bytes.index(after: index)
        }
        return bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t")
    }
}

/// The answers of a burst as the bytes that go out, one after the other.
struct RenderedAnswers: Sendable {
    private(set) var bytes: [UInt8] = []
    /// Where each answer ends in `bytes`.
    private var ends: [Int] = []

    var count: Int { ends.count }

    subscript(index: Int) -> ArraySlice<UInt8> {
        bytes[(index == 0 ? 0 : ends[index - 1])..<ends[index]]
    }

    mutating func append(_ reply: Reply, _ format: WireFormat) {
        reply.write(format, into: &bytes)
        ends.append(bytes.count)
    }

    mutating func append(_ answer: ArraySlice<UInt8>) {
        bytes += answer
        ends.append(bytes.count)
    }

    mutating func append(contentsOf other: RenderedAnswers) {
        let base = bytes.count
        bytes += other.bytes
        ends += other.ends.map { $0 + base }
    }
}

/// The half of a burst ``ReadHelper`` answers, handed from its thread to the loop.
private final class HalfBurst: Sendable {
    let answers = Mutex(RenderedAnswers())
}
