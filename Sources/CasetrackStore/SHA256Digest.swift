import CSHA256

/// SHA-256 through the system's libcrypto (see CSHA256).
///
/// It was swift-crypto's, whose copy of BoringSSL (some 350 C files) was most of the
/// package's release build: about two and a half minutes of `make test` on two cores, for
/// one hash function the system library has.
struct SHA256Digest: ~Copyable {
    private let context: UnsafeMutableRawPointer

    init() {
        // Only out of memory makes this fail; nothing sensible goes on from there.
        guard let context = ct_sha256_begin() else { fatalError("libcrypto cannot make a SHA-256 context (out of memory)") }
        self.context = context
    }

    mutating func update(_ bytes: some Collection<UInt8>) {
        let done = bytes.withContiguousStorageIfAvailable { buffer in
            ct_sha256_update(context, buffer.baseAddress, buffer.count)
        } ?? Array(bytes).withUnsafeBufferPointer { buffer in
            ct_sha256_update(context, buffer.baseAddress, buffer.count)
        }
        precondition(done != 0, "libcrypto failed to hash")
    }

    /// The digest as 64 lowercase hexadecimal digits.
    consuming func hex() -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        let done = ct_sha256_finish(context, &digest)
        discard self
        precondition(done != 0, "libcrypto failed to finish a hash")
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(64)
        for byte in digest {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    deinit { ct_sha256_free(context) }
}
