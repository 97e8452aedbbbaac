/// Characters that change how text displays without being seen: a name holding U+202E shows
/// reversed in every table, and one holding a zero-width space or a soft hyphen looks like a
/// name it is not. Such text is refused wherever the protocol takes text, so that what a case
/// worker reads is what is stored.
///
/// The zero-width joiner and non-joiner are letters' business in Arabic, Persian and the
/// Indic scripts: there they are allowed after a letter of such a script, nowhere else.
public enum DeceptiveText {
    /// The first character of `text` that may not stand where it stands; nil when none.
    public static func firstDeceptive(in text: String) -> Unicode.Scalar? {
        var previous: Unicode.Scalar?
        for scalar in text.unicodeScalars {
            defer { previous = scalar }
            switch scalar.value {
            case 0x200C, 0x200D:
                guard let previous, usesJoiners(previous) else { return scalar }
            case 0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x200B, 0x200E, 0x200F,
                 0x202A...0x202E, 0x2060...0x2064, 0x2066...0x206F, 0x3164, 0xFEFF, 0xFFA0, 0xFFF9...0xFFFB:
                return scalar
            default:
                continue
            }
        }
        return nil
    }

    /// What a refused character is, for the message.
    public static func describe(_ scalar: Unicode.Scalar) -> String {
        switch scalar.value {
        case 0x202A...0x202E, 0x2066...0x2069, 0x200E, 0x200F, 0x061C: return "a bidirectional control"
        case 0x200C: return "a zero-width non-joiner"
        case 0x200D: return "a zero-width joiner"
        case 0x00AD: return "a soft hyphen"
        default: return "an invisible formatting character"
        }
    }

    /// Scripts that write with joiners: Arabic and its neighbours, the Indic scripts,
    /// Myanmar, Khmer, Mongolian, and the Arabic presentation forms.
    private static func usesJoiners(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0600...0x08FF, 0x0900...0x0DFF, 0x1000...0x109F, 0x1780...0x18AF, 0xA8E0...0xA8FF, 0xFB50...0xFDFF,
             0xFE70...0xFEFC:
            return true
        default:
            return false
        }
    }
}
