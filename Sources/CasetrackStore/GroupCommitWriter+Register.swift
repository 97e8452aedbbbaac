import CasetrackCore
import Foundation
import GRDB

// The writer's side of a shared register (several offices): appending a round, catching up
// with other offices' rounds, and what writes are told while the shared store is away.

extension GroupCommitWriter {
    /// Refuses the queued writes that waited through a failed try of the shared store.
    func refuseWaited() {
        guard let failed = unreachable.withLock({ $0 }) else { return }
        let waited = queue.withLock { queue -> [Job] in
            let waited = queue.jobs.filter { $0.queued < failed }
            queue.jobs.removeAll { $0.queued < failed }
            return waited
        }
        for job in waited { job.abandon(Self.unreachableRefusal) }
    }

    /// The register refused this office (``SharedRegisterRefusal``): it takes neither writes
    /// nor the register's rounds until it is restarted.
    func refuseByRegister(_ error: CasetrackError) {
        replica?.refuse(error)
        refuseWrites(error)
    }

    /// Appends the round's rows to the shared register, as the round after the last this
    /// database holds; throws ``SharedBehind`` when another office appended it first.
    func share(_ session: ChangeSession, firstSeq: Int64, _ replica: Replica, _ db: Database) throws {
        guard replica.joined else {
            throw SharedLogFailure(outcomeUnknown: false, message: "this office has not reached it since the daemon started").error
        }
        let round = try SQLiteCaseStore.bump("shared_round", db)
        let changeset = try session.changeset()
        let lastSeq = try SQLiteCaseStore.eventSeq(db)
        let digest = SharedRound.digest(round: round, office: replica.log.office, changeset: changeset)
        let previous = SQLiteCaseStore.roundDigest(try SQLiteCaseStore.localValue(SQLiteCaseStore.roundDigestName, db), round: round - 1)
        // In the round's transaction, and before the append: the copy holds this round exactly
        // when it holds its digest, and nothing after an append may fail as "not made".
        try SQLiteCaseStore.setLocalValue(SQLiteCaseStore.roundDigestName, SQLiteCaseStore.roundDigestValue(round: round, digest: digest), db)
        do {
            switch try replica.log.append(round: round, changeset: changeset, firstSeq: firstSeq, lastSeq: lastSeq,
                                          digest: digest, previous: previous) {
            case .appended: return
            case .behind: throw SharedBehind()
            }
        } catch let failure as SharedLogFailure {
            throw failure.error
        }
    }

    static let unreachableRefusal = CasetrackError(.storageUnavailable,
        "the shared store did not answer while this write waited for it: the change was not made. Reads are served from this office's copy; writes resume by themselves when the store answers again")

    /// How long a round goes on catching up with other offices' appends before it gives up.
    static let racingLimit = Duration.seconds(5)

    static let lostRaces = CasetrackError(.storageUnavailable,
        "other offices appended to the shared register before this one at every try for \(racingLimit.components.seconds) s: the change was not made. Send it again (with the same request_id if it has one)")

    /// Asks the writer to apply the rounds other offices appended (the follower heard of one).
    func followRegisterSoon() {
        guard let replica else { return }
        replica.want()
        doorbell.signal()
    }

    /// Applies what other offices appended and tells subscribers. A shared store that does
    /// not answer is reported (writes get the same answer); a round that does not apply
    /// stops writes.
    func followQuietly(_ replica: Replica) {
        do {
            var caughtUp = false
            defer { if caughtUp { afterCommit() } }
            try replica.join(pool) { missed in
                onCommit(missed)
                caughtUp = true
            }
            if reportedFault.withLock({ $0 }) == .storageUnavailable { report(nil) }
        } catch let failure as SharedLogFailure {
            report(failure.notMade)
        } catch let refusal as SharedRegisterRefusal {
            refuseByRegister(refusal.error)
        } catch {
            let reported = SQLiteCaseStore.storageFailure(error)
            // A full disk passes; anything else (a round that does not apply, a register
            // that is not this database's) needs the operator.
            if reported.code == .storageFull { report(reported) } else { refuseWrites(reported) }
        }
    }
}
