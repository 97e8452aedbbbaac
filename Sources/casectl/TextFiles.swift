#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CasetrackClient
import CasetrackCore
import Foundation

/// Reads a whole file as UTF-8, with errors a user can act on.
enum TextFile {
    static func read(_ path: String) throws -> String {
        // Opened here, not by FileManager: its errno after a failure is not the failure's.
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            Output.error("cannot read \(path): \(String(cString: strerror(errno)))")
            throw ExitCode(ExitStatus.usage)
        }
        let data: Data
        do {
            data = try FileHandle(fileDescriptor: fd, closeOnDealloc: true).readToEnd() ?? Data()
        } catch {
            Output.error("cannot read \(path): \((error as NSError).localizedDescription)")
            throw ExitCode(ExitStatus.usage)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            Output.error("\(path) is not UTF-8 text")
            throw ExitCode(ExitStatus.dataError)
        }
        return text
    }
}

extension CaseFile.Format {
    /// The format given, else the one the file's name or its first character says.
    static func detect(_ given: CaseFile.Format?, path: String, text: String) -> CaseFile.Format {
        if let given { return given }
        let lower = path.lowercased()
        if lower.hasSuffix(".csv") { return .csv }
        if lower.hasSuffix(".json") || lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") { return .json }
        return text.first(where: { !$0.isWhitespace }) == "{" ? .json : .csv
    }
}
