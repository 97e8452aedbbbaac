import NIOCore
import Synchronization

/// Connections accepted but not yet taken by the accept loop.
final class AcceptedConnections: Sendable {
    private let waiting = Mutex<[ObjectIdentifier: NIOAsyncChannel<[InboundLine], ByteBuffer>]>([:])

    func insert(_ connection: NIOAsyncChannel<[InboundLine], ByteBuffer>) {
        waiting.withLock { $0[ObjectIdentifier(connection.channel)] = connection }
    }

    func remove(_ connection: NIOAsyncChannel<[InboundLine], ByteBuffer>) {
        _ = waiting.withLock { $0.removeValue(forKey: ObjectIdentifier(connection.channel)) }
    }

    func removeAll() -> [NIOAsyncChannel<[InboundLine], ByteBuffer>] {
        waiting.withLock { waiting in
            defer { waiting = [:] }
            return Array(waiting.values)
        }
    }
}

/// Every open connection, so that shutdown can close the ones that do not finish.
final class LiveConnections: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    func insert(_ channel: any Channel) { channels.withLock { $0[ObjectIdentifier(channel)] = channel } }

    func remove(_ channel: any Channel) { _ = channels.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) } }

    func closeAll() {
        for channel in channels.withLock({ Array($0.values) }) { channel.close(promise: nil) }
    }
}
