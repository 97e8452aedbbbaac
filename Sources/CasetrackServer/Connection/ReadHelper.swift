import Foundation
import Synchronization

/// A thread that takes half of a long burst of GETs off an event loop: the loop reads and
/// renders one half while this thread does the other.
///
/// One connection lives on one loop, so a client pipelining a thousand GETs kept one core
/// busy while the other sat idle (measured: the loop at 100%, the rest of the machine 8%).
/// The work of a GET is its store read and its rendering, neither of which touches the
/// connection, so half of a burst can be done anywhere.
///
/// The loop never waits for a thread that has not started: it offers the half, does its own,
/// and then takes the half back if this thread has not picked it up yet (another loop may
/// be using it, or the core is busy) and does it itself. It waits only for a half already
/// under way, which takes about as long as the half it just did.
final class ReadHelper: Sendable {
    /// One for the process: enough for the spare core of a small machine; a loop that finds
    /// it busy does the whole burst itself, as before.
    static let shared = ReadHelper()

    private enum Slot {
        case idle
        case offered(@Sendable () -> Void)
        case running
        case finished
    }

    private let slot = Mutex(Slot.idle)
    /// Halves this thread has done (for tests: that a burst was split at all).
    private let halves = Atomic<Int>(0)
    var ran: Int { halves.load(ordering: .relaxed) }
    private let work = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    private init() {
        let thread = Thread { [self] in
            // Named from inside: on Linux a name set before start does not reach the thread.
            Thread.current.name = "ct-reads"
            while true {
                work.wait()
                let job = slot.withLock { slot -> (@Sendable () -> Void)? in
                    guard case .offered(let job) = slot else { return nil }
                    slot = .running
                    return job
                }
                guard let job else { continue }  // taken back before this thread got to it
                job()
                halves.add(1, ordering: .relaxed)
                slot.withLock { $0 = .finished }
                done.signal()
            }
        }
        thread.start()
    }

    /// Hands `job` to the thread; false when it is busy with another loop's (do it yourself).
    func offer(_ job: @escaping @Sendable () -> Void) -> Bool {
        let taken = slot.withLock { slot -> Bool in
            guard case .idle = slot else { return false }
            slot = .offered(job)
            return true
        }
        if taken { work.signal() }
        return taken
    }

    /// After an accepted ``offer(_:)``: true once the job has run (its results may be read),
    /// false when it had not started and was taken back (run it yourself).
    func finish() -> Bool {
        let started = slot.withLock { slot -> Bool in
            guard case .offered = slot else { return true }
            slot = .idle
            return false
        }
        guard started else { return false }
        done.wait()
        slot.withLock { $0 = .idle }
        return true
    }
}
