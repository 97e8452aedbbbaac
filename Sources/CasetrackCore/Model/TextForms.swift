import Foundation

extension String {
    /// The text in Unicode's composed form (NFC). Text of Latin letters below the combining
    /// marks (U+0300) and of the Cyrillic block has no other form: it is returned as it is,
    /// without Foundation's slower conversion.
    var composed: String {
        if unicodeScalars.allSatisfy({ $0.value < 0x300 || (0x400...0x4FF).contains($0.value) }) { return self }
        return precomposedStringWithCanonicalMapping
    }

    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars = scalars.dropFirst() }
        while let last = scalars.last, last.isWhitespace { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
