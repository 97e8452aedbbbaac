import CasetrackCore
import Foundation
import Testing

@Suite("Daemon configuration file")
struct ConfigurationTests {
    @Test("keys, comments, quotes")
    func valid() throws {
        var configuration = DaemonConfiguration()
        try configuration.apply(fileText: """
            # casetrack
            socket = /run/x.sock   # trailing comment
            database = "/var/lib/case #track/db.sqlite"  # a comment after a quoted value

            log_level = debug
            max_line_length = 4096
            socket_mode = 0600
            """, origin: "test.conf")
        #expect(configuration.socketPath == "/run/x.sock")
        #expect(configuration.databasePath == "/var/lib/case #track/db.sqlite")
        #expect(configuration.logLevel == "debug" && configuration.maximumLineLength == 4096)
        #expect(configuration.socketMode == 0o600)
    }

    @Test("a file saved with Windows line ends reads as the same file")
    func windowsLineEnds() throws {
        let text = "# casetrack\nsocket = /run/x.sock  # comment\ndatabase = /srv/ct.sqlite\nlog_level = debug\n"
        var unix = DaemonConfiguration()
        try unix.apply(fileText: text, origin: "unix.conf")
        var windows = DaemonConfiguration()
        try windows.apply(fileText: text.replacingOccurrences(of: "\n", with: "\r\n"), origin: "windows.conf")
        #expect(windows.databasePath == "/srv/ct.sqlite" && windows.socketPath == "/run/x.sock" && windows.logLevel == "debug")
        #expect(windows == unix)
        var bad = DaemonConfiguration()
        #expect(throws: CasetrackError.self) { try bad.apply(fileText: "# x\r\nlog_level = debug\r\nnonsense\r\n", origin: "w.conf") }
    }

    @Test("event_loops: a number, or auto for one fewer than the cores (at least one)")
    func eventLoops() throws {
        var configuration = DaemonConfiguration()
        #expect(configuration.eventLoopCount(cores: 1) == 1)
        #expect(configuration.eventLoopCount(cores: 2) == 1)
        #expect(configuration.eventLoopCount(cores: 16) == 15)
        try configuration.apply(fileText: "event_loops = 3", origin: "test.conf")
        #expect(configuration.eventLoopCount(cores: 2) == 3 && configuration.eventLoopCount(cores: 16) == 3)
        let (reloaded, needRestart) = DaemonConfiguration().reloaded(from: configuration)
        #expect(reloaded.eventLoops == nil && needRestart == ["event_loops"])
        try configuration.apply(fileText: "event_loops = auto", origin: "test.conf")
        #expect(configuration.eventLoops == nil)
    }

    @Test("a bad line is named", arguments: [
        ("colour = red", "test.conf:1: unknown key 'colour'"),
        ("log_level = debug\nsocket", "test.conf:2: expected key = value"),
        ("socket = relative.sock", "absolute path"),
        ("log_level = loud", "log_level must be one of"),
        ("max_line_length = 10", "from 1024"),
        ("socket = \"/a", "unterminated"),
        ("socket = /a /b", "one word"),
        ("socket_mode = 999", "octal"),
        ("event_loops = 0", "event_loops must be auto or a number of threads from 1 to 256"),
        ("event_loops = many", "event_loops must be auto"),
    ])
    func invalid(_ text: String, _ fragment: String) {
        var configuration = DaemonConfiguration()
        #expect {
            try configuration.apply(fileText: text, origin: "test.conf")
        } throws: { error in
            (error as? CasetrackError)?.message.contains(fragment) == true
        }
        #expect(configuration == DaemonConfiguration(), "a refused file changes nothing")
    }
}

@Suite("The shipped configuration file")
struct ShippedConfigurationTests {
    @Test("config/casetrackd.conf parses and states the built-in defaults")
    func shipped() throws {
        let path = DocumentationTests.root.appendingPathComponent("config/casetrackd.conf")
        let text = try String(contentsOf: path, encoding: .utf8)
        var configuration = DaemonConfiguration()
        configuration.logLevel = "error"
        try configuration.apply(fileText: text, origin: path.path)
        #expect(configuration == DaemonConfiguration())
        for key in ["socket", "socket_mode", "database", "busy_timeout", "log_level", "max_line_length", "event_loops"] {
            #expect(text.contains("\n\(key) = "), "\(key) is in the file")
        }
    }
}
