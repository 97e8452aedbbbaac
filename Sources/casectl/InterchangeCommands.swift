#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CasetrackClient
import CasetrackCore
import CasetrackPOSIX
import Foundation

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open the cases of a CSV or JSON-lines file; a second import of the same file changes nothing.",
        discussion: """
            The file is checked as a whole first: every problem is printed with its line and field, \
            and if there is any, nothing is imported (exit 65). Then it is loaded in batches of up to \
            1,000 rows, one after the other, each one durable transaction: a batch is in whole or not at \
            all. A batch refused while loading (say another clerk entered one of its references in the \
            meantime) stops the load there: the batches before it stay, nothing after it is sent, and \
            casectl names the row and says how many rows were loaded. A row whose references (refs) all \
            belong to a case on record is that case, and is skipped: so if a load stops half-way (a lost \
            connection, a refused batch), running the same command again resumes it. Every row needs at \
            least one reference for that reason. Each case opened is one event and one notice to \
            subscribers, as for add.

            CSV: a header line naming the columns, then one case per line (RFC 4180 quoting). The columns \
            are the record's field names, as casectl export writes them: names, category, status, since, \
            ended, birth, unit, tags, last_place, detention_place, refs, notes; also at, source, confidence \
            and note for the event that opens the case. names, tags and refs hold several values separated \
            by |. ended (or at) is the date a returned or deceased case closed. id, version, held, \
            held_days, since_precision, created_at and updated_at are ignored. JSON lines: one object per \
            line with the same keys (lists as arrays), as casectl export --format json writes them.

            With --update, the rows are later news of people on record, each found by its references \
            (every reference of a row that is on record must name the same case; the others are added to \
            it). A row adds its names, tags and references to the case, replaces the fields it fills (an \
            empty cell leaves ours alone), and moves the status along the lifecycle as set-status does, \
            with the row's at, source, confidence and note as the change's provenance: one event per \
            changed case, none for a case that holds it all already (so a second run changes nothing). A \
            row whose references name no case, or two, or the case of another row, refuses the file.

            On a terminal a progress line shows the rows loaded; otherwise casectl prints only the summary. \
            Needs the writer role.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("The file to import.", valueName: "file"), completion: .file())
    var file: String

    @Option(name: .long, help: ArgumentHelp("The file's format; json is JSON lines. Default: from the file's name (.csv; .json, .jsonl, .ndjson), else from its first character.", valueName: "format"))
    var format: CaseFile.Format?

    @Flag(name: .long, help: "Check the file against the daemon and print what would happen; change nothing.")
    var dryRun = false

    @Flag(name: .long, help: "Apply the rows to the cases on record that their references name, instead of opening cases.")
    var update = false

    @Option(name: .long, help: ArgumentHelp("Then attach the contacts of this file (as export --with-contacts writes it) to the cases they belong to, found by their references in FILE.", valueName: "file"),
            completion: .file())
    var contacts: String?

    func run() throws {
        if contacts != nil, update {
            Output.error("--contacts goes with an import of new cases, not with --update")
            throw ExitCode(ExitStatus.usage)
        }
        let text = try TextFile.read(file)
        let format = CaseFile.Format.detect(self.format, path: file, text: text)
        var (rows, problems) = CaseFile.rows(text, format: format)
        let references = contacts == nil ? [:] : ContactImport.references(rows)
        // The contacts file is read and checked before any case is loaded: one it cannot read,
        // or a line the daemon would refuse, stops the import while nothing of it was done
        // (exit 65 says "nothing was imported").
        let contactRows = try contacts.map { try ContactImport.checkedRows($0, references: references, cases: file) } ?? []
        var texts: [(line: Int, text: String)] = []
        var refs: [String: Int] = [:]
        for row in rows {
            do {
                let rowText = try CaseFile.rowText(row)
                // The daemon's checks, for every row and every field, before anything is sent.
                let errors = update ? Import.updateProblems(rowText) : ImportRow.problems(rowText, today: Output.today)
                // A reference on two lines is one person imported twice, whatever else is wrong.
                // References are compared as the daemon stores them (trimmed, composed): "UA-1"
                // and "UA-1 " are one. Such a row is not sent to the daemon's check as well.
                let references = errors.isEmpty
                    ? (update ? (try? UpdateRow(rowText, today: Output.today))?.references
                              : (try? ImportRow(rowText, today: Output.today))?.new.references) ?? []
                    : row.values.filter { CaseFile.column(for: $0.key) == "refs" }.flatMap(\.value).map { $0.trimmingCharacters(in: .whitespaces) }
                var repeated = false
                for ref in references {
                    if let earlier = refs[ref] {
                        problems.append(.init(line: row.line, field: "refs", message: "reference \(ref) is on line \(earlier) too; a person is \(update ? "updated" : "imported") once"))
                        repeated = true
                    } else {
                        refs[ref] = row.line
                    }
                }
                if errors.isEmpty, !repeated { texts.append((row.line, rowText)) }
                for error in errors {
                    problems.append(.init(line: row.line, field: ImportRow.field(of: error).map(CaseFile.column(for:)),
                                          message: Import.strip(error.message)))
                }
            } catch let problem as CaseFile.Problem {
                problems.append(problem)
            }
        }
        rows = []
        try connection.run { client in
            let maxLine = Int(client.greeting.int("max_line") ?? 65_536)
            let batches = Import.batches(texts, maxLine: maxLine)
            // The daemon's own check of the valid rows: references on record that conflict.
            var wouldAdd = 0
            var wouldSkip = 0
            // The case each line updates: the daemon sees one batch at a time, and two lines
            // of two batches naming one case by different references would both apply, and
            // again at every run of the list.
            var updatedBy: [String: Int] = [:]
            try Import.pipelined(client, batches.map { Import.request($0, dryRun: true, update: update) }) { index, answer in
                let batch = batches[index]
                let final = try answer.get()
                wouldAdd += Int(final.int(update ? "changed" : "added") ?? 0)
                wouldSkip += Int(final.int(update ? "unchanged" : "existing") ?? 0)
                if update {
                    for line in answer.data where line.string("code") == nil {
                        guard let id = line.string("id"), let row = line.int("row"),
                              batch.indices.contains(batch.startIndex + Int(row) - 1) else { continue }
                        let fileLine = batch[batch.startIndex + Int(row) - 1].line
                        if let earlier = updatedBy[id] {
                            problems.append(.init(line: fileLine, field: "refs",
                                                  message: "\(id) is the case of line \(earlier) too; a person is updated once per list"))
                        } else {
                            updatedBy[id] = fileLine
                        }
                    }
                }
                // Only refused rows carry an error code; an update's dry run also says what each row would change.
                for line in answer.data where line.string("code") != nil {
                    guard let row = line.int("row"), batch.indices.contains(batch.startIndex + Int(row) - 1) else { continue }
                    problems.append(.init(line: batch[batch.startIndex + Int(row) - 1].line,
                                          field: line.string("field").map(CaseFile.column(for:)),
                                          message: Import.strip(line.string("message") ?? "refused")))
                }
                return true
            }
            guard problems.isEmpty else { Import.fail(file, problems, update: update) }
            if dryRun {
                if update {
                    Output.line(connection.json ? "{\"rows\":\(texts.count),\"changed\":\(wouldAdd),\"unchanged\":\(wouldSkip),\"dry_run\":true}"
                        : "\(file): \(texts.count) rows are valid; \(wouldAdd) cases would change, \(wouldSkip) hold them already")
                } else {
                    Output.line(connection.json ? "{\"rows\":\(texts.count),\"added\":\(wouldAdd),\"existing\":\(wouldSkip),\"dry_run\":true}"
                        : "\(file): \(texts.count) rows are valid; \(wouldAdd) would be added, \(wouldSkip) are on record already")
                }
                if let contacts {
                    try ContactImport.run(client, rows: contactRows, path: contacts, cases: file, references: references, dryRun: true,
                                          json: connection.json)
                }
                return
            }
            var progress = Progress(total: texts.count)
            var added = 0
            var existing = 0
            var flagged = 0
            var failure: (line: Int, error: any Error, batch: Int?)?
            do {
                try Import.inOrder(client, batches.map { Import.request($0, dryRun: false, update: update) }) { index, answer in
                    switch answer.outcome {
                    case .success(let final):
                        added += Int(final.int(update ? "changed" : "added") ?? 0)
                        existing += Int(final.int(update ? "unchanged" : "existing") ?? 0)
                        flagged += answer.data.filter { !$0.strings("duplicate_of").isEmpty }.count
                        progress.advance(by: batches[index].count)
                    case .failure(let error):
                        // The refused row's own line, when the daemon names the row.
                        let batch = batches[index]
                        let row = error.details.int("row").map { batch.startIndex + Int($0) - 1 }
                        let line = row.flatMap { batch.indices.contains($0) ? batch[$0].line : nil } ?? batch.first?.line ?? 0
                        if failure == nil { failure = (line, error, index) }
                    }
                    return failure == nil
                }
            } catch {
                failure = failure ?? (0, error, nil)
            }
            progress.finish()
            // Where it stopped: the refused batch, or (the connection lost) after what was answered.
            func stoppedAt(_ failure: (line: Int, error: any Error, batch: Int?)) -> String {
                let done = update ? "applied" : "loaded"
                guard let batch = failure.batch else {
                    // No answer to the batch in flight: it may have committed.
                    return "stopped without an answer to the batch it was sending (it may have been \(done) or not);"
                }
                if let error = failure.error as? CasetrackError, error.details.string("outcome") == "unknown" {
                    // The daemon could not say whether the batch's commit held.
                    return "stopped at batch \(batch + 1) of \(batches.count), which may have been \(done) or not (nothing after it was);"
                }
                return "stopped at line \(failure.line), in batch \(batch + 1) of \(batches.count) (nothing of that batch or after it was \(done));"
            }
            if let failure {
                let why = Import.refusedRow(failure.error, file: file, line: failure.line)
                if let why { Output.error(why) }
                if update {
                    Output.error("\(file): \(stoppedAt(failure)) \(added + existing) rows before it were applied (\(added) cases changed); run the same command again to resume: rows applied already change nothing")
                } else {
                    Output.error("\(file): \(stoppedAt(failure)) \(added + existing) rows before it were loaded (\(added) added); run the same command again to resume: loaded rows are skipped by their references")
                }
                // Said above, with the row's line: not again as the daemon put it.
                if why != nil, let error = failure.error as? CasetrackError { throw ExitCode(ExitStatus.code(for: error)) }
                throw failure.error
            }
            if update {
                Output.line(connection.json ? "{\"rows\":\(texts.count),\"changed\":\(added),\"unchanged\":\(existing)}"
                    : "\(file): \(texts.count) rows, \(added) cases changed, \(existing) held them already")
                return
            }
            Output.line(connection.json ? "{\"rows\":\(texts.count),\"added\":\(added),\"existing\":\(existing),\"possible_duplicates\":\(flagged)}"
                : "\(file): \(texts.count) rows, \(added) added, \(existing) on record already")
            if flagged > 0, !connection.json {
                Output.error("\(flagged) of the cases added are probably the same person as a case on record; see casectl duplicates")
            }
            if let contacts {
                try ContactImport.run(client, rows: contactRows, path: contacts, cases: file, references: references, dryRun: false,
                                      json: connection.json)
            }
        }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the cases that match every given filter as CSV or JSON lines, to import elsewhere.",
        discussion: """
            The columns are those casectl import reads (see import), so an export imports back. With the \
            observer role the export has no personal data: only id, status, category, since, ended, held \
            and version (it cannot be imported). CSV cannot hold a | inside a name or reference: such a \
            case stops the export (exit 65); use --format json.

            The first line names the event chain's head when the export began, the proof of the history \
            the file was made from (compare it with casectl verify, or a head kept elsewhere): in CSV a \
            comment line, # casetrack export: chain head HASH at event N; in JSON lines an object \
            {"casetrack_export": {"head": HASH, "head_seq": N}}. casectl import skips it. --no-head leaves \
            it out, for a spreadsheet.
            """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var filter: FilterOptions

    @Option(name: .long, help: ArgumentHelp("The format; json is JSON lines.", valueName: "format"))
    var format: CaseFile.Format = .csv

    @Flag(name: .long, help: "Leave out the first line naming the event chain's head.")
    var noHead = false

    @Option(name: .long, help: ArgumentHelp("Write to this file (mode 0600; written under a temporary name and renamed when complete) instead of standard output.", valueName: "file"),
            completion: .file())
    var output: String?

    @Flag(name: .long, help: "Also write the contacts of the cases exported to a second file beside --output (FILE.contacts.csv, or .contacts.jsonl with --format json). Needs the admin role.")
    var withContacts = false

    func run() throws {
        if withContacts, output == nil {
            Output.error("--with-contacts writes a second file beside --output FILE: give --output")
            throw ExitCode(ExitStatus.usage)
        }
        // A file is written under a temporary name and renamed when complete: a failed export
        // leaves no partial file that could be imported as if whole, and spares an older one.
        var out: Int32 = 1
        let temporary = output.map { "\($0).part-\(getpid())" }
        if let temporary {
            out = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard out >= 0 else {
                Output.error("cannot write \(temporary): \(String(cString: strerror(errno)))")
                throw ExitCode(ExitStatus.usage)
            }
            fchmod(out, 0o600)
        }
        var complete = false
        // A failed export (a refusal, a broken connection, a write that failed) leaves nothing.
        defer {
            if let temporary, !complete {
                close(out)
                unlink(temporary)
            }
        }
        try connection.run { client in
            var after: String?
            var header: [String]?
            var pageSize = Command.defaultPageSize
            var exported = Set<String>()
            // Asked first: a refusal (not an admin) leaves no file at all.
            if withContacts { _ = try client.request(Request(verb: "CONTACTS-EXPORT", options: [("limit", "1")])).get() }
            while true {
                var options = filter.options
                options.append(("limit", String(pageSize)))
                if let after { options.append(("after", after)) }
                let answer = try client.request(Request(verb: "EXPORT", options: options))
                // Cases with very long notes can make a page larger than the daemon queues for
                // one connection (output_buffer): ask again for smaller pages.
                if case .failure(let error) = answer.outcome, error.code == .limitExceeded,
                   error.details.string("limit") == "output_buffer", pageSize > 1 {
                    pageSize = max(1, pageSize / 10)
                    continue
                }
                let final = try answer.get()
                var chunk = ""
                if after == nil, !noHead, let head = final.string("head"), let seq = final.int("head_seq") {
                    chunk += CaseFile.headLine(head: head, seq: seq, format: format) + "\n"
                }
                if format == .csv, header == nil {
                    header = final.string("personal_data") == "yes" ? CaseFile.columns : CaseFile.observerColumns
                    chunk += CaseFile.csvLine(header ?? []) + "\n"
                }
                for fields in answer.data {
                    if withContacts, let id = fields.string("id") { exported.insert(id) }
                    switch format {
                    case .json:
                        // Typed again (numbers as numbers, lists as arrays), as GET --json prints.
                        if let record = try? CaseRecord(fields: fields) {
                            chunk += record.fields(today: Output.today).json + "\n"
                        } else {
                            chunk += fields.typed.json + "\n"
                        }
                    case .csv:
                        var cells: [String] = []
                        for column in header ?? [] {
                            let values = fields.strings(column)
                            if values.count > 0, CaseFile.isList(column), values.contains(where: { $0.contains(CaseFile.listSeparator) }) {
                                Output.error("\(fields.string("id") ?? "a case") has a | in its \(column), which CSV cannot hold; export with --format json")
                                throw ExitCode(ExitStatus.dataError)
                            }
                            cells.append(CaseFile.isList(column) ? values.joined(separator: String(CaseFile.listSeparator)) : fields.string(column) ?? "")
                        }
                        chunk += CaseFile.csvLine(cells) + "\n"
                    }
                }
                // A full disk must not leave a shorter file that reads as a whole export.
                guard FileDescriptorOutput.write(out, chunk) else {
                    Output.error("cannot write \(output ?? "the export"): \(String(cString: strerror(errno))); nothing was exported")
                    throw ExitCode(ExitStatus.failure)
                }
                after = final.string("next")
                if after == nil { break }
            }
            if withContacts, let output {
                let path = output + (format == .csv ? ".contacts.csv" : ".contacts.jsonl")
                let text = try contactsFile(client, exported: exported)
                if let failure = FileDescriptorOutput.replaceFile(path, with: text, mode: 0o600) {
                    Output.error("cannot write \(path): \(failure)")
                    throw ExitCode(ExitStatus.failure)
                }
            }
            if let temporary, let output {
                let synced = fsync(out) == 0
                let closed = close(out) == 0
                complete = true  // closed: what is left is to name it
                guard synced, closed, rename(temporary, output) == 0 else {
                    let reason = String(cString: strerror(errno))
                    unlink(temporary)
                    Output.error("cannot write \(output): \(reason); nothing was exported")
                    throw ExitCode(ExitStatus.failure)
                }
            }
            complete = true
        }
    }
}
