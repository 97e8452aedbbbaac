#if Postgres
import Foundation
import NIOCore
import PostgresNIO
import Synchronization

// Waiting on postgres-nio from the store's threads: the writer's thread blocks on each request
// (it holds SQLite's write transaction meanwhile), with a deadline, and nothing it gives up on
// is left open.

extension PostgresSharedLog {
    struct TimedOut: Error, CustomStringConvertible {
        var description: String { "no answer in time" }
    }

    /// Closes a connection and keeps it until it is closed: one let go while its close is
    /// under way (a server that stopped answering) trips postgres-nio's assertion that a
    /// connection is closed before it goes.
    static func close(_ connection: PostgresConnection) {
        let closing: EventLoopFuture<Void> = connection.close()
        closing.whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    /// Runs async work to its end from a thread that may block (the writer's, or a caller of
    /// the store's init). The work runs on an event loop, not on Swift's global executor: a
    /// caller blocked on one of that executor's few threads (two on this machine) would
    /// otherwise wait for a thread that never comes free. A result that comes after the wait
    /// gave up goes to `late` (a connection to close).
    static func blocking<T: Sendable>(timeout: TimeAmount, late: @escaping @Sendable (T) -> Void = { _ in },
                                      _ work: @escaping @Sendable () async throws -> T) throws -> T {
        let outcome = Mutex<(result: Result<T, any Error>?, gaveUp: Bool)>((nil, false))
        let done = DispatchSemaphore(value: 0)
        Task(executorPreference: LoopExecutor(PostgresConnection.defaultEventLoopGroup.any())) {
            let result: Result<T, any Error>
            do { result = .success(try await work()) } catch { result = .failure(error) }
            let gaveUp = outcome.withLock { outcome -> Bool in
                outcome.result = result
                return outcome.gaveUp
            }
            if gaveUp, case .success(let value) = result { late(value) }
            done.signal()
        }
        let answered = done.wait(timeout: .now() + .nanoseconds(Int(timeout.nanoseconds))) == .success
        // Given up under the lock: a result is either taken here or handed to `late`.
        let result = outcome.withLock { outcome -> Result<T, any Error>? in
            if !answered, outcome.result == nil { outcome.gaveUp = true }
            return outcome.result
        }
        guard let result else { throw TimedOut() }
        return try result.get()
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            if let underlying = error.underlying { return "\(error.code): \(underlying)" }
            return "\(error.code)"
        }
        return "\(error)"
    }

    /// Runs a task's jobs on one NIO event loop (see ``blocking(timeout:_:)``).
    final class LoopExecutor: TaskExecutor {
        let loop: any EventLoop

        init(_ loop: any EventLoop) { self.loop = loop }

        func enqueue(_ job: consuming ExecutorJob) {
            let job = UnownedJob(job)
            let executor = UnownedTaskExecutor(ordinary: self)
            loop.execute { job.runSynchronously(on: executor) }
        }
    }
}
#endif
