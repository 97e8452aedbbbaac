import CasetrackCore
@testable import CasetrackStore
import Foundation
import GRDB
import Testing
import TestThreads

/// How a round that does not apply to an office's copy is told: a copy that left the register
/// (a row not as the round expects it) stops writes for good; anything else (a full disk) is
/// SQLite's own error, told apart as a write's is.
@Suite("Rounds applied to a copy", .blocking)
struct ChangeSessionTests {
    /// A round of 200 rows of 4 KB each into a table `t`, recorded on a database of its own.
    static func round(in folder: URL) throws -> SharedRound {
        let source = try DatabaseQueue(path: folder.appendingPathComponent("source.sqlite").path)
        var changeset: [UInt8] = []
        try source.writeWithoutTransaction { db in
            try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
            let session = try ChangeSession(db)
            defer { session.end() }
            try db.inTransaction {
                for id in 1...200 {
                    try db.execute(sql: "INSERT INTO t (id, body) VALUES (?, ?)", arguments: [id, String(repeating: "ж", count: 2_000)])
                }
                return .commit
            }
            changeset = try session.changeset()
        }
        return SharedRound(round: 1, office: "b", changeset: changeset)
    }

    static func copy(in folder: URL) throws -> DatabaseQueue {
        let copy = try DatabaseQueue(path: folder.appendingPathComponent("copy.sqlite").path)
        try copy.write { db in try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)") }
        return copy
    }

    static func apply(_ round: SharedRound, to copy: DatabaseQueue, maxPages: Int? = nil) throws {
        try copy.writeWithoutTransaction { db in
            if let maxPages { try db.execute(sql: "PRAGMA max_page_count = \(maxPages)") }
            guard let connection = db.sqliteConnection else { throw CasetrackError(.internalError, "no connection") }
            try ChangeSession.apply(round, to: UnsafeMutableRawPointer(connection))
        }
    }

    @Test("no room for the round: a full disk, which passes, not a copy that left the register")
    func fullDisk() async throws {
        try await withFolder { folder in
            let round = try Self.round(in: folder)
            let copy = try Self.copy(in: folder)
            let pages = try copy.read { db in try Int.fetchOne(db, sql: "PRAGMA page_count") } ?? 0
            let error = #expect(throws: (any Error).self) { try Self.apply(round, to: copy, maxPages: pages + 4) }
            let told = SQLiteCaseStore.storageFailure(error ?? CasetrackError(.internalError, "nothing thrown"))
            #expect(told.code == .storageFull, "\(told)")
            // Nothing of the round stays; with room, it applies.
            #expect(try copy.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM t") } == 0)
            try Self.apply(round, to: copy, maxPages: 1_000_000)
            #expect(try copy.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM t") } == 200)
        }
    }

    @Test("a row not as the round expects it: the copy does not follow the register")
    func conflict() async throws {
        try await withFolder { folder in
            let round = try Self.round(in: folder)
            let copy = try Self.copy(in: folder)
            try copy.write { db in try db.execute(sql: "INSERT INTO t (id, body) VALUES (7, 'інше')") }
            let error = #expect(throws: CasetrackError.self) { try Self.apply(round, to: copy) }
            #expect(error?.code == .storageDamaged)
            #expect(error?.message.contains("does not follow the shared register: round 1 (from office b)") == true, "\(String(describing: error))")
            #expect(error?.message.contains("table t: a row to insert is there already") == true, "\(String(describing: error))")
        }
    }
}
