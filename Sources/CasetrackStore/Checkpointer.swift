import GRDB

/// Copies committed WAL frames back into the database file on a connection of its own, so
/// that the writer never does.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses its threshold: that
/// commit, and every write waiting behind it, paid for copying a thousand pages and syncing the
/// database file (10–20 ms, the tail of every write and notice latency). Here the copy runs
/// beside the writer. A passive checkpoint never blocks the writer or a reader; it copies what
/// no reader still needs, and the writer starts the log over once all of it is copied. The
/// writer keeps a far higher automatic threshold as a backstop, should this fall behind.
final class Checkpointer: Sendable {
    /// Commits are let to gather this long before a checkpoint, so that one copy and one sync
    /// of the database file serve many of them. A checkpoint's sync competes with the
    /// writer's for the disk: every 25 ms, the p99 of a write under a steady 500 a second was
    /// 5–6 ms; every second, 2–3.5 ms (pages changed again within the second are copied
    /// once). The log grows to about a second of commits in between.
    static let pause = Duration.milliseconds(1000)
    /// The writer's own automatic checkpoint threshold, in pages (SQLite's default is 1,000).
    static let writerBackstop = 16_000

    private let path: String
    private let configuration: Configuration
    private let doorbell: AsyncStream<Void>
    private let ring: AsyncStream<Void>.Continuation

    init(path: String, configuration: Configuration) {
        self.path = path
        self.configuration = configuration
        (doorbell, ring) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Called after each commit.
    func committed() { ring.yield() }

    /// Checkpoints after commits until cancelled. A checkpoint that fails is left to the next
    /// one (or to the writer's backstop): it loses nothing, the frames stay in the log.
    func run() async {
        guard let connection = try? DatabaseQueue(path: path, configuration: configuration) else { return }
        defer { try? connection.close() }
        for await _ in doorbell {
            do {
                try await Task.sleep(for: Checkpointer.pause)
            } catch {
                break
            }
            _ = try? await connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
        }
    }
}
