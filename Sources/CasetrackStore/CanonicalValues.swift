import Foundation
import GRDB

/// Column values as bytes that read back exactly: each value tagged with its type, text and
/// blobs length-prefixed, numbers big-endian. The chain hashes an event's row in this form,
/// and an event's after-image of its case is stored in it (see ``EventChain``).
enum CanonicalValues {
    static func encode(_ values: [DatabaseValue], into bytes: inout [UInt8]) {
        for value in values {
            switch value.storage {
            case .null:
                bytes.append(0)
            case .int64(let number):
                bytes.append(1)
                withUnsafeBytes(of: number.bigEndian) { bytes.append(contentsOf: $0) }
            case .string(let text):
                bytes.append(2)
                let utf8 = text.utf8
                withUnsafeBytes(of: UInt32(utf8.count).bigEndian) { bytes.append(contentsOf: $0) }
                bytes.append(contentsOf: utf8)
            case .double(let number):
                bytes.append(3)
                withUnsafeBytes(of: number.bitPattern.bigEndian) { bytes.append(contentsOf: $0) }
            case .blob(let data):
                bytes.append(4)
                withUnsafeBytes(of: UInt32(data.count).bigEndian) { bytes.append(contentsOf: $0) }
                bytes.append(contentsOf: data)
            }
        }
    }

    static func encode(_ values: [DatabaseValue]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        encode(values, into: &bytes)
        return bytes
    }

    /// The values `bytes` hold; `nil` when they are not canonical values (a damaged image).
    static func decode(_ bytes: some Collection<UInt8>) -> [DatabaseValue]? {
        var values: [DatabaseValue] = []
        var rest = bytes[...]
        func take(_ count: Int) -> [UInt8]? {
            guard rest.count >= count else { return nil }
            defer { rest = rest.dropFirst(count) }
            return Array(rest.prefix(count))
        }
        func number(_ width: Int) -> UInt64? {
            take(width).map { $0.reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
        }
        while let tag = rest.first {
            rest = rest.dropFirst()
            switch tag {
            case 0:
                values.append(.null)
            case 1:
                guard let raw = number(8) else { return nil }
                values.append(Int64(bitPattern: raw).databaseValue)
            case 2:
                guard let count = number(4), let utf8 = take(Int(count)), let text = String(validating: utf8, as: UTF8.self) else { return nil }
                values.append(text.databaseValue)
            case 3:
                guard let raw = number(8) else { return nil }
                values.append(Double(bitPattern: raw).databaseValue)
            case 4:
                guard let count = number(4), let data = take(Int(count)) else { return nil }
                values.append(Data(data).databaseValue)
            default:
                return nil
            }
        }
        return values
    }
}
