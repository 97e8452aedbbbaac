import CasetrackCore
#if Postgres
import CasetrackPostgres
import Logging
#endif
@testable import CasetrackStore
import CasetrackTestSupport
import Foundation
import Testing

// What the store's tests share: the stores they run against, a store or a folder for a test's
// duration, the test clock, and a thread to read from.

/// The stores every test of the store runs against, so that they cannot drift: SQLite alone,
/// and (built with the trait Postgres) an office's copy of a register kept in PostgreSQL, a
/// fresh database of a throw-away cluster per test.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgresql

    static var all: [StoreKind] {
        #if Postgres
        [.sqlite, .postgresql]
        #else
        [.sqlite]
        #endif
    }

    var testDescription: String { rawValue }

    #if Postgres
    static let cluster = Result { try PostgresCluster() }

    /// A shared log on a new, empty database of the cluster.
    func sharedLog() throws -> (any SharedLog)? {
        guard self == .postgresql else { return nil }
        let cluster = try Self.cluster.get()
        let database = "store_\(UUID().uuidString.prefix(8).lowercased())"
        try cluster.createDatabase(database)
        return try PostgresSharedLog(try PostgresConnInfo(cluster.connInfo(database: database)), password: nil, office: "test-office",
                                     defaultUser: cluster.user, logger: Logger(label: "store-tests"))
    }
    #else
    func sharedLog() throws -> (any SharedLog)? { nil }
    #endif
}

/// A store in a fresh temporary folder, with its writer running for the test's duration.
func withStore<T>(_ kind: StoreKind = .sqlite, _ body: (SQLiteCaseStore, String) async throws -> T) async throws -> T {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("casetrack-store-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("cases.sqlite").path
    let store = try SQLiteCaseStore(path: path, shared: try kind.sharedLog())
    return try await whileRunning(store) { try await body(store, path) }
}

/// `body`, with `store`'s writer running meanwhile (stopped after).
func whileRunning<T>(_ store: SQLiteCaseStore, _ body: () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await store.run() }
        defer { group.cancelAll() }
        return try await body()
    }
}

/// A fresh temporary folder for the test's duration.
func withFolder<T>(_ body: (URL) async throws -> T) async throws -> T {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("casetrack-store-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    return try await body(folder)
}

/// Written by a thread before it signals, read after the wait: the semaphore orders the two.
private final class ThreadResult<T>: @unchecked Sendable { var value: T? }

/// `work`'s result, run on a thread of its own (the caller waits).
func onAnotherThread<T: Sendable>(_ work: @escaping @Sendable () -> T) -> T {
    let result = ThreadResult<T>()
    let done = DispatchSemaphore(value: 0)
    Thread {
        result.value = work()
        done.signal()
    }.start()
    done.wait()
    guard let value = result.value else { preconditionFailure("the thread ended without a result") }
    return value
}

let testToday = Day(year: 2026, month: 6, day: 15)!
let testActor = Actor(uid: 1000, pid: 4242)

func clock(_ offsetMilliseconds: Int64 = 0) -> WriteClock {
    WriteClock(now: Timestamp(unixMilliseconds: Int64(testToday.daysSinceEpoch) * 86_400_000 + 36_000_000 + offsetMilliseconds))
}
