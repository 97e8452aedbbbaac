/// What the fuzzer checks for any input, kept here so that the unit tests run the same checks
/// over the committed seeds and every input that ever broke them (Tests/Fuzz/).
///
/// For any bytes: the request decoder and the command validation either succeed or throw a
/// ``CasetrackError`` with a documented code; a request that decodes writes back to a line that
/// decodes to the same request; answer lines and configuration text never crash their parsers.
public enum ProtocolFuzzing {
    /// Runs every check on one input; what went wrong, or nil when all hold.
    public static func violation(_ bytes: some Collection<UInt8>) -> String? {
        guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
        // One request line is what the server hands the decoder: no line feed inside.
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        do {
            let request = try Request(line: line)
            let again = try Request(line: request.line)
            guard again == request else { return "a decoded request does not survive writing it back: \(request)" }
            let command = try Command(request, today: Day(year: 2026, month: 11, day: 27) ?? Day(daysSinceEpoch: 0))
            guard command.verb.name == request.verb else { return "the command's verb is not the request's: \(request)" }
            guard command.requiredRole >= command.verb.role else { return "an argument lowered the role a verb needs" }
        } catch let error as CasetrackError {
            guard CasetrackError.Code.all.contains(error.code) else { return "undocumented error code \(error.code)" }
            guard !error.message.isEmpty else { return "an error without a message" }
        } catch {
            return "an error that is not a CasetrackError: \(error)"
        }
        _ = try? ResponseLine(text: line)
        var configuration = DaemonConfiguration()
        _ = try? configuration.apply(fileText: text, origin: "fuzz")
        return nil
    }
}
