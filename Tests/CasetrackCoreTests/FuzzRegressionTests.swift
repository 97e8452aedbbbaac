import CasetrackCore
import Foundation
import Testing

/// The fuzzer's checks over the committed seed corpus and every input it ever found to break
/// them (Tests/Fuzz/regressions: add each crash file there).
@Suite("Fuzz seeds and regressions")
struct FuzzRegressionTests {
    static func inputs(_ folder: String) -> [String] {
        let path = DocumentationTests.root.appendingPathComponent("Tests/Fuzz/\(folder)").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { "\(path)/\($0)" }
    }

    @Test("every seed and every past crash passes the fuzzer's checks",
          arguments: inputs("seeds") + inputs("regressions"))
    func replay(_ path: String) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(ProtocolFuzzing.violation(Array(bytes)) == nil)
    }

    @Test("the corpus is there")
    func present() {
        #expect(Self.inputs("seeds").count >= 20 && !Self.inputs("regressions").isEmpty)
    }
}
