import CasetrackCore
import Testing

/// A made-up account table (no system lookups in unit tests).
struct FakeAccounts: AccountDirectory {
    var users: [String: UInt32] = ["oksana": 2001, "taras": 2002, "marta": 2003]
    var groups: [String: UInt32] = ["ct-read": 3001, "ct-write": 3002, "ct-watch": 3003]
    func userID(named name: String) -> UInt32? { users[name] }
    func groupID(named name: String) -> UInt32? { groups[name] }
}

@Suite("Roles: who may do what")
struct AccessTests {
    func policy(_ text: String) throws -> AccessPolicy {
        var configuration = DaemonConfiguration()
        try configuration.apply(fileText: text, origin: "t.conf")
        return try AccessPolicy(members: configuration.members, ownUID: 999, directory: FakeAccounts())
    }

    @Test("users, uids and groups map to roles; the highest wins; root and the daemon's user are admin")
    func mapping() throws {
        let access = try policy("""
            observers = @ct-watch
            readers = "@ct-read, marta"
            writers = taras,@3002
            admins = 2005
            """)
        #expect(access.role(of: PeerIdentity(uid: 0, gid: 0, pid: 1)) == .admin)
        #expect(access.role(of: PeerIdentity(uid: 999, gid: 999, pid: 1)) == .admin)
        #expect(access.role(of: PeerIdentity(uid: 2005, gid: 100, pid: 1)) == .admin)
        #expect(access.role(of: PeerIdentity(uid: 2002, gid: 100, pid: 1)) == .writer)
        #expect(access.role(of: PeerIdentity(uid: 2003, gid: 100, pid: 1)) == .reader)
        // Through the primary group, and through a supplementary one.
        #expect(access.role(of: PeerIdentity(uid: 4000, gid: 3003, pid: 1)) == .observer)
        #expect(access.role(of: PeerIdentity(uid: 4000, gid: 100, groups: [3003, 3001], pid: 1)) == .reader)
        #expect(access.role(of: PeerIdentity(uid: 2003, gid: 100, groups: [3002], pid: 1)) == .writer)
        // Not listed: nothing.
        #expect(access.role(of: PeerIdentity(uid: 2001, gid: 100, groups: [5000], pid: 1)) == nil)
    }

    @Test("the default is the safe one: nobody but root and the daemon's own user")
    func safeDefault() throws {
        let access = try policy("")
        #expect(access.role(of: PeerIdentity(uid: 1000, gid: 1000, groups: [27, 100], pid: 1)) == nil)
        #expect(access.role(of: PeerIdentity(uid: 999, gid: 999, pid: 1)) == .admin)
    }

    @Test("an unknown user or group and a malformed entry are errors", arguments: [
        ("readers = nobody-here", "readers: there is no user 'nobody-here'"),
        ("writers = @no-group", "writers: there is no group 'no-group'"),
        ("admins = \"al ice\"", "is not a user"),
        ("observers = @", "is not a user"),
    ])
    func unknown(_ text: String, _ fragment: String) {
        #expect { try policy(text) } throws: { error in
            (error as? CasetrackError)?.message.contains(fragment) == true
        }
    }

    @Test("a socket's name caps the role; an unknown name is refused")
    func caps() throws {
        #expect(try Role.cap(forListener: "rw") == .admin)
        #expect(try Role.cap(forListener: "socket") == .admin)
        #expect(try Role.cap(forListener: "ro") == .reader)
        #expect(try Role.cap(forListener: "observer") == .observer)
        #expect(try Role.cap(forListener: "unknown") == .admin && Role.cap(forListener: "writer") == .writer)
        #expect(throws: CasetrackError.self) { try Role.cap(forListener: "casetrackd.socket") }
    }

    @Test("each command needs its verb's role; a correction needs admin, a name filter reader")
    func requiredRoles() throws {
        func role(_ line: String) throws -> Role {
            try Command(Request(line: line), today: Day(year: 2026, month: 11, day: 27)!).requiredRole
        }
        #expect(try role("PING") == .observer)
        #expect(try role("COUNT status=captive") == .observer)
        #expect(try role("COUNT name=Бондар") == .reader)
        #expect(try role("STATS name=Bondar") == .reader)
        #expect(try role("GET C-000001") == .reader)
        #expect(try role("SET-STATUS C-000001 returned") == .writer)
        #expect(try role("SET-STATUS C-000001 missing correction=yes note=\"wrong list\"") == .admin)
        #expect(try role("SUBSCRIBE") == .observer)
        #expect(try role("SUBSCRIBE unit=\"3 бригада\"") == .reader)
        #expect(try role("SUBSCRIBE tag=medic") == .reader)
        #expect(try role("COUNT tag=medic") == .reader)
        #expect(try role("STATS unit=x") == .reader)
        #expect(try role("TEST-NOTICE") == .writer)
        #expect(Role.observer < .reader && Role.reader < .writer && Role.writer < .admin)
    }

    @Test("limits read from the file; bad values are named")
    func limits() throws {
        var configuration = DaemonConfiguration()
        try configuration.apply(fileText: """
            max_connections = 10
            max_connections_per_uid = 3
            max_subscribers = 0
            request_rate = off
            line_timeout = 2
            send_timeout = 5
            output_buffer = 65536
            audit_reads = yes
            """, origin: "t.conf")
        let limits = configuration.limits
        #expect(limits.maxConnections == 10 && limits.maxConnectionsPerUID == 3 && limits.maxSubscribers == 0)
        #expect(limits.requestRate == 0 && limits.lineTimeout == 2 && limits.sendTimeout == 5 && limits.outputBuffer == 65_536)
        #expect(configuration.auditReads)
        for bad in ["max_connections = 0", "request_rate = fast", "output_buffer = 10", "audit_reads = maybe"] {
            var refused = DaemonConfiguration()
            #expect(throws: CasetrackError.self, "\(bad)") { try refused.apply(fileText: bad, origin: "t.conf") }
        }
    }

    @Test("roles, limits and auditing are put in force by a reload")
    func reload() throws {
        var fresh = DaemonConfiguration()
        try fresh.apply(fileText: "readers = taras\nrequest_rate = 5\naudit_reads = yes\nsocket = /run/other.sock", origin: "t.conf")
        let (next, needRestart) = DaemonConfiguration().reloaded(from: fresh)
        #expect(next.members[.reader] == [.user("taras")] && next.limits.requestRate == 5 && next.auditReads)
        #expect(needRestart == ["socket"])
    }

    @Test("the request rate: one second's burst, then the rate; no limit at 0")
    func rate() {
        var bucket = RequestRate(rate: 0)
        var allowed = 0
        for _ in 0..<10 where bucket.take(now: 100, rate: 5) { allowed += 1 }
        #expect(allowed == 5)
        let tooSoon = bucket.take(now: 100.1, rate: 5)
        let later = bucket.take(now: 100.3, rate: 5)  // 0.3 s brought 1.5 tokens
        let unlimited = bucket.take(now: 100.3, rate: 0)
        #expect(!tooSoon && later && unlimited)
    }
}
