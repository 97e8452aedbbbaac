@testable import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation

/// The tests' daemon is the shared harness; what only the tests need is added here.
typealias Daemon = DaemonProcess

extension DaemonProcess {
    static var binDirectory: URL {
        if let path = ProcessInfo.processInfo.environment["CASETRACK_BIN_DIR"] { return URL(fileURLWithPath: path) }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug")
    }

    /// A daemon in a fresh folder, removed with it; warnings only unless a test's own
    /// `--log-level` says otherwise.
    convenience init(start: Bool = true) throws {
        // Short paths: a Unix socket path has room for 107 bytes.
        let folder = URL(fileURLWithPath: "/tmp/ct-e2e-\(UUID().uuidString.prefix(8))")
        try self.init(bin: DaemonProcess.binDirectory, folder: folder, standardArguments: ["--log-level", "warning"],
                      removesFolder: true)
        if start { try self.start() }
    }

    func raw() throws -> RawSession { try RawSession(socketPath: socket) }

    /// The database's whole content, read with the sqlite3 shell.
    func dump() throws -> String {
        try DaemonProcess.run(URL(fileURLWithPath: "/usr/bin/sqlite3"), [database, """
            SELECT * FROM cases ORDER BY id; SELECT * FROM events ORDER BY seq; SELECT * FROM case_tags ORDER BY 1, 2;
            SELECT * FROM case_refs ORDER BY 1; SELECT * FROM case_name_keys ORDER BY 1, 2; SELECT * FROM counters ORDER BY 1;
            """]).stdout
    }
}

/// A hand-typed session: bytes in, lines out, like `socat - UNIX-CONNECT:…`. It stays in the
/// tests (and this file imports CasetrackClient `@testable`) because it sends bytes no
/// well-behaved client would through the client's internal `LineConnection`, which the shipped
/// library need not offer.
final class RawSession {
    let connection: LineConnection
    let greeting: String

    init(socketPath: String) throws {
        connection = try LineConnection(socketPath: socketPath)
        // A stuck daemon fails the test instead of hanging the suite.
        connection.setTimeout(seconds: 60)
        greeting = try connection.readLine() ?? ""
    }

    func send(_ text: String) throws { try connection.send(bytes: Array(text.utf8)) }

    func send(bytes: [UInt8]) throws { try connection.send(bytes: bytes) }

    func line() throws -> String? { try connection.readLine() }

    /// Lines up to and including the next final line (OK or ERR).
    func answer() throws -> [String] {
        var lines: [String] = []
        while let line = try connection.readLine() {
            lines.append(line)
            if line == "OK" || line.hasPrefix("OK ") || line.hasPrefix("ERR ") { return lines }
        }
        return lines
    }

    func halfClose() { connection.shutdownWrite() }
}
