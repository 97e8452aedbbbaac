/// Where the shared store is: the `postgresql =` setting, a libpq-style connection string
/// (`host=/run/postgresql dbname=casetrack user=casetrack`), so that an operator can paste what
/// `psql` takes. The password is never part of it: it comes from `postgresql_password_file`
/// (a connection string ends up in process listings, logs and bug reports).
public struct PostgresConnInfo: Hashable, Sendable, CustomStringConvertible {
    /// A folder holding the server's Unix socket (starts with `/`), or a host name or address.
    public var host = "/run/postgresql"
    public var port = 5432
    public var user: String?
    public var database: String?
    public var sslMode = SSLMode.prefer
    /// How long connecting may take, in seconds.
    public var connectTimeout = 5

    public enum SSLMode: String, CaseIterable, Sendable {
        /// Never encrypt (the usual choice on a Unix socket).
        case disable
        /// Encrypt when the server offers it (TCP only).
        case prefer
        /// Refuse a server that does not encrypt; the certificate is checked against the
        /// system's authorities and the host name.
        case require
    }

    public static let keys = ["host", "port", "dbname", "user", "sslmode", "connect_timeout", "application_name"]

    public init() {}

    /// Whether `host` names a socket folder.
    public var isUnixSocket: Bool { host.hasPrefix("/") }

    /// The Unix socket file libpq would use for `host` and `port`.
    public var socketPath: String { "\(host)/.s.PGSQL.\(port)" }

    /// Parses `key=value` pairs separated by spaces; a value may be single-quoted, with `\'`
    /// and `\\` inside.
    public init(_ text: String) throws {
        var rest = Substring(text)
        func skipSpaces() { rest = rest.drop(while: { $0 == " " || $0 == "\t" }) }
        skipSpaces()
        while !rest.isEmpty {
            guard let equals = rest.firstIndex(of: "=") else {
                throw CasetrackError.badArgument("postgresql: expected key=value, found '\(rest.prefix(40))'")
            }
            let key = String(rest[..<equals]).trimmingWhitespace()
            rest = rest[rest.index(after: equals)...]
            skipSpaces()
            var value = ""
            if rest.first == "'" {
                rest = rest.dropFirst()
                var closed = false
                while let character = rest.first {
                    rest = rest.dropFirst()
                    if character == "\\", let next = rest.first {
                        value.append(next)
                        rest = rest.dropFirst()
                    } else if character == "'" {
                        closed = true
                        break
                    } else {
                        value.append(character)
                    }
                }
                guard closed else { throw CasetrackError.badArgument("postgresql: the value of \(key) lacks its closing quote") }
            } else {
                let end = rest.firstIndex(where: { $0 == " " || $0 == "\t" }) ?? rest.endIndex
                value = String(rest[..<end])
                rest = rest[end...]
            }
            try set(key, value)
            skipSpaces()
        }
    }

    private mutating func set(_ key: String, _ value: String) throws {
        switch key {
        case "host":
            guard !value.isEmpty else { throw CasetrackError.badArgument("postgresql: host is empty") }
            host = value
        case "port":
            guard let number = Int(value), (1...65_535).contains(number) else {
                throw CasetrackError.badArgument("postgresql: port must be a number from 1 to 65535")
            }
            port = number
        case "dbname": database = value
        case "user": user = value
        case "sslmode":
            guard let mode = SSLMode(rawValue: value) else {
                throw CasetrackError.badArgument("postgresql: sslmode must be one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            sslMode = mode
        case "connect_timeout":
            guard let seconds = Int(value), (1...300).contains(seconds) else {
                throw CasetrackError.badArgument("postgresql: connect_timeout must be a number of seconds from 1 to 300")
            }
            connectTimeout = seconds
        case "application_name":
            break
        case "password":
            throw CasetrackError.badArgument(
                "postgresql: a password does not belong in the connection string (it would show in logs and process lists); put it in a file readable by the daemon only and name it with postgresql_password_file")
        default:
            throw CasetrackError.badArgument("postgresql: unknown key '\(key.prefix(40))'; known keys: \(Self.keys.joined(separator: ", "))")
        }
    }

    /// The connection string again (without a password, which it never holds).
    public var description: String {
        var parts = ["host=\(host)", "port=\(port)"]
        if let database { parts.append("dbname=\(database)") }
        if let user { parts.append("user=\(user)") }
        parts.append("sslmode=\(sslMode.rawValue)")
        return parts.joined(separator: " ")
    }
}
