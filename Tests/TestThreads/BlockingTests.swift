import Foundation
import Testing

/// Runs each test of a suite on threads of its own, at most ``BlockingTests/width`` tests at once.
///
/// Swift's global executor has as many threads as cores (two here), and Swift Testing runs
/// every test on it. The tests against the real daemon block: they wait on sockets, on
/// child processes and on the clock, as a user's script does. Two of them waiting held both
/// threads and every other test with them: a clean-clone `make test` spent a fifth of its
/// time with both cores idle. Under this trait a test's jobs run on ``GrowingThreadPool``,
/// where a blocked job never holds up another, and the gate keeps enough tests in flight to
/// fill the cores without starting every daemon at once.
public struct BlockingTests: SuiteTrait, TestTrait, TestScoping {
    /// Tests under the trait that run at once: enough to keep two cores busy while most of
    /// them wait on a daemon, few enough that each daemon still gets its share.
    public static let width = max(4, 3 * ProcessInfo.processInfo.activeProcessorCount)

    public var isRecursive: Bool { true }

    public func provideScope(for test: Test, testCase: Test.Case?,
                             performing function: @Sendable () async throws -> Void) async throws {
        await Self.gate.enter()
        do {
            try await withTaskExecutorPreference(GrowingThreadPool.shared) { try await function() }
        } catch {
            await Self.gate.leave()
            throw error
        }
        await Self.gate.leave()
    }

    private static let gate = Gate(width: width)
}

extension Trait where Self == BlockingTests {
    /// Each test on threads of its own: for tests that block (see ``BlockingTests``).
    public static var blocking: Self { BlockingTests() }
}

/// A counting semaphore for tasks: `enter` waits (without a thread) while `width` are in.
actor Gate {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(width: Int) { free = width }

    func enter() async {
        guard free == 0 else {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func leave() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }
}

/// A task executor that never lets a waiting job hold up another: a job starts at once on an
/// idle thread, or on a new one when none is idle. Threads stay for the process (idle ones
/// wait on a condition); there are as many as jobs ever blocked at once.
public final class GrowingThreadPool: TaskExecutor, @unchecked Sendable {
    public static let shared = GrowingThreadPool()

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var next = 0
    private var idle = 0

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        // Every queued job has an idle thread to take it, or a new one: a job never waits
        // behind one that blocks.
        let spawn = jobs.count - next > idle
        condition.signal()
        condition.unlock()
        if spawn { startThread() }
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    private func startThread() {
        let thread = Thread { [self] in work() }
        // As much stack as the main thread: tests recurse as deeply as they like.
        thread.stackSize = 8 << 20
        thread.start()
    }

    private func work() {
        let executor = asUnownedTaskExecutor()
        condition.lock()
        while true {
            while next == jobs.count {
                idle += 1
                condition.wait()
                idle -= 1
            }
            let job = jobs[next]
            next += 1
            if next == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                next = 0
            }
            condition.unlock()
            job.runSynchronously(on: executor)
            condition.lock()
        }
    }
}
