import CasetrackClient
import CasetrackCore
import CasetrackPOSIX
import CasetrackServer
import CasetrackTestSupport
import Foundation
import Testing
import TestThreads

/// journald for the tests: the running one, or one started here (as root) when none runs.
enum Journald {
    static let socket = "/run/systemd/journal/socket"

    static let available: Bool = {
        // A socket file can outlive its journald (a machine image, a killed test run): only a
        // journald that accepts a connection counts, or entries would vanish unseen.
        if listening() { return true }
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/lib/systemd/systemd-journald") else { return false }
        try? FileManager.default.createDirectory(atPath: "/run/systemd/journal", withIntermediateDirectories: true)
        let journald = Process()
        journald.executableURL = URL(fileURLWithPath: "/lib/systemd/systemd-journald")
        journald.standardOutput = FileHandle.nullDevice
        journald.standardError = FileHandle.nullDevice
        guard (try? journald.run()) != nil else { return false }
        for _ in 0..<100 where !listening() { usleep(50_000) }
        return listening()
    }()

    /// Whether a journald receives on the socket: connecting a datagram socket to a file
    /// that nobody listens on is refused.
    static func listening() -> Bool {
        guard case .success(let fd) = UnixSocket.connect(to: socket, kind: .datagram) else { return false }
        close(fd)
        return true
    }

    /// The entries one process wrote, as journalctl's JSON objects, once `count` are there
    /// and one has `messageID` (when given); at most 10 s.
    static func entries(pid: Int32, atLeast count: Int, with messageID: String? = nil) throws -> [[String: Any]] {
        var entries: [[String: Any]] = []
        for _ in 0..<100 {
            let result = try Daemon.run(URL(fileURLWithPath: "/usr/bin/journalctl"),
                                        ["-o", "json", "--no-pager", "_PID=\(pid)"])
            entries = try result.jsonLines()
            let found = messageID.map { id in entries.contains { $0["MESSAGE_ID"] as? String == id } } ?? true
            if entries.count >= count, found { break }
            usleep(100_000)
        }
        return entries
    }
}

@Suite("systemd: journald, sd_notify, socket activation, units", .blocking)
struct SystemdTests {
    @Test("journald gets structured entries with our fields, priorities and MESSAGE_IDs, and no names",
          .enabled(if: Journald.available, "no journald here and none can be started (needs root)"))
    func journal() throws {
        let daemon = try Daemon(start: false)
        try daemon.start(extraArguments: ["--log-target", "journal", "--log-level", "info"])
        let pid = try #require(daemon.process?.processIdentifier)
        try daemon.casectl("add", "--name", "Зінченко Орест", "--category", "military", "--status", "captive")
        try daemon.casectl("set-status", "C-000001", "returned")
        let refused = try daemon.casectl("set-status", "C-000001", "captive")
        #expect(refused.status == 3)
        kill(pid, SIGHUP)
        // The reload is logged before the stop begins.
        _ = try Journald.entries(pid: pid, atLeast: 7, with: MessageID.reloaded)
        #expect(daemon.stop() == 0)
        let entries = try Journald.entries(pid: pid, atLeast: 8)
        func with(_ id: String) -> [[String: Any]] { entries.filter { $0["MESSAGE_ID"] as? String == id } }
        let ids = MessageID.self
        #expect(with(ids.started).count == 1 && with(ids.ready).count == 1 && with(ids.reloaded).count == 1)
        #expect(with(ids.stopping).count == 1)
        let changes = with(ids.caseChanged)
        #expect(changes.count == 2)
        let status = try #require(changes.last)
        #expect(status["CASETRACK_CASE"] as? String == "C-000001" && status["CASETRACK_KIND"] as? String == "status")
        #expect(status["CASETRACK_OLD"] as? String == "captive" && status["CASETRACK_NEW"] as? String == "returned")
        #expect(status["CASETRACK_SEQ"] as? String == "2" && status["PRIORITY"] as? String == "6")
        #expect(status["CASETRACK_PEER_UID"] as? String == String(getuid()) && status["CASETRACK_PEER_PID"] != nil)
        #expect(status["SYSLOG_IDENTIFIER"] as? String == "casetrackd" && status["MESSAGE"] as? String == "case changed")
        #expect((status["CODE_FILE"] as? String)?.hasSuffix("Dispatcher+Cases.swift") == true && status["CODE_LINE"] != nil)
        let refusal = try #require(with(ids.writeRefused).first)
        #expect(refusal["PRIORITY"] as? String == "5" && refusal["CASETRACK_CODE"] as? String == "illegal-transition")
        // Personal data stays out unless the operator turns it on.
        let everything = try Daemon.run(URL(fileURLWithPath: "/usr/bin/journalctl"), ["-o", "verbose", "--no-pager", "_PID=\(pid)"])
        #expect(!everything.stdout.contains("Зінченко") && !everything.stdout.contains("Orest"))

        let named = try Daemon(start: false)
        try named.start(config: "log_personal_data = yes\nlog_target = journal\n", extraArguments: ["--log-level", "info"])
        let namedPID = try #require(named.process?.processIdentifier)
        try named.casectl("add", "--name", "Зінченко Орест", "--category", "military", "--status", "captive")
        let namedEntries = try Journald.entries(pid: namedPID, atLeast: 3)
        #expect(namedEntries.contains { $0["CASETRACK_NAME"] as? String == "Зінченко Орест" })
    }

    @Test("without a reachable journald the daemon logs to standard error and keeps working",
          .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"), "needs root for a private mount"))
    func noJournald() throws {
        let daemon = try Daemon(start: false)
        // A private /run/systemd/journal with nothing in it: no journald to reach.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        process.arguments = ["--mount", "--propagation", "private", "sh", "-c",
                             "mkdir -p /run/systemd/journal && mount -t tmpfs tmpfs /run/systemd/journal && exec \"$0\" \"$@\"",
                             Daemon.binDirectory.appendingPathComponent("casetrackd").path,
                             "--socket", daemon.socket, "--database", daemon.database, "--log-target", "journal", "--log-level", "info"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }
        try daemon.waitUntilServing()
        let added = try daemon.casectl("add", "--name", "Гнатюк Віра", "--category", "civilian", "--status", "missing")
        #expect(added.status == 0)
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.contains("casetrackd: info: case changed") && text.contains("case=C-000001"), "\(text)")
        #expect(!text.contains("Гнатюк"))
    }

    @Test("sd_notify: READY once the socket serves, STATUS, watchdog keep-alives, RELOADING then READY, STOPPING")
    func notify() throws {
        let daemon = try Daemon(start: false)
        let listener = try NotifyListener(path: daemon.folder.appendingPathComponent("notify").path)
        let process = Process()
        process.executableURL = Daemon.binDirectory.appendingPathComponent("casetrackd")
        process.arguments = ["--socket", daemon.socket, "--database", daemon.database, "--log-level", "warning"]
        process.environment = ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "400000"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }

        let ready = try #require(listener.next { $0.contains("READY=1") })
        // READY means serving: a client connects at once.
        #expect(try daemon.casectl("ping").status == 0)
        #expect(ready.contains("STATUS=serving 0 cases, 0 subscribers, last event 0"), "\(ready)")
        #expect(listener.next { $0 == "WATCHDOG=1" } != nil, "keep-alives at half of WATCHDOG_USEC")
        #expect(listener.next { $0 == "WATCHDOG=1" } != nil)

        try daemon.casectl("add", "--name", "Кравець Лука", "--category", "military", "--status", "captive")
        #expect(listener.next { $0.contains("STATUS=serving 1 cases, 0 subscribers, last event 1") } != nil, "STATUS follows")

        kill(process.processIdentifier, SIGHUP)
        let reloading = try #require(listener.next { $0.contains("RELOADING=1") })
        #expect(reloading.contains("MONOTONIC_USEC="))
        #expect(listener.next { $0.contains("READY=1") } != nil, "READY again after the reload")

        process.terminate()
        #expect(listener.next { $0.contains("STOPPING=1") } != nil)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    @Test("reload: new settings in force without dropping a subscriber; a bad file is refused and changes nothing")
    func reload() throws {
        let daemon = try Daemon(start: false)
        try daemon.start(config: "held_alerts = off\nhousekeeping_interval = 1\nlog_target = stderr\n")
        let pid = try #require(daemon.process?.processIdentifier)
        let config = daemon.folder.appendingPathComponent("casetrackd.conf").path
        let session = try daemon.raw()
        try session.send("SUBSCRIBE kind=held\n")
        _ = try session.answer()
        try daemon.casectl("add", "--name", "Мазур Євгенія", "--category", "civilian", "--status", "captive", "--since", "2012-05")

        // A bad file: refused, the daemon goes on with what it had.
        try "held_alerts = 8y\nlog_target = stderr\nretention = forever\n".write(toFile: config, atomically: true, encoding: .utf8)
        kill(pid, SIGHUP)
        #expect((try? daemon.waitForOutput(containing: "configuration refused, the previous one stays in force: ")) != nil)
        // Two housekeeping looks (1 s apart) under whatever is in force: the old file's
        // held_alerts = off must still hold.
        usleep(2_200_000)
        #expect(try daemon.casectl("ping").status == 0)
        #expect(try daemon.casectl("history", "C-000001", "--json").lines.count == 1, "no alert: the bad file was not taken")

        // A good one: the held alert is on, and the subscriber connected before hears it.
        try "held_alerts = 8y\nhousekeeping_interval = 1\nlog_target = stderr\n".write(toFile: config, atomically: true, encoding: .utf8)
        kill(pid, SIGHUP)
        let alert = try #require(try session.line())
        #expect(alert.hasPrefix("N seq=2 id=C-000001 kind=held ") && alert.contains(" threshold=8y "), "\(alert)")
    }

    @Test("socket activation: the daemon serves on the socket systemd-socket-activate passes",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-socket-activate"), "no systemd-socket-activate"))
    func socketActivation() throws {
        let daemon = try Daemon(start: false)
        let said = daemon.folder.appendingPathComponent("activate.out").path
        let activator = Process()
        activator.executableURL = URL(fileURLWithPath: "/bin/sh")
        activator.arguments = ["-c", "exec \"$@\" > \(said) 2>&1", "sh", "/usr/bin/systemd-socket-activate",
                               "-l", daemon.socket, "--fdname=rw", Daemon.binDirectory.appendingPathComponent("casetrackd").path,
                               "--database", daemon.database, "--log-level", "warning"]
        try activator.run()
        defer { if activator.isRunning { kill(activator.processIdentifier, SIGKILL); activator.waitUntilExit() } }
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: daemon.socket) { usleep(20_000) }
        // The first connection starts the daemon, which answers on the inherited socket.
        let client = try daemon.client()
        let added = try client.request(Request(verb: "ADD", options: [("name", "Ярош Данило"), ("category", "military"),
                                                                      ("status", "missing")])).get()
        #expect(added.string("id") == "C-000001")
        #expect(try client.get(CaseID(number: 1))?.names == ["Ярош Данило"])
        // The socket's queue is as the manager made it (SOMAXCONN), not NIO's default of 128:
        // clients reconnecting at once after a restart wait there. ss shows it as Send-Q.
        // Through popen, not Foundation's Process: the activator closed the pipe Foundation
        // watches its child by, so Foundation's monitor waits on it for good, and with it on
        // every process started after.
        var listed = ""
        if let pipe = popen("/usr/bin/ss -xlnH", "r") {
            var buffer = [CChar](repeating: 0, count: 4096)
            while fgets(&buffer, Int32(buffer.count), pipe) != nil { listed += String(cString: buffer) }
            pclose(pipe)
        }
        let row = listed.split(separator: "\n").first { $0.contains(daemon.socket) }
        let columns = row?.split(separator: " ", omittingEmptySubsequences: true) ?? []
        #expect(columns.count > 3 && columns[3] == "4096", "\(row ?? "no listening socket")")
        kill(activator.processIdentifier, SIGTERM)
        for _ in 0..<300 where activator.isRunning { usleep(50_000) }
        #expect(!activator.isRunning, "SIGTERM stops it")
        let output = (try? String(contentsOfFile: said, encoding: .utf8)) ?? ""
        #expect(output.contains("listening on fd 3 (rw, from systemd)"), "\(output)")
        #expect(FileManager.default.fileExists(atPath: daemon.socket), "the socket belongs to the manager: left in place")
    }

    @Test("systemd-analyze verify says nothing about our units; security rates the service SAFE (≤ 1.0)",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "no systemd-analyze"))
    func unitFiles() throws {
        let staging = try Daemon(start: false)
        // Installed as make install does, under a prefix where ExecStart= exists.
        let prefix = staging.folder.appendingPathComponent("prefix").path
        let install = try Daemon.run(URL(fileURLWithPath: "/usr/bin/make"), [
            "-C", SystemdTests.repository, "install-files", "PREFIX=\(prefix)", "SYSCONFDIR=\(prefix)/etc",
            "INSTALL_BIN=\(Daemon.binDirectory.path)",
        ])
        #expect(install.status == 0, "\(install.stderr)")
        let units = ["casetrackd.socket", "casetrackd.service"].map { "\(prefix)/lib/systemd/system/\($0)" }
        let verify = try Daemon.run(URL(fileURLWithPath: "/usr/bin/systemd-analyze"), ["verify", "--man=no"] + units)
        #expect(verify.status == 0 && verify.stdout.isEmpty && verify.stderr.isEmpty, "\(verify.stdout)\(verify.stderr)")
        let security = try Daemon.run(URL(fileURLWithPath: "/usr/bin/systemd-analyze"),
                                      ["security", "--offline=true", "--man=no", units[1]])
        let line = try #require(security.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let score = Double(line.split(separator: ":").last?.split(separator: " ").first ?? "") ?? 99
        #expect(score < 1.0 && line.contains("SAFE"), "\(line)")
        let unit = try String(contentsOfFile: units[1], encoding: .utf8)
        #expect(unit.contains("ExecStart=\(prefix)/bin/casetrackd"), "make install points the unit at the installed binary")
        #expect(unit.contains("\nPrivateUsers=no\n") && !unit.contains("\nPrivateUsers=yes"), "yes would hide every peer's uid")
    }

    @Test("the MESSAGE_IDs in the code and in the shipped catalog are the same")
    func catalog() throws {
        let text = try String(contentsOfFile: "\(SystemdTests.repository)/systemd/casetrack.catalog", encoding: .utf8)
        let inCatalog = Set(text.split(separator: "\n").filter { $0.hasPrefix("-- ") }.map { String($0.dropFirst(3)) })
        #expect(inCatalog == Set(MessageID.all.map(\.id)))
        #expect(!text.contains("@"), "no placeholder left")
    }

    @Test("under a real systemd as PID 1: activation, STATUS, group access, journal, reload, stop, watchdog",
          .enabled(if: SystemdTests.canBootSystemd, "needs root, cgroup2, unshare and systemd to boot a private PID 1"))
    func realSystemd() throws {
        let staging = try Daemon(start: false)
        let stage = staging.folder.appendingPathComponent("stage").path
        let install = try Daemon.run(URL(fileURLWithPath: "/usr/bin/make"), [
            "-C", SystemdTests.repository, "install-files", "DESTDIR=\(stage)", "INSTALL_BIN=\(Daemon.binDirectory.path)",
        ])
        #expect(install.status == 0, "\(install.stderr)")
        let run = try Daemon.run(URL(fileURLWithPath: "/bin/bash"), ["\(SystemdTests.repository)/Tests/systemd/boot-and-check.sh"],
                                 environment: ["STAGE": stage])
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(lines.filter { $0.hasPrefix("PASS ") }.count == 21, "\(run.stdout)")
        #expect(!lines.contains { $0.hasPrefix("FAIL ") })
    }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static let canBootSystemd: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/lib/systemd/systemd"),
              FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"),
              FileManager.default.isExecutableFile(atPath: "/usr/bin/nsenter"),
              (try? String(contentsOfFile: "/proc/filesystems", encoding: .utf8))?.contains("overlay") == true,
              let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)
        else { return false }
        return mounts.split(separator: "\n").contains { $0.split(separator: " ").dropFirst(2).first == "cgroup2" }
    }()
}
