import CasetrackClient
import CasetrackCore
import CasetrackTestSupport
import Histogram

/// The "one person, one record" jobs: duplicates over the whole register, one case's
/// duplicates, and matching an exchange list of 390 people.
enum IdentityWorkloads {
    /// `DUPLICATES` over the whole register, once (it is minutes of work if it goes wrong,
    /// not milliseconds): seconds, pairs at the default threshold, pairs compared.
    static func register(socket: String) throws -> (seconds: Double, pairs: Int64, compared: Int64, oversized: Int64) {
        let client = try CasetrackClient(socketPath: socket)
        let started = now()
        let final = try client.request(Request(verb: "DUPLICATES", options: [("limit", "1000")])).get()
        let seconds = Double(now() - started) / 1_000_000
        return (seconds, final.int("total") ?? final.int("count") ?? 0, final.int("compared") ?? 0, final.int("oversized_blocks") ?? 0)
    }

    /// `DUPLICATES id=` for 200 random cases: p50 and p99 in milliseconds.
    static func single(socket: String, cases: Int) throws -> (p50: Double, p99: Double) {
        let client = try CasetrackClient(socketPath: socket)
        var random = SeededRandom(seed: 19)
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        for round in 0..<210 {
            let id = CaseID(number: Int64(random.next() % UInt64(cases)) + 1)
            let started = now()
            _ = try client.request(Request(verb: "DUPLICATES", options: [("id", id.description)])).get()
            if round >= 10 { _ = histogram.record(now() - started) }
        }
        return (Double(histogram.valueAtPercentile(50)) / 1000, Double(histogram.valueAtPercentile(99)) / 1000)
    }

    /// An exchange list of `lines` people on record, as the other side writes it: the name in
    /// the national romanization's older variant, the birth year only, and for one line in ten
    /// the reference. One `MATCH` request, 5 rounds: the p50 in milliseconds, and how the lines
    /// came out (exact, probable with the right case first, anything else), and on how many
    /// lines the right case is among the candidates at all (a name and a birth year shared by
    /// several cases cannot single one out: the synthetic register has a few hundred names).
    static func list(socket: String, cases: Int, lines: Int = 390) throws
        -> (p50: Double, exact: Int, probable: Int, other: Int, among: Int) {
        let client = try CasetrackClient(socketPath: socket)
        var random = SeededRandom(seed: 390)
        var rows: [(key: String, value: String)] = []
        var ids: [String] = []
        while rows.count < lines {
            let id = CaseID(number: Int64(random.next() % UInt64(cases)) + 1)
            guard let record = try client.request(Request(verb: "GET", positional: [id.description])).data.first,
                  let name = record.strings("names").first else { continue }
            var options: [(key: String, value: String)] = [("name", Synthetic.romanize(name, variant: 1))]
            if let birth = record.string("birth"), birth != "unknown" { options.append(("birth", String(birth.prefix(4)))) }
            if rows.count % 10 == 0, let ref = record.strings("refs").first { options.append(("ref", ref)) }
            rows.append(("row", String(Request(verb: "ADD", options: options).line.dropFirst(4))))
            ids.append(id.description)
        }
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var data: [Fields] = []
        for _ in 0..<5 {
            let started = now()
            let answer = try client.request(Request(verb: "MATCH", options: rows))
            _ = try answer.get()
            _ = histogram.record(now() - started)
            data = answer.data
        }
        var exact = 0
        var probable = 0
        var seen = Set<Int64>()
        var among = Set<Int64>()
        for fields in data {
            if let row = fields.int("row"), fields.string("id") == ids[Int(row) - 1] { among.insert(row) }
        }
        for fields in data {
            guard let row = fields.int("row"), seen.insert(row).inserted else { continue }
            let right = fields.string("id") == ids[Int(row) - 1]
            switch fields.string("match") {
            case "exact" where right: exact += 1
            case "probable" where right: probable += 1
            default: break
            }
        }
        return (Double(histogram.valueAtPercentile(50)) / 1000, exact, probable, lines - exact - probable, among.count)
    }
}
