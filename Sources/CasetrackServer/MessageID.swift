/// Stable `MESSAGE_ID`s of the daemon's key log messages. systemd/casetrack.catalog explains
/// each (`journalctl -x`); a test checks that the two lists agree. Never change an id: tools
/// and alerting rules select on it.
public enum MessageID {
    /// The daemon started (configuration read, before opening the database).
    public static let started = "ef59039b37b549408604e1ff51848c0f"
    /// The socket serves and the database is open.
    public static let ready = "eaa710db8c294a9d8468b80f33d58a43"
    /// A new configuration was read on SIGHUP and is in force.
    public static let reloaded = "68e26490ee8c41878e9db2cd54742265"
    /// A new configuration was refused on SIGHUP; the old one stays.
    public static let reloadRefused = "4705595028e64306afa923f54c05fe29"
    /// A case changed (opened, status, correction, update).
    public static let caseChanged = "a118ca677e75492aa1a979a12e5157a5"
    /// A write was refused (illegal transition, version conflict, bad value…).
    public static let writeRefused = "8d577fe9974c4a9c8124ecd420a59181"
    /// The database failed (I/O error, lock held too long); the daemon stops.
    public static let storageFailure = "fc04fafc68db4584bca5db2411f55f97"
    /// The disk is full: writes are refused (storage-full) until there is space.
    public static let storageFull = "5ceab04642ef421db4a2a1f2536b1682"
    /// The database file is damaged: writes are refused (storage-damaged) until it is restored.
    public static let storageDamaged = "684a980167074aebaecf4d860bf795ee"
    /// The shared store (PostgreSQL, several offices) cannot be reached: writes are refused
    /// (storage-unavailable) until it answers; reads are served from the office's copy.
    public static let storageUnavailable = "bd77b0d3089e4739a34be84e67ce7a23"
    /// Writes are taken again after a full disk or while the shared store was out of reach.
    public static let writesResumed = "139d9ace5f65405ba3e14ff8697f1551"
    /// The head of the event chain, logged once a day (and at start).
    public static let chainHead = "f9d315d68efc41adaa2b576ef0fa5d2b"
    /// A time alert was recorded (held threshold, stale case).
    public static let timeAlert = "9ca9e1be5ae14252bf250e75f63e9f28"
    /// A request was refused: the peer's role (or the socket it came through) does not allow it.
    public static let accessRefused = "5d1c7a9e3b2f4e6a8c0d2f4b6a8e0c13"
    /// Full records were read (only with `audit_reads = yes`).
    public static let recordsRead = "7e2b9d4f6a1c4b3e9f5d7a2c4e6b8d01"
    /// A client went past a limit and was disconnected (connections, line or send timeout).
    public static let clientLimited = "b4e6d8f0a2c44e1b8d3f5a7c9e1b3d57"
    /// A phase of an exchange was completed: its cases are returned (counts by category).
    public static let exchangeCompleted = "96d914d60fe848a08d4a51e76aa100b7"
    /// A batch of imported cases was committed.
    public static let casesImported = "0269e287efae4b44a9c94f361679c649"
    /// An online backup was written and checked.
    public static let backupWritten = "311cee50adc8404f9dc68b97595cfbf9"
    /// The daemon stopped.
    public static let stopping = "19214a6a4cd24c098e8206a736a6c5eb"
    /// The daemon could not start (socket busy, database refused, a bad socket from systemd).
    public static let startFailed = "3b0f4e8c2d6a4f1b9e7c5a3d1f2b4c6e"

    /// Every id, with the name the catalog gives it.
    public static let all: [(name: String, id: String)] = [
        ("started", started), ("ready", ready), ("reloaded", reloaded), ("reload refused", reloadRefused),
        ("case changed", caseChanged), ("write refused", writeRefused), ("storage failure", storageFailure),
        ("time alert", timeAlert), ("stopping", stopping), ("start failed", startFailed),
        ("access refused", accessRefused), ("records read", recordsRead), ("client limited", clientLimited),
        ("exchange completed", exchangeCompleted), ("cases imported", casesImported), ("backup written", backupWritten),
        ("storage full", storageFull), ("storage damaged", storageDamaged), ("writes resumed", writesResumed),
        ("storage unavailable", storageUnavailable),
        ("event chain head", chainHead),
    ]
}
