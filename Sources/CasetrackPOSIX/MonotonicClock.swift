#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `CLOCK_MONOTONIC`: for deadlines, rates and timings, which a wall-clock jump (NTP, an
/// operator's `date -s`) must not end early, stretch or make negative. Its zero is arbitrary
/// (boot on Linux): only differences mean anything.
public enum MonotonicClock {
    public static func nanoseconds() -> UInt64 {
        let now = timespecNow()
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    public static func microseconds() -> UInt64 { nanoseconds() / 1_000 }

    public static func milliseconds() -> Int64 { Int64(nanoseconds() / 1_000_000) }

    public static func seconds() -> Double {
        let now = timespecNow()
        // Whole seconds and the fraction apart: a Double of all the nanoseconds since boot
        // would round once the machine has run for months.
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    private static func timespecNow() -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return now
    }
}
