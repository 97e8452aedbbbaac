#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CasetrackClient
import CasetrackCore
import Foundation

struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Have the daemon write a consistent copy of its database to a new file, while it serves.",
        discussion: """
            The daemon itself writes the file (mode 0600, owned by the daemon's user), so FILE must be a \
            path it may create: under the shipped unit, a folder below /var/lib/casetrack, e.g. \
            /var/lib/casetrack/backup/2026-11-27.db. A relative FILE is taken from the current folder. \
            The copy is synced to disk and checked before casectl prints its size, cases, events and \
            the newest sequence number in it. Restore: see the README. Needs the admin role.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("The new file.", valueName: "file"), completion: .file())
    var file: String

    func run() throws {
        let path = file.hasPrefix("/") ? file : FileManager.default.currentDirectoryPath + "/" + file
        try connection.run { client in
            let final = try client.request(Request(verb: "BACKUP", positional: [path])).get()
            Output.line(connection.json ? final.typed.json
                : "backup \(final.string("path") ?? path): \(final.int("cases") ?? 0) cases, \(final.int("events") ?? 0) events through sequence number \(final.int("last") ?? 0), \(final.int("bytes") ?? 0) bytes, chain head \(final.string("head") ?? "-")")
        }
    }
}
