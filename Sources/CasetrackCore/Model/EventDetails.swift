/// The details every write carries into the event it records.
public struct EventDetails: Hashable, Sendable {
    /// When it happened. `nil` means: not said (today for status changes; for a new case, the
    /// date it went missing), unless ``occurredUnknown`` says the date is known to be unknown.
    public var occurredOn: PartialDate?
    /// `at=unknown` was given: the event's date is unknown, not today.
    public var occurredUnknown: Bool
    public var source: String?
    public var confidence: Confidence?
    public var note: String?

    public init(occurredOn: PartialDate? = nil, occurredUnknown: Bool = false, source: String? = nil,
                confidence: Confidence? = nil, note: String? = nil) {
        self.occurredOn = occurredOn
        self.occurredUnknown = occurredUnknown && occurredOn == nil
        self.source = source
        self.confidence = confidence
        self.note = note
    }
}
