#if canImport(Glibc)
import Glibc
#endif
import CasetrackCore

#if FUZZING
/// libFuzzer's entry point: `make fuzz` builds this with `-DFUZZING` and the fuzzer sanitizer,
/// which supplies `main`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if let violation = ProtocolFuzzing.violation(UnsafeBufferPointer(start: data, count: size)) { fatalError(violation) }
    return 0
}
#else
/// Built without the fuzzer (a plain `swift build`), it runs the checks over files given as
/// arguments: how a crash found by `make fuzz` is replayed under a debugger.
@main
struct FuzzReplay {
    static func main() {
        let paths = CommandLine.arguments.dropFirst()
        if paths.isEmpty { print("usage: casetrack-fuzz FILE...  (make fuzz runs the fuzzer itself)") }
        for path in paths {
            guard let file = fopen(path, "rb") else { print("cannot open \(path)"); continue }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while case let count = fread(&chunk, 1, chunk.count, file), count > 0 { bytes += chunk[0..<count] }
            fclose(file)
            print("\(path): \(ProtocolFuzzing.violation(bytes) ?? "ok")")
        }
    }
}
#endif
