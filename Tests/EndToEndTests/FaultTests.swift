import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Testing
import TestThreads

/// Real faults under the real daemon: a disk whose sync fails, a full file system, a
/// damaged database file. What matters is what a client is told and what it may then
/// believe: never "not made" for a change that may have been made.
@Suite("Storage faults: what clients are told, and what the daemon does", .blocking)
struct FaultTests {
    static let person = ["add", "--name", "Гордієнко Лука", "--category", "civilian", "--status", "missing"]

    /// Tests/Faults/failsync.c built into the daemon's folder: once `flag` exists, every
    /// fsync and fdatasync of the daemon fails with EIO.
    static func failingSync(_ daemon: Daemon) throws -> (flag: String, environment: [String: String]) {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Faults/failsync.c").path
        let library = daemon.folder.appendingPathComponent("failsync.so").path
        let built = try DaemonProcess.run(URL(fileURLWithPath: "/usr/bin/cc"), ["-shared", "-fPIC", "-o", library, source, "-ldl"])
        guard built.status == 0 else { throw CasetrackError(.internalError, "cc failsync.c: \(built.stderr)") }
        let flag = daemon.folder.appendingPathComponent("fail-sync").path
        return (flag, ["LD_PRELOAD": library, "FAILSYNC_FLAG": flag])
    }

    @Test("a failed sync is never acknowledged nor called 'not made': outcome unknown, the daemon stops, and recovers")
    func failedSync() throws {
        let daemon = try Daemon(start: false)
        let (flag, environment) = try Self.failingSync(daemon)
        daemon.environment = environment
        try daemon.start()
        #expect(try daemon.casectl(Self.person).status == 0)
        // casectl's write named itself (request_id): its answer is kept by a write of its own
        // after it. A write answered after that one means that it committed, before the disk fails.
        let client = try daemon.client()
        _ = try client.request(Request(verb: "TEST-NOTICE")).get()
        _ = FileManager.default.createFile(atPath: flag, contents: nil)

        let marta: [(key: String, value: String)] = [("name", "Гордієнко Марта"), ("category", "civilian"), ("status", "captive"),
                                                     ("request_id", "marta-1")]
        let answer = try client.request(Request(verb: "ADD", options: marta))
        guard case .failure(let error) = answer.outcome else {
            Issue.record("a write whose sync failed was acknowledged: \(answer.outcome)")
            return
        }
        #expect(error.code == .storageFailure)
        #expect(error.details.string("outcome") == "unknown", "\(error)")
        #expect(error.message.contains("may or may not have been recorded"), "\(error.message)")
        #expect(!error.message.contains("not made"), "\(error.message)")
        #expect(daemon.waitForExit(seconds: 20) == 1, "the daemon stops rather than go on after a failed sync")

        // casectl says the same, with its own exit status for "outcome unknown".
        try FileManager.default.removeItem(atPath: flag)
        try daemon.start()
        _ = FileManager.default.createFile(atPath: flag, contents: nil)
        let unknown = try daemon.casectl(Self.person + ["--request-id", "luka-2"])
        #expect(unknown.status == 75, "\(unknown.status) \(unknown.stderr)")
        #expect(unknown.stderr.contains("may or may not have been recorded"), "\(unknown.stderr)")
        #expect(daemon.waitForExit(seconds: 20) == 1)

        // An import whose batch's sync failed: casectl says the batch may have been loaded.
        try FileManager.default.removeItem(atPath: flag)
        try daemon.start()
        _ = FileManager.default.createFile(atPath: flag, contents: nil)
        let file = daemon.folder.appendingPathComponent("register.csv").path
        try "names,category,status,refs\nГордієнко Ярина,civilian,captive,FT-1\n".write(toFile: file, atomically: true, encoding: .utf8)
        let imported = try daemon.casectl("import", file)
        #expect(imported.status == 75, "\(imported.status) \(imported.stderr)")
        #expect(imported.stderr.contains("which may have been loaded or not"), "\(imported.stderr)")
        #expect(!imported.stderr.contains("nothing of that batch"), "\(imported.stderr)")
        #expect(daemon.waitForExit(seconds: 20) == 1)

        try FileManager.default.removeItem(atPath: flag)
        try daemon.start()
        #expect(try daemon.casectl("get", "C-000001").status == 0, "the acknowledged write survived")
        // Each unknown write sent again with its request id: made now if it was not, answered
        // with its first answer if it was; never twice.
        let again = try daemon.client()
        let martaAgain = try again.request(Request(verb: "ADD", options: marta)).get()
        #expect(martaAgain.string("id") != nil, "\(martaAgain)")
        let lukaAgain = try daemon.casectl(Self.person + ["--request-id", "luka-2"])
        #expect(lukaAgain.status == 0, "\(lukaAgain.stderr)")
        #expect(try daemon.casectl("import", file).status == 0, "the import run again resumes")
        #expect(try daemon.casectl("count").stdout == "4\n", "one acknowledged case and each unknown one exactly once")
        let repeated = try again.request(Request(verb: "ADD", options: marta)).get()
        #expect(repeated.string("replayed") == "yes" && repeated.string("id") == martaAgain.string("id"), "\(repeated)")
        #expect(try daemon.casectl("count").stdout == "4\n")
    }

    @Test("a full disk refuses writes with storage-full; reads, notices and the daemon go on; writes resume with space")
    func fullDisk() throws {
        let daemon = try Daemon(start: false)
        let disk = daemon.folder.appendingPathComponent("disk")
        try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
        let mounted = try DaemonProcess.run(URL(fileURLWithPath: "/usr/bin/mount"), ["-t", "tmpfs", "-o", "size=24m", "tmpfs", disk.path])
        try #require(mounted.status == 0, "mounting a small tmpfs needs root: \(mounted.stderr)")
        defer { _ = try? DaemonProcess.run(URL(fileURLWithPath: "/usr/bin/umount"), ["-l", disk.path]) }
        let inside = try Daemon.onDatabase(disk.appendingPathComponent("cases.sqlite").path, in: daemon.folder)
        try inside.start()
        #expect(try inside.casectl(Self.person).status == 0)
        let watcher = try inside.raw()
        try watcher.send("SUBSCRIBE\n")
        _ = try watcher.answer()

        // Fill what is left, then write until SQLite needs a page it cannot have.
        let filler = disk.appendingPathComponent("filler").path
        _ = try DaemonProcess.run(URL(fileURLWithPath: "/usr/bin/dd"), ["if=/dev/zero", "of=\(filler)", "bs=64k"])
        let client = try inside.client()
        var refusal: CasetrackError?
        for index in 0..<2_000 where refusal == nil {
            let answer = try client.request(Request(verb: "ADD", options: [
                ("name", "Заповнювач \(index)"), ("category", "civilian"), ("status", "missing"),
                ("notes", String(repeating: "запис ", count: 400)),
            ]))
            if case .failure(let error) = answer.outcome { refusal = error }
        }
        let error = try #require(refusal, "the disk never filled")
        #expect(error.code == .storageFull, "\(error)")
        #expect(error.message.contains("the change was not made") && error.message.contains("resume by themselves"), "\(error.message)")
        let before = try client.request(Request(verb: "COUNT")).get().int("count") ?? -1

        // The daemon goes on: reads answer, casectl says what happened, the subscriber stays.
        #expect(inside.process?.isRunning == true)
        #expect(try inside.casectl("get", "C-000001").status == 0)
        let refused = try inside.casectl(Self.person)
        #expect(refused.status == 69 && refused.stderr.contains("disk holding the database is full"), "\(refused.stderr)")
        #expect(try client.request(Request(verb: "COUNT")).get().int("count") == before, "a refused write changed nothing")
        // A write refused for what it asks (a stale version) commits nothing: it says nothing
        // of the disk, and the episode goes on as one (a second critical entry would follow a
        // "writes resumed" that no write showed).
        let stale = try client.request(Request(verb: "SET-STATUS", positional: ["C-000001", "captive"], options: [("expect_version", "99")]))
        if case .failure(let conflict) = stale.outcome { #expect(conflict.code != .storageFull, "\(conflict)") }
        else { Issue.record("a stale version was taken: \(stale.outcome)") }
        let stillFull = try inside.casectl(Self.person)
        #expect(stillFull.status == 69, "\(stillFull.stderr)")
        let logged = inside.readAvailableOutput()
        #expect(logged.components(separatedBy: "the disk is full: writes are refused").count == 2,
                "one critical entry for the episode, not one per write: \(logged.suffix(600))")

        // Space again: the next write succeeds, and its notice reaches the subscriber.
        try FileManager.default.removeItem(atPath: filler)
        let added = try client.request(Request(verb: "ADD", options: [("name", "Гордієнко Олег"), ("category", "civilian"),
                                                                      ("status", "missing")])).get()
        let seq = try #require(added.int("seq"))
        var seen = false
        while !seen, let line = try watcher.line() {
            if line.hasPrefix("N seq=\(seq) ") { seen = true }
        }
        #expect(seen, "the subscriber got the notice of the write after the full disk")
        #expect(inside.stop() == 0)
    }

    @Test("a used-up quota (EDQUOT, which SQLite calls an I/O error) is a full disk: refused, not made, no stop")
    func quotaExceeded() throws {
        let daemon = try Daemon(start: false)
        var (_, environment) = try Self.failingSync(daemon)
        let quota = daemon.folder.appendingPathComponent("over-quota").path
        environment["QUOTA_FLAG"] = quota
        daemon.environment = environment
        try daemon.start()
        #expect(try daemon.casectl(Self.person).status == 0)
        _ = FileManager.default.createFile(atPath: quota, contents: nil)

        let client = try daemon.client()
        let answer = try client.request(Request(verb: "ADD", options: [("name", "Гордієнко Марта"), ("category", "civilian"),
                                                                       ("status", "captive"), ("request_id", "quota-1")]))
        guard case .failure(let error) = answer.outcome else {
            Issue.record("a write that could not be written was acknowledged: \(answer.outcome)")
            return
        }
        #expect(error.code == .storageFull, "\(error)")
        #expect(error.details.string("outcome") == nil, "\(error)")
        #expect(error.message.contains("disk quota exceeded") && error.message.contains("the change was not made"), "\(error.message)")
        let refused = try daemon.casectl(Self.person)
        #expect(refused.status == 69 && refused.stderr.contains("raise its quota"), "\(refused.stderr)")
        #expect(daemon.process?.isRunning == true, "the daemon goes on with a used-up quota")
        #expect(try daemon.casectl("count").stdout == "1\n", "reads go on, and nothing refused was made")

        // Quota again: the same request id is made now, once.
        try FileManager.default.removeItem(atPath: quota)
        let made = try client.request(Request(verb: "ADD", options: [("name", "Гордієнко Марта"), ("category", "civilian"),
                                                                     ("status", "captive"), ("request_id", "quota-1")])).get()
        #expect(made.string("id") == "C-000002" && made.string("replayed") == nil, "\(made)")
        #expect(try daemon.casectl("count").stdout == "2\n")
        let logged = daemon.readAvailableOutput()
        #expect(logged.contains("the disk is full: writes are refused"), "\(logged.suffix(600))")
        #expect(daemon.stop() == 0)
    }

    @Test("a damaged database file: reads say so without calling them changes, writes stop with storage-damaged")
    func damagedFile() throws {
        let daemon = try Daemon()
        let client = try daemon.client()
        for index in 0..<3_000 {
            _ = try client.request(Request(verb: "ADD", options: [
                ("name", "Пошкоджений Запис \(index)"), ("category", index % 2 == 0 ? "civilian" : "military"), ("status", "captive"),
                ("notes", "рядок \(index)"),
            ])).get()
        }
        // A named write made before the damage: its retry gets that first answer, not "not
        // made" (which would have a person entered twice).
        let named = try client.request(Request(verb: "ADD", options: [("name", "Названий Запис"), ("category", "civilian"),
                                                                       ("status", "missing"), ("request_id", "before-damage")])).get()
        #expect(daemon.stop() == 0)
        // A leaf page of the cases table overwritten (the WAL is empty after a clean stop), as
        // a failing sector would: found with SQLite's dbstat, so that LIST must read it.
        let found = try DaemonProcess.run(URL(fileURLWithPath: "/usr/bin/sqlite3"), [
            daemon.database, "SELECT pageno FROM dbstat WHERE name = 'cases' AND pagetype = 'leaf' ORDER BY pageno LIMIT 1 OFFSET 20",
        ])
        let page = try #require(Int(found.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(found.stderr)")
        let damaged = try DaemonProcess.run(URL(fileURLWithPath: "/usr/bin/dd"), [
            "if=/dev/urandom", "of=\(daemon.database)", "bs=4096", "seek=\(page - 1)", "count=1", "conv=notrunc",
        ])
        #expect(damaged.status == 0)
        try daemon.start()
        let reader = try daemon.client()
        // Found at start, before any read met the damage: the first write is refused.
        let first = try reader.request(Request(verb: "ADD", options: [("name", "Новий Запис"), ("category", "civilian"),
                                                                      ("status", "missing")]))
        guard case .failure(let atStart) = first.outcome else {
            Issue.record("the first write into a damaged file was taken: \(first.outcome)")
            return
        }
        #expect(atStart.code == .storageDamaged && atStart.message.contains("found by the check at start"), "\(atStart)")
        let listed = try reader.request(Request(verb: "LIST", options: [("limit", "10000")]))
        guard case .failure(let error) = listed.outcome else {
            Issue.record("a LIST over a damaged page was answered")
            return
        }
        #expect(error.code == .storageDamaged, "\(error)")
        #expect(!error.message.contains("change"), "a read is not a change: \(error.message)")
        // A subscriber whose replay meets the damage is told so, with where to resume: not
        // left waiting on an open connection for notices that will never come.
        let subscriber = try daemon.raw()
        try subscriber.send("SUBSCRIBE since=0\n")
        var farewell: String?
        while farewell == nil, let line = try subscriber.line() {
            if line.hasPrefix("BYE ") { farewell = line }
        }
        #expect(farewell?.hasPrefix("BYE storage-damaged ") == true && farewell?.contains(" after=") == true,
                "\(farewell ?? "no farewell")")
        // Its pages may well be intact: the file is damaged all the same, and no write goes in.
        let write = try reader.request(Request(verb: "SET-STATUS", positional: ["C-000002", "returned"]))
        guard case .failure(let refusal) = write.outcome else {
            Issue.record("a write into a damaged file was taken: \(write.outcome)")
            return
        }
        #expect(refusal.code == .storageDamaged, "\(refusal)")
        let retried = try reader.request(Request(verb: "ADD", options: [("name", "Названий Запис"), ("category", "civilian"),
                                                                         ("status", "missing"), ("request_id", "before-damage")]))
        guard case .success(let replayed) = retried.outcome else {
            Issue.record("the retry of a write made before the damage was refused: \(retried.outcome)")
            return
        }
        #expect(replayed.string("replayed") == "yes" && replayed.string("id") == named.string("id"), "\(replayed)")
        #expect(daemon.process?.isRunning == true, "reads of intact cases go on")
    }
}

extension DaemonProcess {
    /// A daemon whose database is at `path` (a folder of its own for the socket).
    static func onDatabase(_ path: String, in folder: URL) throws -> DaemonProcess {
        try DaemonProcess(bin: DaemonProcess.binDirectory, folder: folder.appendingPathComponent("d"), database: path,
                          standardArguments: ["--log-level", "warning"])
    }
}

@Suite("request_id: a write sent again is answered, not done again", .blocking)
struct RequestIDTests {
    func add(_ id: String) -> Request {
        Request(verb: "ADD", options: [("name", "Стельмах Ярина"), ("category", "civilian"), ("status", "missing"),
                                       ("request_id", id)])
    }

    @Test("the same request id gets the first answer, after a restart and after kill -9; another verb with it is refused")
    func repeats() throws {
        let daemon = try Daemon()
        let client = try daemon.client()
        let first = try client.request(add("yaryna-1"))
        let firstFinal = try first.get()
        let again = try client.request(add("yaryna-1"))
        #expect(again.data == first.data, "the same record as the first answer")
        #expect(try again.get().string("replayed") == "yes")
        #expect(try again.get().string("seq") == firstFinal.string("seq"))
        #expect(try client.request(Request(verb: "COUNT")).get().int("count") == 1)

        let misuse = try client.request(Request(verb: "SET-STATUS", positional: ["C-000001", "captive"],
                                                options: [("request_id", "yaryna-1")]))
        guard case .failure(let error) = misuse.outcome else {
            Issue.record("a request id used for another verb was taken")
            return
        }
        #expect(error.code == .badArgument && error.message.contains("was used for ADD already"), "\(error)")

        #expect(daemon.stop() == 0)
        try daemon.start()
        let afterRestart = try daemon.client().request(add("yaryna-1")).get()
        #expect(afterRestart.string("replayed") == "yes" && afterRestart.string("id") == "C-000001", "\(afterRestart)")

        // Killed right after the answer: the request is on disk with its write, so a repeat
        // is never done twice (its first answer may or may not have been kept).
        _ = try daemon.client().request(add("yaryna-2")).get()
        daemon.crash()
        try daemon.start()
        let afterCrash = try daemon.client().request(add("yaryna-2")).get()
        #expect(afterCrash.string("replayed") == "yes", "\(afterCrash)")
        #expect(try daemon.casectl("count").stdout == "2\n")
    }

    @Test("casectl names its writes: the same command with the same --request-id gets the first answer; without one, each run is new")
    func casectlRequestID() throws {
        let daemon = try Daemon()
        let person = ["add", "--name", "Стельмах Орест", "--category", "military", "--status", "captive"]
        #expect(try daemon.casectl(person + ["--request-id", "orest"]).stdout.hasPrefix("C-000001 added"))
        let second = try daemon.casectl(person + ["--request-id", "orest"])
        #expect(second.stdout.hasPrefix("C-000001 added"), "the first answer again: \(second.stdout)")
        #expect(try daemon.casectl(person).stdout.hasPrefix("C-000002 added"), "without --request-id each run is new")
        #expect(try daemon.casectl("count").stdout == "2\n")
    }
}
