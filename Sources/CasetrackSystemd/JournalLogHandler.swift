#if canImport(Glibc)
import Glibc
#endif
import CasetrackPOSIX
import CSystemd
import Logging
import Synchronization

/// Where the daemon's log goes.
public enum LogTarget: String, Sendable, CaseIterable {
    /// journald when systemd started the daemon (`JOURNAL_STREAM` or `INVOCATION_ID` set) and
    /// journald listens; else standard error, so that a daemon started from a terminal logs there.
    case auto
    /// journald, with structured fields; standard error for any message journald refuses.
    case journal
    /// Standard error, one line per message.
    case stderr

    /// What `auto` means on this machine now.
    public var resolved: LogTarget {
        guard self == .auto else { return self }
        let underSystemd = getenv("JOURNAL_STREAM") != nil || getenv("INVOCATION_ID") != nil
        return underSystemd && access(JournalLogHandler.socketPath, W_OK) == 0 ? .journal : .stderr
    }
}

/// The level every handler of the daemon logs at, changeable while it runs (reload).
public final class SharedLogLevel: Sendable {
    private let level: Mutex<Logger.Level>

    public init(_ level: Logger.Level) { self.level = Mutex(level) }

    public var value: Logger.Level {
        get { level.withLock { $0 } }
        set { level.withLock { $0 = newValue } }
    }
}

/// A swift-log handler that writes to journald through `sd_journal_sendv`, one entry per
/// message with structured fields, or to standard error.
///
/// Fields of every entry: `MESSAGE`, `PRIORITY` (from the level), `SYSLOG_IDENTIFIER`,
/// `CODE_FILE`, `CODE_LINE`, `CODE_FUNC`. Metadata becomes fields of its own: `message_id`
/// gives `MESSAGE_ID` (the catalog's key), every other key `k` gives `CASETRACK_K`
/// (`case` → `CASETRACK_CASE`). What to log, and that it holds no personal data unless the
/// operator asked, is the caller's business.
public struct JournalLogHandler: LogHandler {
    public static let socketPath = "/run/systemd/journal/socket"

    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let identifier: String
    let target: LogTarget
    let sharedLevel: SharedLogLevel

    public init(identifier: String, target: LogTarget, level: SharedLogLevel) {
        self.identifier = identifier
        self.target = target.resolved
        self.sharedLevel = level
    }

    public var logLevel: Logger.Level {
        get { sharedLevel.value }
        set { sharedLevel.value = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        if let error = event.error { merged["error"] = "\(error)" }
        let message = "\(event.message)"
        if target == .journal, sendToJournal(message, level: event.level, metadata: merged, event: event) { return }
        writeToStandardError(message, level: event.level, metadata: merged)
    }

    /// The journald fields of one entry, in order.
    func fields(_ message: String, level: Logger.Level, metadata: Logger.Metadata, event: LogEvent) -> [String] {
        var fields = [
            "MESSAGE=" + message,
            "PRIORITY=\(JournalLogHandler.priority(level))",
            "SYSLOG_IDENTIFIER=" + identifier,
            "CODE_FILE=" + event.file,
            "CODE_LINE=\(event.line)",
            "CODE_FUNC=" + event.function,
        ]
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            fields.append(JournalLogHandler.fieldName(key) + "=" + "\(value)")
        }
        return fields
    }

    private func sendToJournal(_ message: String, level: Logger.Level, metadata: Logger.Metadata, event: LogEvent) -> Bool {
        // libsystemd reports success when no journald listens (it drops the entry on purpose);
        // look first, so that a message without a journal goes to standard error instead.
        guard access(JournalLogHandler.socketPath, W_OK) == 0 else { return false }
        let entries = fields(message, level: level, metadata: metadata, event: event).map { Array($0.utf8) }
        // One iovec per field; values may hold new lines (journald takes them as they are).
        let buffers = entries.map { bytes -> UnsafeMutableRawBufferPointer in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 1)
            buffer.copyBytes(from: bytes)
            return buffer
        }
        defer { buffers.forEach { $0.deallocate() } }
        var vectors = zip(buffers, entries).map { iovec(iov_base: $0.0.baseAddress, iov_len: $0.1.count) }
        return sd_journal_sendv(&vectors, Int32(vectors.count)) >= 0
    }

    private func writeToStandardError(_ message: String, level: Logger.Level, metadata: Logger.Metadata) {
        var line = "\(identifier): \(level.rawValue): \(message)"
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) where key != "message_id" {
            line += " \(key)=\(value)"
        }
        FileDescriptorOutput.write(2, line + "\n")
    }

    /// syslog priorities: 2 critical … 7 debug.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// `message_id` → `MESSAGE_ID`; any other key → `CASETRACK_` and the key in capitals, with
    /// every character journald does not take in a field name made `_`.
    static func fieldName(_ key: String) -> String {
        if key == "message_id" { return "MESSAGE_ID" }
        let cleaned = key.uppercased().map { character -> Character in
            character.isASCII && (character.isLetter || character.isNumber) ? character : "_"
        }
        return String(("CASETRACK_" + String(cleaned)).prefix(64))
    }
}
