import CSQLiteSession
import CasetrackCore
import GRDB
import Foundation

/// The durable copy of every change: a redo log written and synced before the change is
/// committed to SQLite and answered.
///
/// The writer commits to SQLite with `synchronous=NORMAL` (no sync of its own per commit): a
/// commit is durable because its record is, here. A record is one round of the writer (a
/// group of writes committed together): the changeset SQLite's session extension recorded for
/// that transaction, numbered by the `log_group` counter the same transaction sets. At start,
/// records beyond the database's `log_group` (committed to the log, lost by SQLite to a power
/// cut or a kill between the sync and the commit) are applied again, in order.
///
/// Two segment files beside the database (`DB-log.0`, `DB-log.1`), each of
/// ``segmentSize`` bytes allocated up front, overwritten in place: a sync then updates no file
/// size or block map, and a full disk cannot stop the log. A segment opens with a header
/// (magic, epoch, first group); a record is its length, its CRC32C (over the epoch, the group
/// and the changeset), its group and the changeset. Reading stops at the first record that
/// does not check or does not follow: a torn tail (never acknowledged), or what an older use
/// of the segment left behind. Each start is a new epoch, so records of an older one never
/// read as current. Before the writer moves to the other segment, SQLite's files are synced:
/// everything the other segment holds is then in the database for good.
///
/// Used by the writer's thread only (and at start, before it runs).
final class RedoLog: @unchecked Sendable {
    static let defaultSegmentSize = 8 << 20
    static let headerSize = 4096
    static let recordHeaderSize = 16
    static let magic: UInt64 = 0x3130_4C47_4F4C_5443  // "CTLOGL01" little-endian

    let paths: [String]
    let segmentSize: Int
    private let descriptors: [Int32]
    /// The database file, whose own files ``syncDatabase()`` syncs.
    let database: String
    /// The WAL and the database file, opened by ``syncDatabase()`` (-1 until then).
    private var databaseDescriptors: [Int32] = [-1, -1]
    private var epoch: UInt64 = 0
    private var active = 0
    private var offset = 0
    /// Whether the active segment's header was written in this epoch.
    private var opened = false
    /// Where the last record went, until the commit after it succeeded (see `retract`).
    private var last: (segment: Int, offset: Int, opened: Bool)?
    /// The group of the last record committed.
    private(set) var lastGroup: Int64 = 0

    /// What start-up found in the log.
    struct Recovered {
        var records: [(group: Int64, changeset: [UInt8])] = []
        var epoch: UInt64 = 0
    }

    enum Appended { case written, tooLarge }

    /// Opens (creating them the first time) the segments of the database at `database`.
    init(database: String, segmentSize: Int = RedoLog.defaultSegmentSize) throws {
        self.segmentSize = segmentSize
        self.database = database
        paths = [database + "-log.0", database + "-log.1"]
        var descriptors: [Int32] = []
        var created = false
        for path in paths {
            var fd = open(path, O_RDWR | O_CLOEXEC)
            if fd < 0, errno == ENOENT {
                fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
                guard fd >= 0 else { break }
                created = true
                // Reserved now, so that a full disk later can refuse SQLite's pages but
                // never a log record.
                let reserved = posix_fallocate(fd, 0, off_t(segmentSize))
                guard reserved == 0, fsync(fd) == 0 else {
                    close(fd)
                    unlink(path)
                    descriptors.forEach { close($0) }
                    throw CasetrackError(.storageFailure,
                        "cannot allocate the event log \(path) (\(segmentSize >> 20) MiB): \(String(cString: strerror(reserved == 0 ? errno : reserved))); free space beside the database and start again")
                }
            }
            guard fd >= 0 else {
                let reason = String(cString: strerror(errno))
                descriptors.forEach { close($0) }
                throw CasetrackError(.storageFailure, "cannot open the event log \(path): \(reason)")
            }
            descriptors.append(fd)
        }
        self.descriptors = descriptors
        if created {
            // The new names must survive a power cut too.
            let folder = open((database as NSString).deletingLastPathComponent.isEmpty ? "." : (database as NSString).deletingLastPathComponent,
                              O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if folder >= 0 {
                _ = fsync(folder)
                close(folder)
            }
        }
    }

    deinit {
        // After the store closed its connections: no SQLite lock is left to drop.
        descriptors.forEach { close($0) }
        databaseDescriptors.filter { $0 >= 0 }.forEach { close($0) }
    }

    // MARK: Start

    /// The records of the newest epoch, in group order.
    func recover() throws -> Recovered {
        var recovered = Recovered()
        var segments: [(epoch: UInt64, records: [(group: Int64, changeset: [UInt8])])] = []
        for fd in descriptors {
            var bytes = [UInt8](repeating: 0, count: segmentSize)
            let read = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, segmentSize, 0) }
            guard read >= 0 else { throw CasetrackError(.storageFailure, "cannot read the event log: \(String(cString: strerror(errno)))") }
            if read < Self.headerSize { continue }
            guard let header = Self.header(bytes) else { continue }
            segments.append((header.epoch, Self.records(bytes[0..<read], epoch: header.epoch, first: header.firstGroup)))
        }
        guard let newest = segments.map(\.epoch).max() else { return recovered }
        recovered.epoch = newest
        recovered.records = segments.filter { $0.epoch == newest }.flatMap(\.records).sorted { $0.group < $1.group }
        return recovered
    }

    /// Starts a new epoch after `recovered`, once the database holds every group through
    /// `group` for good (the caller synced it).
    func start(after recovered: Recovered, group: Int64) {
        epoch = recovered.epoch + 1
        active = 0
        offset = Self.headerSize
        opened = false
        lastGroup = group
    }

    private static func header(_ bytes: [UInt8]) -> (epoch: UInt64, firstGroup: Int64)? {
        guard load(UInt64.self, bytes, 0) == magic else { return nil }
        let crc = bytes.withUnsafeBytes { ct_crc32c(0, $0.baseAddress, 24) }
        guard load(UInt32.self, bytes, 24) == crc else { return nil }
        return (load(UInt64.self, bytes, 8), Int64(bitPattern: load(UInt64.self, bytes, 16)))
    }

    private static func records(_ bytes: ArraySlice<UInt8>, epoch: UInt64, first: Int64) -> [(group: Int64, changeset: [UInt8])] {
        var records: [(group: Int64, changeset: [UInt8])] = []
        var offset = headerSize
        var expected = first
        let all = Array(bytes)
        while offset + recordHeaderSize <= all.count {
            let length = Int(load(UInt32.self, all, offset))
            let crc = load(UInt32.self, all, offset + 4)
            let group = Int64(bitPattern: load(UInt64.self, all, offset + 8))
            guard length > 0, group == expected, offset + recordHeaderSize + length <= all.count else { break }
            let body = offset + recordHeaderSize
            guard checksum(epoch: epoch, group: group, all, body, length) == crc else { break }
            records.append((group, Array(all[body..<(body + length)])))
            offset = body + length
            expected += 1
        }
        return records
    }

    private static func checksum(epoch: UInt64, group: Int64, _ bytes: [UInt8], _ start: Int, _ count: Int) -> UInt32 {
        var prefix = [UInt8](repeating: 0, count: 16)
        store(epoch, &prefix, 0)
        store(UInt64(bitPattern: group), &prefix, 8)
        var crc = prefix.withUnsafeBytes { ct_crc32c(0, $0.baseAddress, 16) }
        crc = bytes.withUnsafeBytes { ct_crc32c(crc, $0.baseAddress! + start, count) }
        return crc
    }

    private static func load<T: FixedWidthInteger>(_: T.Type, _ bytes: [UInt8], _ offset: Int) -> T {
        var value: T = 0
        withUnsafeMutableBytes(of: &value) { raw in
            for index in 0..<MemoryLayout<T>.size { raw[index] = bytes[offset + index] }
        }
        return T(littleEndian: value)
    }

    private static func store<T: FixedWidthInteger>(_ value: T, _ bytes: inout [UInt8], _ offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            for index in 0..<MemoryLayout<T>.size { bytes[offset + index] = raw[index] }
        }
    }

    // MARK: Writing

    /// Writes and syncs the record of `group`; `.tooLarge` when it cannot fit a segment (the
    /// caller then makes that commit durable by syncing SQLite itself).
    func append(group: Int64, changeset: UnsafeRawBufferPointer) throws -> Appended {
        let length = Self.recordHeaderSize + changeset.count
        guard length <= segmentSize - Self.headerSize else { return .tooLarge }
        var header: [UInt8]?
        if !opened || offset + length > segmentSize {
            if opened {
                // Everything in the other segment must be in the database for good before
                // it is overwritten.
                try syncDatabase()
                active = 1 - active
            }
            var bytes = [UInt8](repeating: 0, count: 32)
            Self.store(Self.magic, &bytes, 0)
            Self.store(epoch, &bytes, 8)
            Self.store(UInt64(bitPattern: group), &bytes, 16)
            let crc = bytes.withUnsafeBytes { ct_crc32c(0, $0.baseAddress, 24) }
            Self.store(crc, &bytes, 24)
            header = bytes
            offset = Self.headerSize
        }
        var record = [UInt8](repeating: 0, count: length)
        Self.store(UInt32(changeset.count), &record, 0)
        Self.store(UInt64(bitPattern: group), &record, 8)
        record.withUnsafeMutableBytes { raw in
            if changeset.count > 0 { (raw.baseAddress! + Self.recordHeaderSize).copyMemory(from: changeset.baseAddress!, byteCount: changeset.count) }
        }
        Self.store(Self.checksum(epoch: epoch, group: group, record, Self.recordHeaderSize, changeset.count), &record, 4)

        let fd = descriptors[active]
        if let header { try write(header, at: 0, fd) }
        try write(record, at: offset, fd)
        guard fdatasync(fd) == 0 else {
            throw Self.syncFailure(String(cString: strerror(errno)))
        }
        last = (active, offset, opened)
        opened = true
        offset += length
        return .written
    }

    /// Syncs SQLite's own files (the WAL, then the database): every group committed so far
    /// is then in them for good, whatever becomes of the log. SQLite under
    /// `synchronous=NORMAL` would do the same at its next checkpoint.
    ///
    /// The files are opened once and kept open until the log is released: closing any
    /// descriptor of a file drops every POSIX lock this process holds on it, SQLite's
    /// included (measured: another process's write lock was then no longer respected).
    func syncDatabase() throws {
        for (index, path) in [database + "-wal", database].enumerated() {
            if databaseDescriptors[index] < 0 {
                databaseDescriptors[index] = open(path, O_RDONLY | O_CLOEXEC)
                if databaseDescriptors[index] < 0, errno == ENOENT { continue }
                guard databaseDescriptors[index] >= 0 else {
                    throw Self.syncFailure("\(path): \(String(cString: strerror(errno)))", of: "the database")
                }
            }
            guard fdatasync(databaseDescriptors[index]) == 0 else {
                throw Self.syncFailure("\(path): \(String(cString: strerror(errno)))", of: "the database")
            }
        }
    }

    /// The commit after the last record succeeded: the record stands.
    func committed(group: Int64) {
        last = nil
        lastGroup = group
    }

    /// The commit after the last record failed (SQLite rolled it back): the record is erased,
    /// so that no start applies a change that was never made, and the next one takes its place.
    func retract() throws {
        guard let last else { return }
        let zeros = [UInt8](repeating: 0, count: Self.recordHeaderSize)
        try write(zeros, at: last.offset, descriptors[last.segment])
        guard fdatasync(descriptors[last.segment]) == 0 else { throw Self.syncFailure(String(cString: strerror(errno))) }
        offset = last.offset
        self.last = nil
    }

    private func write(_ bytes: [UInt8], at offset: Int, _ fd: Int32) throws {
        let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, bytes.count, off_t(offset)) }
        guard written == bytes.count else {
            throw Self.syncFailure(written < 0 ? String(cString: strerror(errno)) : "a short write")
        }
    }

    /// A record that may or may not have reached the disk: never "not made".
    static func syncFailure(_ reason: String, of what: String = "the event log") -> CasetrackError {
        var details = Fields()
        details.append("outcome", "unknown")
        return CasetrackError(.storageFailure,
            "\(what) could not be written to disk (\(reason)): the change may or may not have been recorded. The daemon stops and recovers; once it is back, read the case (or send the request again with the same request_id) before writing again",
            details: details)
    }
}

/// The rows one writer round changes, as SQLite's session extension records them.
struct RedoSession {
    private let handle: UnsafeMutableRawPointer

    init(_ db: Database) throws {
        var code: Int32 = 0
        guard let connection = db.sqliteConnection,
              let handle = ct_session_begin(UnsafeMutableRawPointer(connection), &code) else {
            throw CasetrackError(.storageFailure, "cannot record the changes of a write (SQLite session, code \(code))")
        }
        self.handle = handle
    }

    var isEmpty: Bool { ct_session_isempty(handle) != 0 }

    /// The changeset so far, handed to `body` and freed after it.
    func withChangeset<T>(_ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        var size: Int32 = 0
        var bytes: UnsafeMutableRawPointer?
        let code = ct_session_changeset(handle, &size, &bytes)
        guard code == 0 else { throw CasetrackError(.storageFailure, "cannot collect the changes of a write (SQLite session, code \(code))") }
        defer { ct_free(bytes) }
        return try body(UnsafeRawBufferPointer(start: bytes, count: Int(size)))
    }

    func end() { ct_session_end(handle) }

    /// Applies a changeset recorded by a session; a conflict aborts it (and throws).
    static func apply(_ changeset: [UInt8], _ db: Database) throws {
        guard let connection = db.sqliteConnection else { throw CasetrackError(.storageFailure, "the database is closed") }
        var message = [CChar](repeating: 0, count: 256)
        let code = changeset.withUnsafeBytes { bytes in
            ct_changeset_apply(UnsafeMutableRawPointer(connection), Int32(bytes.count), bytes.baseAddress, &message, message.count)
        }
        guard code == 0 else {
            let detail = message[0] == 0 ? "SQLite code \(code)" : String(cString: message)
            throw CasetrackError(.storageDamaged, "the event log does not apply to the database (\(detail))")
        }
    }
}
