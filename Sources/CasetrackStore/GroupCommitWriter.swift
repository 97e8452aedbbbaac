import CasetrackCore
import Foundation
import GRDB
import ServiceLifecycle
import Synchronization

/// The single writer of a database: every write goes through it.
///
/// Writes queue up while a commit is in flight; the next round runs all of them in one
/// transaction (each in its own savepoint, so a refused write changes nothing and does not
/// disturb the others), commits once, and only then answers each caller. Under load many
/// writes share one fsync; alone, a write commits at once.
///
/// The rounds run on a thread of their own that sleeps on a semaphore: a write wakes it
/// directly, and it runs the transaction itself (GRDB's writer queue, entered synchronously,
/// runs on the calling thread). Through a Swift task and GRDB's asynchronous API each write
/// crossed two more threads on its way to the disk and back.
final class GroupCommitWriter: Sendable {
    /// One queued write. `run` executes it inside the batch transaction and returns how to
    /// answer its caller once the commit's outcome is known; `abandon` answers a caller whose
    /// write never ran because the batch failed before reaching it.
    struct Job: Sendable {
        typealias Answer = @Sendable (_ commitError: (any Error)?) -> Void
        /// Runs the write; returns how to answer and the notices of what it committed.
        let run: @Sendable (Database) throws -> (Answer, [Notice])
        let abandon: @Sendable (any Error) -> Void
    }

    private struct Queue {
        var jobs: [Job] = []
        /// No more writes are taken (the writer stopped or failed).
        var closed = false
        /// Graceful shutdown or cancellation: commit what is queued, then stop.
        var stopping = false
    }

    private let pool: DatabasePool
    /// Told the notices of every commit, in sequence order, after the commit and before any
    /// caller is answered. Called from the writer's thread only, so never concurrently.
    private let onCommit: @Sendable ([Notice]) -> Void
    /// Told of every commit (the checkpointer), after `onCommit`.
    private let afterCommit: @Sendable () -> Void
    private let queue = Mutex(Queue())
    private let doorbell = DispatchSemaphore(value: 0)

    init(pool: DatabasePool, onCommit: @escaping @Sendable ([Notice]) -> Void,
         afterCommit: @escaping @Sendable () -> Void = {}) {
        self.pool = pool
        self.onCommit = onCommit
        self.afterCommit = afterCommit
    }

    /// Runs `work` in the next batch and returns its result after the batch committed.
    /// `notices` names what the result tells subscribers once committed.
    func submit<T: Sendable>(notices: @escaping @Sendable (T) -> [Notice] = { _ in [] },
                             _ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let job = Job(
                run: { db in
                    // A refusal (CasetrackError) rolls back this write's savepoint only. Any
                    // other error is the database failing: it aborts the whole batch.
                    let result: Result<T, any Error>
                    do {
                        var value: T?
                        try db.inSavepoint {
                            value = try work(db)
                            return .commit
                        }
                        guard let value else { throw CasetrackError(.internalError, "write produced no result") }
                        result = .success(value)
                    } catch let refusal as CasetrackError {
                        result = .failure(refusal)
                    }
                    let told = (try? result.get()).map(notices) ?? []
                    let answer: Job.Answer = { commitError in
                        if let commitError, case .success = result {
                            continuation.resume(throwing: commitError)
                        } else {
                            continuation.resume(with: result)
                        }
                    }
                    return (answer, told)
                },
                abandon: { error in continuation.resume(throwing: error) })
            let accepted = queue.withLock { queue -> Bool in
                guard !queue.closed else { return false }
                queue.jobs.append(job)
                return true
            }
            if accepted {
                doorbell.signal()
            } else {
                continuation.resume(throwing: CasetrackError(.shuttingDown, "the daemon is shutting down; the write was not made"))
            }
        }
    }

    /// Commits batches until graceful shutdown (or cancellation), then commits what is still
    /// queued and refuses anything later. Throws (and so stops the daemon) when the database
    /// fails: a daemon that cannot commit must not go on answering as if it could.
    func run() async throws {
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await withCheckedThrowingContinuation { (finished: CheckedContinuation<Void, any Error>) in
                    let thread = Thread { [self] in
                        finished.resume(with: Result { try commitUntilStopped() })
                    }
                    thread.name = "casetrack-writer"
                    thread.start()
                }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
    }

    /// Asks the writer thread to commit what is queued and stop.
    private func stop() {
        queue.withLock { $0.stopping = true }
        doorbell.signal()
    }

    /// The writer thread: one round per wake-up (a wake-up may find its writes already taken
    /// by the round before, which is fine).
    private func commitUntilStopped() throws {
        do {
            while true {
                doorbell.wait()
                if queue.withLock({ $0.stopping }) { break }
                try commitQueued(closing: false)
            }
            try commitQueued(closing: true)
        } catch {
            // Whatever stopped the writer, nobody may wait for it any more: refuse what is
            // queued and everything submitted later.
            let stranded = takeQueued(closing: true)
            let reported = SQLiteCaseStore.storageFailure(error)
            for job in stranded { job.abandon(reported) }
            throw reported
        }
    }

    /// Takes every queued write; with `closing`, also refuses every later one.
    private func takeQueued(closing: Bool) -> [Job] {
        queue.withLock { queue in
            if closing { queue.closed = true }
            defer { queue.jobs = [] }
            return queue.jobs
        }
    }

    private func commitQueued(closing: Bool) throws {
        let jobs = takeQueued(closing: closing)
        guard !jobs.isEmpty else { return }
        var answers: [Job.Answer] = []
        var notices: [Notice] = []
        var failure: (any Error)?
        do {
            (answers, notices) = try pool.writeWithoutTransaction { db in
                var answers: [Job.Answer] = []
                var notices: [Notice] = []
                answers.reserveCapacity(jobs.count)
                try db.inTransaction(.immediate) {
                    for job in jobs {
                        let (answer, told) = try job.run(db)
                        answers.append(answer)
                        notices += told
                    }
                    return .commit
                }
                return (answers, notices)
            }
        } catch {
            failure = error
        }
        guard let failure else {
            if !notices.isEmpty { onCommit(notices) }
            for answer in answers { answer(nil) }
            afterCommit()
            return
        }
        // Nothing of this batch is committed: every caller hears so, none is acknowledged.
        let reported = SQLiteCaseStore.storageFailure(failure)
        for job in jobs { job.abandon(reported) }
        throw reported
    }
}
