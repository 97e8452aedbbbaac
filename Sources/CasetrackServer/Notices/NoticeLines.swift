import CasetrackCore
import NIOCore
import Synchronization

/// Live notice lines as sent, rendered once into a buffer that every subscriber taking them in
/// the same form writes to its socket as is (a `ByteBuffer` is shared, not copied). Only for
/// live notices: a replayed one is read back with the case's names as they are now, and must
/// not be mixed with the line of the same event as it went out live.
///
/// A notice goes out in at most four forms (text or JSON, with or without personal data).
/// Rendering it per subscriber cost more than sending it: with a thousand subscribers, a
/// thousand renderings of the same line. The last few thousand lines are kept here, keyed by
/// sequence number and form; a subscriber that falls further behind renders its own.
public final class NoticeLines: Sendable {
    struct Key: Hashable {
        let seq: Int64
        let format: WireFormat
        let personal: Bool
    }

    private struct Lines {
        var byKey: [Key: ByteBuffer] = [:]
        /// Keys in the order added, to forget the oldest first.
        var order: [Key] = []
        var oldest = 0
    }

    /// How many lines are kept.
    let capacity: Int
    private let lines = Mutex(Lines())

    public init(capacity: Int = 8_192) { self.capacity = capacity }

    /// The line (with its `\n`) for `notice` in this form.
    func line(for notice: Notice, format: WireFormat, personal: Bool) -> ByteBuffer {
        let key = Key(seq: notice.seq, format: format, personal: personal)
        if let kept = lines.withLock({ $0.byKey[key] }) { return kept }
        let line = ByteBuffer(bytes: Self.renderBytes(notice, format: format, personal: personal))
        lines.withLock { lines in
            guard lines.byKey.updateValue(line, forKey: key) == nil else { return }
            lines.order.append(key)
            if lines.order.count - lines.oldest > capacity {
                lines.byKey[lines.order[lines.oldest]] = nil
                lines.oldest += 1
                // Drop the forgotten keys from the front now and then, not on every line.
                if lines.oldest >= capacity {
                    lines.order.removeFirst(lines.oldest)
                    lines.oldest = 0
                }
            }
        }
        return line
    }

    /// The line for `notice` in this form, rendered afresh (what a replay sends).
    static func render(_ notice: Notice, format: WireFormat, personal: Bool) -> String {
        String(decoding: renderBytes(notice, format: format, personal: personal), as: UTF8.self)
    }

    /// ``render(_:format:personal:)`` as the UTF-8 bytes that go out.
    static func renderBytes(_ notice: Notice, format: WireFormat, personal: Bool) -> [UInt8] {
        var bytes: [UInt8] = []
        ResponseLine.notice(notice.fields(includePersonalData: personal)).write(format, into: &bytes)
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }
}
