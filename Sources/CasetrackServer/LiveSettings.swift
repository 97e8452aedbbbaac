import CasetrackCore
import Synchronization

/// The configuration in force, replaced as a whole on reload (SIGHUP). Readers take a
/// consistent copy; nothing holds the lock while it works.
public final class LiveSettings: Sendable {
    private let settings: Mutex<DaemonConfiguration>

    public init(_ settings: DaemonConfiguration) { self.settings = Mutex(settings) }

    public var current: DaemonConfiguration { settings.withLock { $0 } }

    /// Puts `new` in force and returns the one it replaced.
    @discardableResult
    public func replace(with new: DaemonConfiguration) -> DaemonConfiguration {
        settings.withLock { current in
            defer { current = new }
            return current
        }
    }
}
