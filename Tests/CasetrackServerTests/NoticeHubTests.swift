import CasetrackCore
@testable import CasetrackServer
import Testing

@Suite("Notice hub and subscriber queues")
struct NoticeHubTests {
    func notices(_ range: ClosedRange<Int64>, kind: EventKind = .status) -> [Notice] {
        range.map { seq in
            Notice(seq: seq, caseID: CaseID(number: seq), kind: kind, oldStatus: .missing, newStatus: .captive,
                   category: .military, unit: nil, tags: [], occurredOn: nil, recordedAt: Timestamp(unixMilliseconds: 0),
                   version: 2)
        }
    }

    @Test("a subscriber starts after the last published notice and gets the later ones that match, in order")
    func registration() async throws {
        let hub = NoticeHub()
        hub.begin(after: 10)
        hub.publish(notices(11...12))
        var filter = NoticeFilter()
        filter.caseIDs = [CaseID(number: 14), CaseID(number: 15)]
        let (queue, after) = hub.subscribe(filter: filter, capacity: 100)
        #expect(after == 12)
        hub.publish(notices(13...16))
        #expect(try await queue.take(maximum: 10).get().map(\.seq) == [14, 15])
        hub.unsubscribe(queue)
        #expect(await queue.take(maximum: 10) == .failure(NoticeQueueEnded(end: .closed)))
        #expect(hub.subscriberCount == 0 && hub.lastSequence == 16)
    }

    @Test("a full queue drops what it held and ends with overflow; the others are untouched")
    func overflow() async throws {
        let hub = NoticeHub()
        let (slow, _) = hub.subscribe(filter: NoticeFilter(), capacity: 16)
        let (fast, _) = hub.subscribe(filter: NoticeFilter(), capacity: 1_000)
        hub.publish(notices(1...10))
        #expect(try await fast.take(maximum: 100).get().count == 10)
        hub.publish(notices(11...20))
        #expect(slow.overflowed)
        #expect(await slow.take(maximum: 100) == .failure(NoticeQueueEnded(end: .overflow)), "nothing half-delivered after the cut")
        #expect(hub.subscriberCount == 1, "the overflowed subscriber is gone from the hub")
        hub.publish(notices(21...21))
        #expect(try await fast.take(maximum: 100).get().map(\.seq) == Array(11...21))
    }

    @Test("a waiting subscriber wakes for a notice and for the end")
    func waking() async throws {
        let hub = NoticeHub()
        let (queue, _) = hub.subscribe(filter: NoticeFilter(), capacity: 100)
        async let taken = queue.take(maximum: 5)
        try await Task.sleep(for: .milliseconds(50))
        hub.publish(notices(1...7))
        #expect(try await taken.get().map(\.seq) == [1, 2, 3, 4, 5])
        #expect(try await queue.take(maximum: 5).get().map(\.seq) == [6, 7])
        async let ended = queue.take(maximum: 5)
        try await Task.sleep(for: .milliseconds(50))
        hub.unsubscribe(queue)
        #expect(await ended == .failure(NoticeQueueEnded(end: .closed)))
    }
}
