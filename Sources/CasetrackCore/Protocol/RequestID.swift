import Foundation

/// `request_id=`: a name the client gives a write so that sending it again (after a lost
/// connection, or `storage-failure outcome=unknown`) returns the first answer instead of
/// acting twice. Every verb that writes takes it.
public enum RequestID {
    /// How long the daemon remembers a request: at least a day, as PROTOCOL.md promises.
    public static let keptMilliseconds: Int64 = 48 * 3_600_000

    /// The request's id, checked; `nil` when it has none.
    public static func of(_ request: Request) throws -> String? {
        let values = request.options.filter { $0.key == "request_id" }.map(\.value)
        guard let value = values.first else { return nil }
        guard values.count == 1 else { throw CasetrackError.badArgument("request_id= given twice") }
        guard isWellFormed(value) else {
            throw CasetrackError.badArgument(
                "request_id: '\(value.prefix(70))' is not a request id; use 1 to 64 letters, digits and - _ . : (a UUID will do)")
        }
        return value
    }

    /// 1 to `longest` ASCII letters, digits and `- _ . :`. casectl asks for fewer than the
    /// daemon's 64: it names a command's later writes `ID.2`, `ID.3`….
    public static func isWellFormed(_ value: String, longest: Int = 64) -> Bool {
        (1...longest).contains(value.utf8.count)
            && value.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.:".unicodeScalars.contains($0)) }
    }
}

/// The write a task is running on behalf of a request with an id: the store records the id
/// in the write's own transaction, so that a repeat is recognised even after a crash.
public struct WriteRequest: Sendable {
    public let id: String
    public let verb: Verb

    public init(id: String, verb: Verb) {
        self.id = id
        self.verb = verb
    }

    @TaskLocal public static var current: WriteRequest?
}

extension CasetrackError.Code {
    /// (Never on the wire.) The write's `request_id` was done before: the store refused to do
    /// it again, and the dispatcher answers with the first answer.
    public static let repeated = CasetrackError.Code("repeated-request")
}

extension Reply {
    /// A successful answer as the store keeps it for a repeat: one JSON array per line,
    /// `["D"|"OK", [key, value]…]`, values typed, in their order.
    public var stored: String? {
        guard case .success(let final) = outcome else { return nil }
        func line(_ tag: String, _ fields: Fields) -> String {
            var items: [Any] = [tag]
            for item in fields.items {
                switch item.value {
                case .string(let value): items.append([item.key, value])
                case .int(let value): items.append([item.key, value])
                case .list(let values): items.append([item.key, values])
                }
            }
            let data = (try? JSONSerialization.data(withJSONObject: items)) ?? Data("[]".utf8)
            return String(decoding: data, as: UTF8.self)
        }
        return (data.map { line("D", $0) } + [line("OK", final)]).joined(separator: "\n")
    }

    /// Reads back what ``stored`` wrote.
    public init?(stored: String) {
        var data: [Fields] = []
        var final: Fields?
        for line in stored.split(separator: "\n") {
            guard let items = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [Any],
                  let tag = items.first as? String else { return nil }
            var fields = Fields()
            for case let pair as [Any] in items.dropFirst() {
                guard pair.count == 2, let key = pair[0] as? String else { return nil }
                switch pair[1] {
                case let value as String: fields.append(key, .string(value))
                case let values as [String]: fields.append(key, list: values)
                case let number as NSNumber: fields.append(key, .int(number.int64Value))
                default: return nil
                }
            }
            if tag == "OK" { final = fields } else { data.append(fields) }
        }
        guard let final else { return nil }
        self.init(data: data, final: final)
    }
}
