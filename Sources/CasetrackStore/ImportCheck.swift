import CasetrackCore
import Foundation
import GRDB

/// An import's duplicate check, made on a reader's snapshot while the writer inserts the rows.
///
/// Looking for each new case's possible duplicates was nearly half of the writer's time per
/// imported row, on one core while the other idled. The check only reads, so readers make it
/// beside the writer, each a share of the rows, and hand each row's findings over.
///
/// The findings must be the ones the writer would make itself in its transaction. They are,
/// when the snapshot is the state the writer's transaction starts from: every change to a
/// case is an event, so the newest event's number is the same in both (``matches(eventSeq:)``),
/// and the rows of the request that the writer inserts before a row are overlaid on the
/// snapshot (``RequestOverlay``), as the writer's own search would find them in its tables.
/// The check also foresees each new case's number; the writer takes a finding only for the
/// row and number it was made for. Whenever anything differs, or the reader stops with an
/// error, the writer makes the rest of the rows' checks itself, as it did before.
final class ImportCheck: @unchecked Sendable {
    /// One row's findings: the case number it foresaw, and the candidates (best first).
    struct Finding {
        let id: CaseID
        let candidates: [DuplicateCandidate]
    }

    /// How many readers share the rows, each on its own snapshot: the check costs more a row
    /// than the writer's inserts (at a million cases, about twice as much), so one reader kept
    /// the writer waiting.
    let workers: Int
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var snapshotSeqs: [Int64?]
    private var findings: [Int: Finding] = [:]
    /// For each reader: the rows (by position) it is done with, findings or not.
    private var checked: [Int]
    private var ended: [Bool]
    private var abandoned = false
    private var served = 0
    /// Nanoseconds the writer spent waiting for findings.
    private var waited: UInt64 = 0
    private var snapshotWaiter: CheckedContinuation<Void, Never>?

    /// Rows checked by one reader in a row, and handed over at once: waking the writer for
    /// each would cost more than a row's wait.
    private static let handOver = 8

    init(workers: Int) {
        self.workers = max(1, workers)
        snapshotSeqs = Array(repeating: nil, count: self.workers)
        checked = Array(repeating: 0, count: self.workers)
        ended = Array(repeating: false, count: self.workers)
    }

    /// Which reader checks the row at `position`: groups of ``handOver`` rows in turn.
    func worker(for position: Int) -> Int { (position / Self.handOver) % workers }

    /// One reader's part: decides every row as the writer will (each reader must know every
    /// added row's number and keys), and checks the added rows of its own groups. Runs in a
    /// read transaction (one snapshot) until done or abandoned.
    func run(_ rows: [ImportRow], ready: [PreparedNewCase?], worker: Int, _ db: Database) throws {
        if isAbandoned { return }
        let seq = try SQLiteCaseStore.eventSeq(db)
        var nextID = try SQLiteCaseStore.counter("case_id", db)
        publish(seq: seq, worker: worker)
        var planner = ImportPlanner(owner: { try SQLiteCaseStore.referenceOwner($0, db) })
        let overlay = RequestOverlay()
        let cache = PreparedIdentities()
        var batch: [(Int, Finding)] = []
        for (position, row) in rows.enumerated() {
            if position % Self.handOver == 0, position > 0 {
                // A group ends: this reader's findings in it, if it was its own, go over.
                publish(batch, through: position - 1, worker: worker)
                batch.removeAll(keepingCapacity: true)
                if isAbandoned { return }
            }
            let mine = self.worker(for: position) == worker
            let index = row.number > 0 ? row.number - 1 : position
            switch try planner.decide(row, index: index) {
            case .existing:
                continue
            case .conflict:
                // The writer refuses the whole request at this row.
                return
            case .add:
                break
            }
            guard let prepared = ready[position] else { return }
            nextID += 1
            let id = CaseID(number: nextID)
            let identity = prepared.identity.numbered(id)
            overlay.add(identity, keys: prepared.keys.match)
            guard mine else { continue }
            let found = try SQLiteCaseStore.candidates(
                for: identity, keys: prepared.blockingKeys, minimumScore: DuplicateScoring.defaultThreshold, excluding: [],
                blockLimit: SQLiteCaseStore.importBlockLimit, prepared: cache, overlay: overlay, db).candidates
            batch.append((position, Finding(id: id, candidates: found)))
        }
        publish(batch, through: rows.count - 1, worker: worker)
    }

    /// Returns once every reader has its snapshot, or one has ended without: the writer's
    /// turn is asked for only then, so that the writer never waits for a reader to become
    /// free (long reads may hold them all). A snapshot that other writes made stale before
    /// the import's turn is found so by ``matches(eventSeq:)``.
    func snapshotTaken() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            condition.lock()
            guard !snapshotsReady else {
                condition.unlock()
                continuation.resume()
                return
            }
            snapshotWaiter = continuation
            condition.unlock()
        }
    }

    /// Whether every reader's snapshot is the state the writer starts from.
    func matches(eventSeq: Int64) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return snapshotSeqs.allSatisfy { $0 == eventSeq }
    }

    /// The findings for the row at `position`, once its reader has made them; `nil` when it
    /// made none for that row and number (the writer then checks the row itself). The reader
    /// is running on its snapshot, a row at a time, and each row's search is bounded (see
    /// ``SQLiteCaseStore/importBlockLimit``): the wait is for work under way.
    func finding(at position: Int, id: CaseID) -> [DuplicateCandidate]? {
        let worker = worker(for: position)
        condition.lock()
        defer { condition.unlock() }
        if checked[worker] <= position, !ended[worker] {
            let start = DispatchTime.now().uptimeNanoseconds
            while checked[worker] <= position, !ended[worker] { condition.wait() }
            waited += DispatchTime.now().uptimeNanoseconds - start
        }
        guard let finding = findings.removeValue(forKey: position), finding.id == id else { return nil }
        served += 1
        return finding.candidates
    }

    /// Nanoseconds the writer waited for the readers.
    var writerWaited: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return waited
    }

    /// How many rows' findings the writer took.
    var rowsServed: Int {
        condition.lock()
        defer { condition.unlock() }
        return served
    }

    /// The findings made for a row, without waiting or taking them (for tests).
    func findingMade(at position: Int) -> [DuplicateCandidate]? {
        condition.lock()
        defer { condition.unlock() }
        return findings[position]?.candidates
    }

    /// Tells the readers to stop: the writer is done, checks the rest itself, or the import
    /// never reached it.
    func abandon() {
        condition.lock()
        abandoned = true
        condition.unlock()
    }

    private var isAbandoned: Bool {
        condition.lock()
        defer { condition.unlock() }
        return abandoned
    }

    /// Under the lock: every reader has its snapshot, or one ended (without, perhaps).
    private var snapshotsReady: Bool {
        !snapshotSeqs.contains(nil) || ended.contains(true)
    }

    private func publish(seq: Int64, worker: Int) {
        condition.lock()
        snapshotSeqs[worker] = seq
        let waiter = snapshotsReady ? snapshotWaiter : nil
        if waiter != nil { snapshotWaiter = nil }
        condition.unlock()
        waiter?.resume()
    }

    private func publish(_ batch: [(Int, Finding)], through position: Int, worker: Int) {
        condition.lock()
        for (position, finding) in batch { findings[position] = finding }
        checked[worker] = max(checked[worker], position + 1)
        condition.broadcast()
        condition.unlock()
    }

    /// A reader is done, however it ended (also when its read failed before it began).
    func end(_ worker: Int) {
        condition.lock()
        ended[worker] = true
        let waiter = snapshotWaiter
        snapshotWaiter = nil
        condition.broadcast()
        condition.unlock()
        waiter?.resume()
    }
}

/// The rows of an import request the writer will have inserted before the one being checked:
/// what its search would find of them in `case_match_keys` and `cases`.
final class RequestOverlay {
    private var members: [String: [Int64]] = [:]
    private var identities: [Int64: PreparedIdentity] = [:]

    func add(_ identity: PreparedIdentity, keys: [String]) {
        identities[identity.id.number] = identity
        for key in keys { members[key, default: []].append(identity.id.number) }
    }

    func members(of key: String) -> [Int64] { members[key] ?? [] }

    func identity(of number: Int64) -> PreparedIdentity? { identities[number] }
}
