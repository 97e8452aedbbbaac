#if canImport(Glibc)
import Glibc
#endif
import CasetrackCore
import Synchronization

/// The configuration in force and the access policy looked up from it, replaced as a whole on
/// reload (SIGHUP). Readers take a consistent copy; nothing holds the lock while it works.
public final class LiveSettings: Sendable {
    private let settings: Mutex<(configuration: DaemonConfiguration, access: AccessPolicy)>
    private let replaced = Atomic<Int>(0)

    /// `access` defaults to the safe policy: root and the daemon's own user only.
    public init(_ configuration: DaemonConfiguration, access: AccessPolicy = AccessPolicy(ownUID: getuid())) {
        settings = Mutex((configuration, access))
    }

    public var current: DaemonConfiguration { settings.withLock { $0.configuration } }

    public var access: AccessPolicy { settings.withLock { $0.access } }

    /// Both at once, from one version of the settings.
    public var snapshot: (configuration: DaemonConfiguration, access: AccessPolicy) { settings.withLock { $0 } }

    /// How many times the settings were replaced: what was worked out from them (a live
    /// subscriber's role) holds while this stays the same.
    public var generation: Int { replaced.load(ordering: .acquiring) }

    /// Puts `new` in force and returns the configuration it replaced.
    @discardableResult
    public func replace(with new: DaemonConfiguration, access: AccessPolicy? = nil) -> DaemonConfiguration {
        let previous = settings.withLock { current in
            defer { current = (new, access ?? current.access) }
            return current.configuration
        }
        replaced.add(1, ordering: .releasing)
        return previous
    }
}
