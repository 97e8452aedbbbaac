#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CasetrackCore

/// The system's users and groups (`/etc/passwd`, `/etc/group` or whatever NSS is set up to use).
public struct SystemAccounts: AccountDirectory {
    public init() {}

    public func userID(named name: String) -> UInt32? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return entry.pw_uid
    }

    /// The name of user `uid` (libpq's default user for PostgreSQL).
    public func userName(uid: UInt32) -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else { return nil }
        return String(cString: name)
    }

    public func groupID(named name: String) -> UInt32? {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        // A group's entry holds its member list: a large directory group (LDAP, sssd) needs
        // more than any fixed buffer, and ERANGE is not "no such group".
        var size = 65_536
        while true {
            var buffer = [CChar](repeating: 0, count: size)
            let status = getgrnam_r(name, &entry, &buffer, buffer.count, &result)
            if status == ERANGE, size < 64 << 20 {
                size *= 4
                continue
            }
            guard status == 0, result != nil else { return nil }
            return entry.gr_gid
        }
    }
}

/// Checks on the files that hold personal data.
public enum FilePermissions {
    /// A warning when `path` may be read or entered by anyone but its owner (group or other
    /// bits set); nil when it is private or missing.
    public static func warning(for path: String, expected: mode_t, what: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 != 0 else { return nil }
        return "\(what) \(path) has mode \(String(mode, radix: 8)); anyone in its group or beyond may read personal data. Make it \(String(expected, radix: 8)) (chmod \(String(expected, radix: 8)) \(path))"
    }

    /// Raises the soft limit on open files to `wanted` (within the hard limit): each client
    /// connection is one. Returns the limit in force.
    @discardableResult
    public static func raiseOpenFileLimit(to wanted: Int) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return -1 }
        let target = min(rlim_t(wanted), limit.rlim_max)
        if limit.rlim_cur < target {
            limit.rlim_cur = target
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return Int(limit.rlim_cur)
    }
}
