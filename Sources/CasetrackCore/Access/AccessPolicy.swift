/// A user or a group as the configuration names it, before it is looked up: `alice` or `1001`
/// for a user, `@casetrack-read` or `@1002` for a group.
public enum Principal: Hashable, Sendable, CustomStringConvertible {
    case user(String)
    case group(String)

    /// Reads one entry of a role list; nil when it is empty or holds characters no account
    /// name has.
    public init?(_ text: String) {
        let isGroup = text.hasPrefix("@")
        let name = isGroup ? String(text.dropFirst()) : text
        guard !name.isEmpty, name.count <= 64,
              name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)
                                                              || $0 == "-" || $0 == "_" || $0 == "." || $0 == "$") })
        else { return nil }
        self = isGroup ? .group(name) : .user(name)
    }

    public var description: String {
        switch self {
        case .user(let name): return name
        case .group(let name): return "@" + name
        }
    }
}

/// Looks users and groups up by name. The daemon passes the system's account database; tests
/// pass a table.
public protocol AccountDirectory: Sendable {
    func userID(named name: String) -> UInt32?
    func groupID(named name: String) -> UInt32?
}

/// Who is at the other end of a connection, as the kernel saw it when the peer connected
/// (`SO_PEERCRED`, `SO_PEERGROUPS`): not what the peer claims.
public struct PeerIdentity: Hashable, Sendable {
    public var uid: UInt32
    public var gid: UInt32
    /// Supplementary groups.
    public var groups: [UInt32]
    public var pid: Int32

    public init(uid: UInt32, gid: UInt32, groups: [UInt32] = [], pid: Int32) {
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.pid = pid
    }

    /// The peer as history records it.
    public var actor: Actor { Actor(uid: uid, pid: pid) }
}

/// Which role each user and group has: the `observers`, `readers`, `writers` and `admins`
/// lists of the configuration, looked up. Root and the daemon's own user are always admin;
/// anyone else not listed has no role and may do nothing.
public struct AccessPolicy: Hashable, Sendable {
    public private(set) var users: [UInt32: Role] = [:]
    public private(set) var groups: [UInt32: Role] = [:]
    /// The daemon's own user (admin, like root).
    public let ownUID: UInt32

    /// Only root and the daemon's own user: the safe default.
    public init(ownUID: UInt32) { self.ownUID = ownUID }

    /// Looks every listed name up. A name the system does not know is an error (a typo must
    /// not silently leave someone without access, or with more than meant).
    public init(members: [Role: [Principal]], ownUID: UInt32, directory: any AccountDirectory) throws {
        self.ownUID = ownUID
        for role in Role.allCases {
            for principal in members[role] ?? [] {
                switch principal {
                case .user(let name):
                    // A name first: an account may be called `1234`; only then a number.
                    guard let uid = directory.userID(named: name) ?? UInt32(name) else {
                        throw CasetrackError.badArgument("\(role.listKey): there is no user '\(name)' on this system")
                    }
                    users[uid] = max(users[uid] ?? role, role)
                case .group(let name):
                    guard let gid = directory.groupID(named: name) ?? UInt32(name) else {
                        throw CasetrackError.badArgument("\(role.listKey): there is no group '\(name)' on this system")
                    }
                    groups[gid] = max(groups[gid] ?? role, role)
                }
            }
        }
    }

    /// The highest role the peer has through its user, its primary group or any of its
    /// supplementary groups; nil when it has none.
    public func role(of peer: PeerIdentity) -> Role? {
        if peer.uid == 0 || peer.uid == ownUID { return .admin }
        var best = users[peer.uid]
        // Asked before every batch of notices for every subscriber: no array built here.
        func consider(_ gid: UInt32) {
            if let role = groups[gid], best.map({ role > $0 }) ?? true { best = role }
        }
        consider(peer.gid)
        peer.groups.forEach(consider)
        return best
    }
}

extension Role {
    /// The configuration key that lists this role's users and groups.
    public var listKey: String { rawValue + "s" }

    /// The most a connection through a listener may do, from the listener's name: `socket`
    /// (a path the daemon bound itself), `rw` and `unknown` (the manager named none) allow
    /// everything, `ro` reading, and a role's name that role. Other names are refused at start
    /// (a typo in `FileDescriptorName=` must not open a socket wider than meant).
    public static func cap(forListener name: String) throws -> Role {
        switch name {
        case "socket", "rw", "unknown": return .admin
        case "ro": return .reader
        default:
            if let role = Role(rawValue: name) { return role }
            throw CasetrackError.badArgument(
                "systemd passed a socket named '\(name)'; name it rw, ro, observer, reader, writer or admin (FileDescriptorName= in the .socket unit)")
        }
    }
}
