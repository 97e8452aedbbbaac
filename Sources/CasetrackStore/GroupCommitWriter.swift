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
/// With a shared register (``SharedLog``, several offices), the rows a round changed are
/// appended to the register before the round commits here; when another office appended
/// first, the round rolls back, the rounds it missed are applied, and it runs again.
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
        /// Runs the write; returns how to answer, the notices of what it committed, and
        /// whether it was refused. `alone`: the only write of its round, run without a
        /// savepoint of its own (a refusal rolls the round back instead).
        let run: @Sendable (_ db: Database, _ alone: Bool) throws -> (Answer, [Notice], refused: Bool)
        let abandon: @Sendable (any Error) -> Void
        /// Runs in a round of its own (``submit(solo:notices:_:)``).
        var solo = false
        /// When it was queued: a write that waited through a failed try of the shared store
        /// is refused at once rather than tried again (see ``unreachable``).
        var queued = ContinuousClock.now
    }

    struct Queue {
        var jobs: [Job] = []
        /// No more writes are taken (the writer stopped or failed).
        var closed = false
        /// Graceful shutdown or cancellation: commit what is queued, then stop.
        var stopping = false
        /// Why writes are refused while the writer runs on (a damaged file).
        var refusal: CasetrackError?
    }

    let pool: DatabasePool
    /// The shared register this database follows, if any.
    let replica: Replica?
    /// Told the notices of every commit, in sequence order, after the commit and before any
    /// caller is answered. Called from the writer's thread only, so never concurrently.
    let onCommit: @Sendable ([Notice]) -> Void
    /// Told of every commit (the checkpointer), after `onCommit`.
    let afterCommit: @Sendable () -> Void
    /// Told when writes start being refused for a full disk or a damaged file, and when
    /// they are taken again (`nil`); from the writer's thread, once per change.
    private let onFault: @Sendable (CasetrackError?) -> Void
    let queue = Mutex(Queue())
    let doorbell = DispatchSemaphore(value: 0)
    /// Opened once the database file was checked at start.
    private let gate = DispatchSemaphore(value: 0)
    /// The fault last reported through `onFault`.
    let reportedFault = Mutex<CasetrackError.Code?>(nil)
    /// While the shared store does not answer: when a try of it last failed. A write queued
    /// before that waited through the try, which may have taken the store's whole timeout: it
    /// is refused at once instead of waiting for another. A write queued after it tries the
    /// store again, so writes resume as soon as it answers.
    let unreachable = Mutex<ContinuousClock.Instant?>(nil)

    init(pool: DatabasePool, replica: Replica? = nil, onCommit: @escaping @Sendable ([Notice]) -> Void,
         afterCommit: @escaping @Sendable () -> Void = {}, onFault: @escaping @Sendable (CasetrackError?) -> Void = { _ in }) {
        self.pool = pool
        self.replica = replica
        self.onCommit = onCommit
        self.afterCommit = afterCommit
        self.onFault = onFault
    }

    /// Runs `work` in the next batch and returns its result after the batch committed.
    /// `notices` names what the result tells subscribers once committed.
    ///
    /// `solo` runs it in a round of its own, for a write that changes thousands of pages (an
    /// import's batch): SQLite copies every page a savepoint changes to its sub-journal,
    /// written to a temporary file past 64 KiB, so that the savepoint can be rolled back.
    /// Alone in its round the write needs no savepoint: a refusal rolls the round back. For
    /// an import that halved what the writer wrote.
    func submit<T: Sendable>(solo: Bool = false, notices: @escaping @Sendable (T) -> [Notice] = { _ in [] },
                             _ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        // A write named by its client (request_id) is recorded with it, in its savepoint.
        let request = WriteRequest.current
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            var job = Job(
                run: { db, alone in
                    // A refusal (CasetrackError) rolls back this write's savepoint only (alone,
                    // the round). Any other error is the database failing: it aborts the
                    // whole batch.
                    let result: Result<T, any Error>
                    func write() throws -> T {
                        guard let request else { return try work(db) }
                        let first = try SQLiteCaseStore.beginRequest(request, db)
                        let value = try work(db)
                        try SQLiteCaseStore.recordRequest(request, firstSeq: first, db)
                        return value
                    }
                    do {
                        if alone {
                            result = .success(try write())
                        } else {
                            var value: T?
                            try db.inSavepoint {
                                value = try write()
                                return .commit
                            }
                            guard let value else { throw CasetrackError(.internalError, "write produced no result") }
                            result = .success(value)
                        }
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
                    // By the result's case, not by whether it has a value: a write may succeed
                    // with an empty (nil) result.
                    let refused: Bool
                    if case .failure = result { refused = true } else { refused = false }
                    return (answer, told, refused)
                },
                abandon: { error in continuation.resume(throwing: error) })
            job.solo = solo
            let refusal = queue.withLock { queue -> CasetrackError? in
                if let refusal = queue.refusal { return refusal }
                guard !queue.closed else { return CasetrackError(.shuttingDown, "the daemon is shutting down; the write was not made") }
                queue.jobs.append(job)
                return nil
            }
            if let refusal {
                continuation.resume(throwing: refusal)
            } else {
                doorbell.signal()
            }
        }
    }

    /// Queues `work` for the next batch without waiting for it: what it writes is made
    /// durable with that batch (or lost with it, if the batch fails).
    func post(_ work: @escaping @Sendable (Database) throws -> Void) {
        let job = Job(run: { db, _ in
            // Always in a savepoint: it has nobody to tell of a failure, so it never rolls
            // the round back.
            do {
                try db.inSavepoint {
                    try work(db)
                    return .commit
                }
            } catch {
                // An error SQLite met without a statement journal (a full disk while spilling
                // the cache) rolls back the whole transaction: the round failed, not this job.
                if !db.isInsideTransaction { throw error }
            }
            return ({ _ in }, [], false)
        }, abandon: { _ in })
        let accepted = queue.withLock { queue -> Bool in
            guard !queue.closed, queue.refusal == nil else { return false }
            queue.jobs.append(job)
            return true
        }
        if accepted { doorbell.signal() }
    }

    /// Commits batches until graceful shutdown (or cancellation), then commits what is still
    /// queued and refuses anything later. Throws (and so stops the daemon) when the database
    /// fails: a daemon that cannot commit must not go on answering as if it could.
    func run() async throws {
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await withCheckedThrowingContinuation { (finished: CheckedContinuation<Void, any Error>) in
                    let thread = Thread { [self] in
                        // Named from inside: on Linux, Foundation applies a name set before
                        // start to nothing, so the writer showed in top and perf under the
                        // name of the thread that made it. Linux keeps 15 bytes of a name.
                        Thread.current.name = "ct-writer"
                        finished.resume(with: Result { try commitUntilStopped() })
                    }
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
        // Writes queue up, unanswered, until the file was checked at start (see `open`).
        gate.wait()
        do {
            while true {
                doorbell.wait()
                if queue.withLock({ $0.stopping }) { break }
                // Before a catch-up, which may wait out the store's timeout once more.
                refuseWaited()
                if let replica, replica.takeWanted() { followQuietly(replica) }
                try commitQueued(closing: false)
            }
            // Closing: every round still queued (solo writes each make one).
            repeat {
                try commitQueued(closing: true)
            } while queue.withLock({ !$0.jobs.isEmpty })
        } catch {
            // Whatever stopped the writer, nobody may wait for it any more: refuse what is
            // queued and everything submitted later.
            let stranded = takeQueued(closing: true)
            let reported = SQLiteCaseStore.storageFailure(error)
            // These never began: not made, whatever became of the round that failed.
            let notBegun = CasetrackError(.shuttingDown,
                "the daemon stops after a storage failure (\(reported.message)); this write had not begun: it was not made")
            for job in stranded { job.abandon(notBegun) }
            throw reported
        }
    }

    /// Takes the next round's writes: every queued one up to the first solo write, or that
    /// solo write alone; with `closing`, also refuses every later one. (Each write rang the
    /// doorbell once and each round answers one ring, so what is left is taken by the rounds
    /// its rings start.)
    private func takeRound(closing: Bool) -> [Job] {
        queue.withLock { queue in
            if closing { queue.closed = true }
            let end = queue.jobs.first?.solo == true ? 1 : queue.jobs.firstIndex(where: \.solo) ?? queue.jobs.count
            defer { queue.jobs.removeFirst(end) }
            return Array(queue.jobs[..<end])
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
        refuseWaited()
        let jobs = takeRound(closing: closing)
        guard !jobs.isEmpty else { return }
        let alone = jobs.count == 1
        var answers: [Job.Answer] = []
        var notices: [Notice] = []
        var failure: (any Error)?
        // Set once every write ran: an error after it is the commit's own.
        let committing = Mutex(false)
        // Set once the round is in the shared register: nothing said after it may be "not made".
        let appended = Mutex(false)
        // Set once a write of the round was not refused: only a round that wrote something
        // shows that writes go through again (after a full disk, say).
        let wrote = Mutex(false)
        let started = ContinuousClock.now
        var lostRaces = false
        var refusedByRegister = false
        while true {
            do {
                (answers, notices) = try pool.writeWithoutTransaction { db in
                    var answers: [Job.Answer] = []
                    var notices: [Notice] = []
                    answers.reserveCapacity(jobs.count)
                    do { try db.inTransaction(.immediate) {
                        let session = try replica.map { _ in try ChangeSession(db) }
                        defer { session?.end() }
                        let firstSeq = try replica.map { _ in try SQLiteCaseStore.eventSeq(db) + 1 }
                        for job in jobs {
                            let (answer, told, refused) = try job.run(db, alone)
                            answers.append(answer)
                            notices += told
                            if !refused { wrote.withLock { $0 = true } }
                            // Alone and refused: nothing of the round stays.
                            if alone, refused { return .rollback }
                        }
                        if let replica, let session, let firstSeq, !session.isEmpty {
                            try share(session, firstSeq: firstSeq, replica, db)
                            appended.withLock { $0 = true }
                        }
                        committing.withLock { $0 = true }
                        return .commit
                    } } catch { throw SQLiteCaseStore.fullDiskSaid(error, databasePath: pool.path) }
                    return (answers, notices)
                }
            } catch let refusal as SharedRegisterRefusal {
                failure = refusal.error
                refusedByRegister = true
            } catch is SharedBehind {
                // Another office appended first: apply what it did, then run the writes again.
                if let replica {
                    do {
                        let applied = try SQLiteCaseStore.followRegister(replica, pool, publish: onCommit)
                        // Behind, yet nothing to apply: the register holds fewer rounds than
                        // this copy (a failover to a standby that was not synchronous). Writing
                        // on would hand out again numbers that subscribers have seen.
                        guard applied > 0 else {
                            throw SQLiteCaseStore.fewerRounds(held: try replica.roundApplier().sharedRound(), path: replica.path)
                        }
                        // A far office loses every race to a busy near one: its writes are
                        // refused in time rather than left waiting.
                        guard ContinuousClock.now - started < Self.racingLimit else {
                            lostRaces = true
                            failure = Self.lostRaces
                            break
                        }
                        continue
                    } catch let unavailable as SharedLogFailure {
                        failure = unavailable.notMade
                    } catch let refusal as SharedRegisterRefusal {
                        failure = refusal.error
                        refusedByRegister = true
                    } catch {
                        failure = error
                    }
                }
            } catch {
                failure = error
            }
            break
        }
        guard let failure else {
            if !notices.isEmpty { onCommit(notices) }
            for answer in answers { answer(nil) }
            afterCommit()
            if wrote.withLock({ $0 }) { report(nil) }
            return
        }
        // No caller is acknowledged. Before the commit, SQLite rolled the batch back: it was
        // not made. A failed commit may have reached the log: its callers are told the truth
        // (outcome unknown) and the daemon stops, to recover from what is on disk.
        let reported = committing.withLock { $0 } ? SQLiteCaseStore.commitFailure(failure) : SQLiteCaseStore.storageFailure(failure)
        // With a shared register, a round past `share` is in the register whatever happens
        // here: its callers must not hear "not made" (a retry would make it twice).
        let told = appended.withLock { $0 } ? SQLiteCaseStore.sharedCommitFailure(failure) : reported
        for job in jobs { job.abandon(told) }
        if refusedByRegister {
            refuseByRegister(reported)
            return
        }
        switch reported.code {
        case .storageFull, .storageUnavailable:
            // Nothing was written here (the shared store may hold it: it comes back with the
            // register); the next batch tries again, and succeeds once there is space, or
            // once the shared store answers. A round lost to other offices is no fault.
            if !lostRaces { report(reported) }
        case .storageDamaged:
            refuseWrites(reported)
        default:
            throw reported
        }
    }

    /// Lets the writer commit: call once, after the start-up check of the file (having
    /// called ``refuseWrites(_:)`` first if it found damage).
    func open() { gate.signal() }

    /// Refuses every write from now on with `error` (the file is damaged: a read found it so,
    /// or a write did); reads go on through their own connections.
    func refuseWrites(_ error: CasetrackError) {
        let first = queue.withLock { queue -> Bool in
            defer { if queue.refusal == nil { queue.refusal = error } }
            return queue.refusal == nil
        }
        guard first else { return }
        for job in takeQueued(closing: false) { job.abandon(error) }
        report(error, refusing: true)
    }

    /// Tells `onFault` of a change: a new fault, or writes taken again. Once writes are
    /// refused for good (``refuseWrites(_:)``), nothing else is told: a passing outage and its
    /// end would otherwise say "writes resumed" while every write is still refused.
    func report(_ fault: CasetrackError?, refusing: Bool = false) {
        if !refusing, queue.withLock({ $0.refusal != nil }) { return }
        unreachable.withLock { unreachable in
            unreachable = fault?.code == .storageUnavailable ? .now : nil
        }
        let changed = reportedFault.withLock { reported -> Bool in
            guard fault?.code != reported else { return false }
            reported = fault?.code
            return true
        }
        if changed { onFault(fault) }
    }
}
