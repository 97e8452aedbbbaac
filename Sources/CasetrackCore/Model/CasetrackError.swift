/// An error that casetrack reports to a user or a program.
///
/// Every error carries a machine-readable ``Code`` (the word that stands after `ERR` on the
/// wire) and a message written for the person who will read it: what went wrong and, where it
/// helps, what to do instead.
public struct CasetrackError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The machine-readable kind of an error. Extensible: new codes do not break callers that
    /// switch over the ones they know and treat the rest as generic failures.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code as it appears on the wire, e.g. `not-found`.
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The line could not be split into words (bad quoting or escape).
        public static let badRequest = Code("bad-request")
        /// The line is not valid UTF-8.
        public static let invalidUTF8 = Code("invalid-utf8")
        /// The line is longer than the configured limit; it was discarded.
        public static let lineTooLong = Code("line-too-long")
        /// The first word of the line is not a verb of the protocol.
        public static let unknownVerb = Code("unknown-verb")
        /// An argument is missing, unknown or has a value that is not allowed.
        public static let badArgument = Code("bad-argument")
        /// The named case does not exist.
        public static let notFound = Code("not-found")
        /// The lifecycle table does not allow the requested status change.
        public static let illegalTransition = Code("illegal-transition")
        /// The write named a version the case no longer has.
        public static let versionConflict = Code("version-conflict")
        /// An external reference is already attached to another case.
        public static let duplicateReference = Code("duplicate-ref")
        /// The client asked for a protocol version this server does not speak.
        public static let unsupportedVersion = Code("unsupported-version")
        /// The peer's role does not allow the verb.
        public static let notPermitted = Code("not-permitted")
        /// The daemon is shutting down and takes no new requests.
        public static let shuttingDown = Code("shutting-down")
        /// The store failed; nothing was acknowledged. With `outcome=unknown`, a write's
        /// commit failed part-way: it may or may not have been recorded.
        public static let storageFailure = Code("storage-failure")
        /// The disk holding the database is full: the write was not made; writes resume by
        /// themselves once there is space, and reads go on meanwhile.
        public static let storageFull = Code("storage-full")
        /// The database file is damaged: the request was not answered or made, and the
        /// daemon takes no more writes until it is repaired; reads of intact data go on.
        public static let storageDamaged = Code("storage-damaged")
        /// The shared store (PostgreSQL, several offices) cannot be reached: the write was not
        /// made, or with `outcome=unknown` it may have been; reads are served from the office's
        /// own copy meanwhile, and writes resume by themselves when the store answers.
        public static let storageUnavailable = Code("storage-unavailable")
        /// A bug or an unexpected condition on the server.
        public static let internalError = Code("internal")
        /// `SUBSCRIBE since=` asked for events that retention already trimmed; `oldest=` names
        /// the oldest sequence number still kept.
        public static let gap = Code("gap")
        /// The connection already has a subscription; `UNSUBSCRIBE` first.
        public static let alreadySubscribed = Code("already-subscribed")
        /// (`BYE` only) The subscriber's notice buffer filled because it did not read;
        /// `after=` says where to resume.
        public static let overflow = Code("overflow")
        /// A limit of the daemon was reached (too many connections or subscribers, requests too
        /// fast, a line not finished in time, an answer too large); `limit=` names the
        /// configuration key. As a `BYE`, the connection is closed.
        public static let limitExceeded = Code("limit-exceeded")
        /// A merge found facts the two cases disagree on; the message lists each, and
        /// `prefer=FIELD:target|source` settles them.
        public static let mergeConflict = Code("merge-conflict")
        /// The case was merged into another; `merged_into=` names it.
        public static let merged = Code("merged")
        /// A client could not read what the server answered (never sent on the wire).
        public static let badResponse = Code("bad-response")

        /// Every code this version sends, in the order docs/PROTOCOL.md lists them.
        public static let all: [Code] = [
            badRequest, invalidUTF8, lineTooLong, unknownVerb, badArgument, notFound, illegalTransition,
            versionConflict, duplicateReference, mergeConflict, merged, unsupportedVersion, notPermitted, gap,
            alreadySubscribed, overflow, limitExceeded, shuttingDown, storageFailure, storageFull, storageDamaged, storageUnavailable, internalError,
        ]
    }

    public let code: Code
    public let message: String
    /// Machine-readable facts that go with the code on the wire (`oldest=` of a gap,
    /// `after=` of an overflow), written before the message.
    public var details: Fields

    public init(_ code: Code, _ message: String, details: Fields = Fields()) {
        self.code = code
        self.message = message
        self.details = details
    }

    public var description: String { "\(code): \(message)" }

    public static func badArgument(_ message: String) -> CasetrackError { .init(.badArgument, message) }

    /// A limit was reached: `limit=` names the configuration key that sets it.
    public static func limitExceeded(_ key: String, _ message: String) -> CasetrackError {
        var details = Fields()
        details.append("limit", key)
        return .init(.limitExceeded, message, details: details)
    }
}
