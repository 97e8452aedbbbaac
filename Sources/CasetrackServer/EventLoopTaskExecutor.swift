import NIOCore

/// Runs a task's jobs on one NIO event loop: the loop of the connection the task serves.
///
/// A connection's task reads lines the loop decoded, writes answers the loop sends, and waits
/// for futures the loop completes. On Swift's global executor every one of those steps is a
/// wake-up of another thread (a futex each way); with the connection's loop as the task's
/// executor preference they are calls on one thread. The task must not block: whatever it
/// runs holds up the other connections of that loop (long reads go to the store's reader
/// queues and are awaited, which frees the loop).
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        loop.execute { job.runSynchronously(on: executor) }
    }

    func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }
}
