@testable import CasetrackServer
import Testing

@Suite("SO_PEERGROUPS answer")
struct PeerGroupTests {
    func list(_ groups: [UInt32]) -> PeerGroupList {
        var list = PeerGroupList()
        for (index, gid) in groups.enumerated() {
            switch index / 64 {
            case 0: list.a[index % 64] = gid
            case 1: list.b[index % 64] = gid
            case 2: list.c[index % 64] = gid
            default: list.d[index % 64] = gid
            }
        }
        return list
    }

    @Test("sorted groups end at the zero fill; group 0 counts only first and followed by others")
    func groups() {
        #expect(list([]).groups == [])
        #expect(list([27, 100, 1001]).groups == [27, 100, 1001])
        #expect(list([0, 27, 100]).groups == [0, 27, 100])
        #expect(list([0]).groups == [], "alone it cannot be told from no groups: fewer rights, never more")
        let full = (1...256).map(UInt32.init)
        #expect(list(full).groups == full)
    }
}
