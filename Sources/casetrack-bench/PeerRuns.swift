#if canImport(Glibc)
import Glibc
#endif
import CasetrackCore
import CasetrackTestSupport
import Foundation
import Histogram
import Synchronization

/// Figures kept as numbers, for the ratios at the end of the table.
typealias Figures = [String: Double]

/// Finds a program in the usual places.
func program(_ name: String) -> String? {
    var places = ["/usr/local/bin", "/usr/bin", "/usr/sbin", "/bin"]
    if let versions = try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql") {
        places += versions.sorted(by: >).map { "/usr/lib/postgresql/\($0)/bin" }
    }
    return places.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// Runs a program to its end; throws with its output when it fails.
@discardableResult
func execute(_ path: String, _ arguments: [String]) throws -> String {
    let result = try DaemonProcess.run(URL(fileURLWithPath: path), arguments)
    let output = result.stdout + result.stderr
    guard result.status == 0 else { throw BenchError("\(path) \(arguments.joined(separator: " ")): \(output.suffix(400))") }
    return output
}

func waitFor(socket path: String, process: Process) throws {
    let deadline = now() + 60_000_000
    while now() < deadline {
        if FileManager.default.fileExists(atPath: path) { usleep(200_000); return }
        if !process.isRunning { throw BenchError("the server exited at start") }
        usleep(50_000)
    }
    throw BenchError("no socket at \(path) after 60 s")
}

/// Threads that each run `work` in a loop for `seconds`; returns completed runs a second.
/// `window` is told when the measured seconds begin and end (after the threads' set-up and
/// warm-up), for figures taken over exactly that time.
func throughput(threads count: Int, seconds: Double, window: ChangeCost? = nil,
                setup: @escaping @Sendable (Int) throws -> (() throws -> Void)) -> Double {
    let done = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)
    let threads = (0..<count).map { index in
        Thread {
            guard let work = try? setup(index) else { return }
            while !stop.load(ordering: .relaxed) {
                guard (try? work()) != nil else { return }
                done.add(1, ordering: .relaxed)
            }
        }
    }
    threads.forEach { $0.start() }
    usleep(300_000)
    window?.begin()
    let begin = done.load(ordering: .relaxed)
    let started = now()
    usleep(UInt32(seconds * 1_000_000))
    let total = done.load(ordering: .relaxed) - begin
    window?.end(count: total)
    let elapsed = Double(now() - started) / 1_000_000
    stop.store(true, ordering: .relaxed)
    while threads.contains(where: { !$0.isFinished }) { usleep(10_000) }
    return Double(total) / elapsed
}

func rate(_ value: Double) -> String { value.formatted(.number.precision(.fractionLength(0))) }

enum PostgresPeer {
    /// A throw-away cluster on a Unix socket, `synchronous_commit=on`, with the cases table, its
    /// best index for the query, and the NOTIFY trigger.
    static func run(cases: Int, seconds: Double, noticeRate: Int = 500, importRows: Int = 0, folder: URL, report: inout Report,
                    figures: inout Figures) throws {
        guard let initdb = program("initdb"), let postgres = program("postgres") else {
            report.add("PostgreSQL", "skipped: initdb or postgres not found (make bench-peers installs postgresql)")
            return
        }
        let data = folder.appendingPathComponent("pg")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        // PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user.
        let asRoot = getuid() == 0
        let user = asRoot ? "postgres" : (ProcessInfo.processInfo.environment["USER"] ?? "postgres")
        func command(_ path: String, _ arguments: [String]) -> (String, [String]) {
            asRoot ? ("/usr/sbin/runuser", ["-u", "postgres", "--", path] + arguments) : (path, arguments)
        }
        if asRoot {
            try execute("/bin/chown", ["postgres", folder.path, data.path])
            chmod(folder.path, 0o755)
        }
        let (initPath, initArguments) = command(initdb, ["-D", data.path, "-A", "trust", "-U", user, "--no-sync"])
        try execute(initPath, initArguments)
        let (path, arguments) = command(postgres, [
            "-D", data.path, "-k", data.path, "-c", "listen_addresses=", "-c", "synchronous_commit=on", "-c", "fsync=on",
            "-c", "max_connections=300", "-c", "shared_buffers=256MB", "-c", "log_min_messages=fatal",
        ])
        let server = Process()
        server.executableURL = URL(fileURLWithPath: path)
        server.arguments = arguments
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            // The postmaster itself (runuser does not pass signals on): its pid is the first
            // line of postmaster.pid. SIGINT is PostgreSQL's fast shutdown.
            let pidFile = (try? String(contentsOf: data.appendingPathComponent("postmaster.pid"), encoding: .utf8)) ?? ""
            if let pid = Int32(pidFile.split(separator: "\n").first ?? "") { kill(pid, SIGINT) }
            server.waitUntilExit()
        }
        let socket = data.appendingPathComponent(".s.PGSQL.5432").path
        try waitFor(socket: socket, process: server)

        let admin = try Postgres(path: socket, user: user)
        let started = now()
        for sql in [
            "CREATE TABLE cases (id bigint PRIMARY KEY, status text NOT NULL, category text NOT NULL, since date, names text, version int NOT NULL)",
            """
            INSERT INTO cases SELECT g, (ARRAY['missing','captive','captive'])[1 + g % 3], (ARRAY['military','civilian'])[1 + (g / 3) % 2],
              current_date - ((g::bigint * 7919) % 4380)::int, 'Синтетичний Петро ' || g, 1 FROM generate_series(1, \(cases)) g
            """,
            "CREATE INDEX cases_query ON cases (category, status, since)",
            "VACUUM ANALYZE cases",
            """
            CREATE FUNCTION notify_change() RETURNS trigger AS $$ BEGIN
              PERFORM pg_notify('cases', 'K' || NEW.id || ':' || NEW.version || ';'); RETURN NEW; END $$ LANGUAGE plpgsql
            """,
            "CREATE TRIGGER cases_notify AFTER UPDATE ON cases FOR EACH ROW EXECUTE FUNCTION notify_change()",
        ] { _ = try admin.run(sql) }
        report.note("PostgreSQL", "\(cases.formatted()) rows loaded and indexed in \(String(format: "%.0f", Double(now() - started) / 1_000_000)) s (generate_series)")

        @Sendable func update(_ id: Int) -> String {
            "UPDATE cases SET status = CASE WHEN status = 'captive' THEN 'missing' ELSE 'captive' END, version = version + 1 WHERE id = \(id) RETURNING version"
        }
        for writers in [1, 8, 64] {
            let value = throughput(threads: writers, seconds: seconds) { writer in
                let connection = try Postgres(path: socket, user: user)
                var index = 0
                return {
                    index += 1
                    _ = try connection.run(update(1 + (writer * 7_919 + (index % 16) * 104_729) % cases))
                }
            }
            figures["writes\(writers).pg"] = value
            report.add("PostgreSQL: UPDATE + NOTIFY trigger/s, \(writers) writer\(writers == 1 ? "" : "s")", rate(value))
        }
        for subscribers in [1, 100] {
            let listeners = try (0..<subscribers).map { _ in try Postgres(path: socket, user: user) }
            for listener in listeners { _ = try listener.run("LISTEN cases") }
            let swarm = try TokenSwarm(fds: listeners.map(\.wire.fd))
            let writer = try Postgres(path: socket, user: user)
            let steady = SteadyWriter(rate: noticeRate)
            // The listeners live until the swarm is done with their sockets: a socket closed early
            // would give its number to the writer's, and the swarm would read the writer's answers.
            steady.run(for: seconds, while: { withExtendedLifetime(listeners) { swarm.collect(until: now() + UInt64(seconds * 1_000_000)) } }) { index in
                let id = 1 + (500_009 + (index % 64) * 15_485_863) % cases
                let version = try writer.run(update(id)).first.flatMap { UInt64($0) } ?? 0
                return noticeKey(UInt64(id), version)
            }
            withExtendedLifetime(listeners) { swarm.drain(expected: steady.times.withLock { $0.count } * subscribers, within: 30) }
            let (fromSend, fromAck) = latencies(swarm.arrivals, steady.times.withLock { $0 })
            report.add("PostgreSQL: NOTIFY latency from send, \(subscribers) listener\(subscribers == 1 ? "" : "s") p50/p99/max", fromSend)
            report.add("PostgreSQL: NOTIFY latency from commit, \(subscribers) listener\(subscribers == 1 ? "" : "s") p50/p99/max", fromAck)
        }
        for window in [1, 1_000] {
            let reader = try Postgres(path: socket, user: user)
            var done = 0
            let begin = now()
            while now() < begin + UInt64(seconds * 1_000_000) {
                try reader.send((0..<window).map { _ in "SELECT * FROM cases WHERE id = \(Int.random(in: 1...cases))" })
                for _ in 0..<window { try reader.result() }
                done += window
            }
            let value = Double(done) / (Double(now() - begin) / 1_000_000)
            figures["reads\(window).pg"] = value
            report.add("PostgreSQL: point reads/s, \(window == 1 ? "one connection" : "pipelined (1,000 in flight)")", rate(value))
        }
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        let filter = "category = 'civilian' AND status = 'captive' AND since <= current_date - interval '8 years'"
        var count = ""
        for round in 0..<55 {
            let begin = now()
            count = try admin.run("SELECT count(*) FROM cases WHERE \(filter)").first ?? "?"
            _ = try admin.run("SELECT * FROM cases WHERE \(filter) ORDER BY id LIMIT 50")
            if round >= 5 { _ = histogram.record(now() - begin) }
        }
        figures["query.pg"] = Double(histogram.valueAtPercentile(50)) / 1000
        report.add("PostgreSQL: civilians captive 8y+: count + first page p50/p99 (count \(count))",
                   "\(ms(histogram.valueAtPercentile(50))) / \(ms(histogram.valueAtPercentile(99))) ms")
        if importRows > 0 {
            let seconds = try copyImport(rows: importRows, admin: admin, folder: folder)
            figures["import.pg"] = Double(importRows) / seconds
            report.add("PostgreSQL: COPY of the same \(importRows.formatted()) rows as CSV into an indexed table",
                       String(format: "%.1f s (%.0f rows/s)", seconds, Double(importRows) / seconds))
        }
    }

    /// The import phase's rows (same generator, same seed) as a CSV file, loaded with `COPY`
    /// into a table with the indexes our cases have (status, category, since; category,
    /// since; since; unit; a unique reference; names), on top of the data set. One
    /// transaction, synchronous_commit on: nothing checked but the reference's uniqueness.
    static func copyImport(rows: Int, admin: Postgres, folder: URL) throws -> Double {
        let file = folder.appendingPathComponent("import.csv")
        let today = Day(unixMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
        var random = SeededRandom(seed: 7_000_000)
        var text = CaseFile.csvLine(["names", "category", "status", "since", "birth", "unit", "tags", "refs", "notes"]) + "\n"
        for index in 0..<rows {
            let new = Synthetic.newCase(&random, today: today)
            text += CaseFile.csvLine([new.names.joined(separator: "|"), new.category.rawValue, new.status.rawValue,
                                      new.since?.description ?? "", new.birth?.description ?? "", new.unit ?? "",
                                      new.tags.joined(separator: "|"), "I-\(index)", new.notes ?? ""]) + "\n"
        }
        try text.write(to: file, atomically: true, encoding: .utf8)
        chmod(file.path, 0o644)
        for sql in [
            "CREATE TABLE imported (id bigserial PRIMARY KEY, names text NOT NULL, category text NOT NULL, status text NOT NULL, "
                + "since text, birth text, unit text, tags text, refs text NOT NULL, notes text)",
            "CREATE INDEX imported_by_status ON imported (status, category, since)",
            "CREATE INDEX imported_by_category ON imported (category, since)",
            "CREATE INDEX imported_by_since ON imported (since)",
            "CREATE INDEX imported_by_unit ON imported (unit)",
            "CREATE UNIQUE INDEX imported_by_ref ON imported (refs)",
            "CREATE INDEX imported_by_names ON imported (names)",
            "INSERT INTO imported (names, category, status, since, refs) SELECT names, category, status, since::text, 'B-' || id FROM cases",
            "CHECKPOINT",
        ] { _ = try admin.run(sql) }
        let started = now()
        _ = try admin.run("COPY imported (names, category, status, since, birth, unit, tags, refs, notes) FROM '\(file.path)' WITH (FORMAT csv, HEADER)")
        return Double(now() - started) / 1_000_000
    }
}

enum RedisPeer {
    /// A throw-away server on a Unix socket with `appendonly yes`, `appendfsync always`.
    static func run(cases: Int, seconds: Double, noticeRate: Int = 500, folder: URL, report: inout Report, figures: inout Figures) throws {
        guard let redisServer = program("redis-server") else {
            report.add("Redis", "skipped: redis-server not found (make bench-peers installs redis-server)")
            return
        }
        let socket = folder.appendingPathComponent("redis.sock").path
        let server = Process()
        server.executableURL = URL(fileURLWithPath: redisServer)
        server.arguments = ["--port", "0", "--unixsocket", socket, "--unixsocketperm", "700", "--dir", folder.path,
                            "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--maxclients", "4096",
                            "--loglevel", "warning"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { kill(server.processIdentifier, SIGTERM); server.waitUntilExit() }
        try waitFor(socket: socket, process: server)

        let loader = try Redis(path: socket)
        let started = now()
        for batch in stride(from: 1, through: cases, by: 10_000) {
            let ids = batch..<min(cases + 1, batch + 10_000)
            try loader.send(ids.map { id in
                ["HSET", "case:\(id)", "status", id % 3 == 0 ? "missing" : "captive", "category", (id / 3) % 2 == 0 ? "military" : "civilian",
                 "names", "Синтетичний Петро \(id)", "version", "1"]
            })
            for _ in ids { try loader.reply() }
        }
        report.note("Redis", "\(cases.formatted()) hashes loaded in \(String(format: "%.0f", Double(now() - started) / 1_000_000)) s")

        @Sendable func change(_ connection: Redis, _ id: Int, _ token: String) throws {
            try connection.send([["MULTI"], ["HSET", "case:\(id)", "status", "captive"], ["XADD", "events", "*", "id", "\(id)", "token", token],
                                 ["EXEC"]])
            for _ in 0..<4 { try connection.reply() }
        }
        for writers in [1, 8, 64] {
            let value = throughput(threads: writers, seconds: seconds) { writer in
                let connection = try Redis(path: socket)
                var index = 0
                return {
                    index += 1
                    try change(connection, 1 + (writer * 7_919 + (index % 16) * 104_729) % cases, "\(writer):\(index)")
                }
            }
            figures["writes\(writers).redis"] = value
            report.add("Redis: MULTI HSET XADD EXEC/s (appendfsync always), \(writers) writer\(writers == 1 ? "" : "s")", rate(value))
        }
        for subscribers in [1, 100, 1_000] {
            let listeners = try (0..<subscribers).map { _ in try Redis(path: socket) }
            for listener in listeners { _ = try listener.call("SUBSCRIBE", "cases") }
            let swarm = try TokenSwarm(fds: listeners.map(\.wire.fd))
            let writer = try Redis(path: socket)
            let steady = SteadyWriter(rate: noticeRate)
            let cost = LineCost(server: server.processIdentifier)
            // The listeners live until the swarm is done with their sockets: a socket closed early
            // would give its number to the writer's, and the swarm would read the writer's answers.
            steady.run(for: seconds, while: { withExtendedLifetime(listeners) { swarm.collect(until: now() + UInt64(seconds * 1_000_000)) } }) { index in
                try writer.send([["HSET", "case:\(1 + index % cases)", "status", "captive"], ["PUBLISH", "cases", "K\(index):1;"]])
                try writer.reply()
                try writer.reply()
                return noticeKey(UInt64(index), 1)
            }
            withExtendedLifetime(listeners) { swarm.drain(expected: steady.times.withLock { $0.count } * subscribers, within: 30) }
            let (fromSend, fromAck) = latencies(swarm.arrivals, steady.times.withLock { $0 })
            report.add("Redis: pub/sub latency from send, \(subscribers) subscriber\(subscribers == 1 ? "" : "s") p50/p99/max", fromSend)
            report.add("Redis: pub/sub latency from reply, \(subscribers) subscriber\(subscribers == 1 ? "" : "s") p50/p99/max", fromAck)
            report.add("Redis: pub/sub CPU a line, \(subscribers) subscriber\(subscribers == 1 ? "" : "s")", cost.text(lines: swarm.count))
            figures["p99send\(subscribers).redis"] = Double(p99(fromSend))
        }
        for window in [1, 1_000] {
            let reader = try Redis(path: socket)
            var done = 0
            let begin = now()
            while now() < begin + UInt64(seconds * 1_000_000) {
                try reader.send((0..<window).map { _ in ["HGETALL", "case:\(Int.random(in: 1...cases))"] })
                for _ in 0..<window { try reader.reply() }
                done += window
            }
            let value = Double(done) / (Double(now() - begin) / 1_000_000)
            figures["reads\(window).redis"] = value
            report.add("Redis: HGETALL/s, \(window == 1 ? "one connection" : "pipelined (1,000 in flight)")", rate(value))
        }
    }

    /// The p99 figure back from "p50 / p99 / max ms (…)".
    static func p99(_ text: String) -> Double {
        Double(text.split(separator: "/").dropFirst().first?.trimmingCharacters(in: .whitespaces) ?? "") ?? -1
    }
}
