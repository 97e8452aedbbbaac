import CasetrackCore
import NIOCore
import NIOEmbedded
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
    func registration() throws {
        let hub = NoticeHub()
        hub.begin(after: 10)
        hub.publish(notices(11...12))
        var filter = NoticeFilter()
        filter.caseIDs = [CaseID(number: 14), CaseID(number: 15)]
        let (queue, after) = hub.subscribe(filter: filter, capacity: 100)
        #expect(after == 12)
        hub.publish(notices(13...16))
        #expect(try #require(queue.handOver()).map(\.seq) == [14, 15])
        #expect(queue.handOver() == nil, "handed over once")
        hub.unsubscribe(queue)
        #expect(queue.closed)
        #expect(hub.subscriberCount == 0 && hub.lastSequence == 16)
    }

    @Test("a full queue drops what it held and ends with overflow; the others are untouched")
    func overflow() throws {
        let hub = NoticeHub()
        let (slow, _) = hub.subscribe(filter: NoticeFilter(), capacity: 16)
        let (fast, _) = hub.subscribe(filter: NoticeFilter(), capacity: 1_000)
        hub.publish(notices(1...10))
        hub.publish(notices(11...20))
        #expect(slow.overflowed)
        #expect(slow.handOver() == nil, "nothing half-delivered after the cut")
        #expect(hub.subscriberCount == 1, "the overflowed subscriber is gone from the hub")
        hub.publish(notices(21...21))
        #expect(try #require(fast.handOver()).map(\.seq) == Array(1...21))
    }
}

@Suite("Live subscribers written from their event loop")
struct LiveFanOutTests {
    let hub = NoticeHub()
    let loop = EmbeddedEventLoop()

    func notices(_ range: ClosedRange<Int64>) -> [Notice] {
        NoticeHubTests().notices(range)
    }

    /// A subscriber on its own channel (or on `existing`), live after the notices its queue held.
    func live(capacity: Int, publishedBefore: ClosedRange<Int64>? = nil,
              on existing: EmbeddedChannel? = nil) throws -> (EmbeddedChannel, LiveSink) {
        let channel = existing ?? EmbeddedChannel(handler: NoticeOutlet(), loop: loop)
        let (queue, after) = hub.subscribe(filter: NoticeFilter(), capacity: capacity)
        if let publishedBefore { hub.publish(notices(publishedBefore)) }
        let outlet = try channel.pipeline.syncOperations.handler(type: NoticeOutlet.self)
        let hub = self.hub
        let sink = LiveSink(id: queue.id, outlet: outlet, channel: channel, watch: ConnectionWatch(), filter: NoticeFilter(),
                            format: .text, capacity: capacity, last: after, lines: hub.lines, settings: nil,
                            personalData: { false }, onEnd: { hub.removeLive($0) })
        let left = try #require(hub.goLive(queue, as: sink))
        sink.start(with: left)
        return (channel, sink)
    }

    /// The sequence numbers of the notice lines written to `channel` since the last call.
    func written(_ channel: EmbeddedChannel) throws -> [Int64] {
        var seqs: [Int64] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            for line in String(buffer: buffer).split(separator: "\n") where line.hasPrefix("N seq=") {
                seqs.append(Int64(line.dropFirst(6).prefix { $0 != " " }) ?? -1)
            }
        }
        return seqs
    }

    @Test("what the queue held goes first, then each pass; a notice published at the seam comes once")
    func seam() throws {
        let (channel, _) = try live(capacity: 100, publishedBefore: 1...3)
        #expect(try written(channel) == [1, 2, 3])
        hub.publish(notices(4...5))
        hub.publish(notices(6...6))
        #expect(try written(channel) == [], "written by the loop's pass, not by the publisher")
        loop.run()
        #expect(try written(channel) == [4, 5, 6])
        // Another subscriber goes live while a pass with 7 is due: 7 reaches it once.
        hub.publish(notices(7...7))
        let (second, _) = try live(capacity: 100)
        loop.run()
        #expect(try written(channel) == [7])
        #expect(try written(second) == [])
        hub.publish(notices(8...8))
        loop.run()
        #expect(try written(second) == [8])
        #expect(hub.subscriberCount == 2)
    }

    @Test("subscribers ending in any order leave the passes; every other one still gets each notice")
    func endingInAnyOrder() throws {
        var subscribers = try (0..<40).map { _ in try live(capacity: 100) }
        var rng = SystemRandomNumberGenerator()
        var seq: Int64 = 0
        while !subscribers.isEmpty {
            // End a few at random places, then publish one notice and check who got it.
            for _ in 0..<min(subscribers.count, Int.random(in: 1...5, using: &rng)) {
                let (channel, sink) = subscribers.remove(at: Int.random(in: 0..<subscribers.count, using: &rng))
                sink.end(.closed)
                seq += 1
                hub.publish(notices(seq...seq))
                loop.run()
                #expect(try written(channel).isEmpty, "an ended subscriber gets nothing")
                for (other, _) in subscribers {
                    #expect(try written(other) == [seq])
                }
            }
            #expect(hub.sinksInPasses == subscribers.count)
            #expect(hub.subscriberCount == subscribers.count)
        }
    }

    @Test("an earlier subscription on the connection ending late leaves the later one's wake-up in place")
    func lateEnd() throws {
        let (channel, first) = try live(capacity: 10)
        let (_, second) = try live(capacity: 10, on: channel)
        first.end(.closed)
        loop.run()
        channel.isWritable = false
        hub.publish(notices(1...1))
        loop.run()
        #expect(try written(channel) == [1])
        hub.publish(notices(2...2))
        loop.run()
        #expect(try written(channel) == [], "held while the channel is full")
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        #expect(try written(channel) == [2], "the later subscription is woken")
        second.end(.closed)
    }

    @Test("a full channel holds its notices and sends them when writable; past capacity it ends alone with overflow")
    func fullChannel() throws {
        let (fast, _) = try live(capacity: 3)
        let (paused, _) = try live(capacity: 3)
        let (stuck, stuckSink) = try live(capacity: 3)
        paused.isWritable = false
        stuck.isWritable = false
        hub.publish(notices(1...1))
        loop.run()
        // Written, then found full: the next ones wait.
        #expect(try written(paused) == [1])
        #expect(try written(stuck) == [1])
        hub.publish(notices(2...3))
        loop.run()
        #expect(try written(paused) == [])
        paused.isWritable = true
        paused.pipeline.fireChannelWritabilityChanged()
        #expect(try written(paused) == [2, 3], "sent once writable again, in order")
        hub.publish(notices(4...5))
        loop.run()
        #expect(try written(stuck) == [], "four waiting, more than its 3")
        let outcome = NIOLoopBoundBox<NoticeFeed.Outcome?>(nil, eventLoop: loop)
        stuckSink.outcome.whenSuccess { outcome.value = $0 }
        loop.run()
        guard case .overflow(let last)? = outcome.value else {
            Issue.record("outcome: \(String(describing: outcome.value))")
            return
        }
        #expect(last == 1, "resuming after the last notice written loses nothing")
        #expect(try written(fast) == [1, 2, 3, 4, 5], "the fast one got everything")
        #expect(try written(paused) == [4, 5])
        #expect(hub.subscriberCount == 2, "only the stuck one is gone")
        hub.publish(notices(6...6))
        loop.run()
        #expect(try written(fast) == [6])
        #expect(try written(stuck) == [])
    }
}
