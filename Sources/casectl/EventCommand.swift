import ArgumentParser
import CasetrackClient
import CasetrackCore

struct RecordEvent: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "event",
        abstract: "Record what happened to a person: a transfer, a hospital stay, a sighting, a letter, the death, the remains.",
        discussion: """
            Each type takes its own options: transfer --to PLACE [--from PLACE] (from: the current \
            detention place when not given); hospital --place HOSPITAL [--until DATE]; sighting \
            --kind letter|call|testimony|video|visit [--place PLACE]; communication --kind \
            letter|call; death [--place PLACE] [--cause TEXT] (the case must be deceased; --at is \
            the day of death); remains --state repatriated|identified|buried|unknown [--place \
            PLACE]; retraction --corrects SEQ. Transfers, hospital stays, sightings and \
            communications need --at. \
            The record follows: the detention place from the last transfer, the last proof of life \
            from sightings and communications (by the day they happened), the place and cause of \
            death, the remains. --corrects SEQ replaces a wrong event of the same type (a \
            retraction withdraws it): the wrong one stays in the history and no longer counts.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: ArgumentHelp("The case id.", valueName: "id"))
    var id: String

    @Argument(help: ArgumentHelp("What happened.", valueName: "type"))
    var type: CaptivityEventType

    @Option(name: .long, help: ArgumentHelp("transfer: where the person was taken.", valueName: "place"))
    var to: String?
    @Option(name: .long, help: ArgumentHelp("transfer: where from (default: the current detention place).", valueName: "place"))
    var from: String?
    @Option(name: .long, help: ArgumentHelp("hospital, sighting, death, remains: where.", valueName: "place"))
    var place: String?
    @Option(name: .long, help: ArgumentHelp("hospital: the last day of the stay.", valueName: "date"))
    var until: String?
    @Option(name: .long, help: ArgumentHelp("sighting, communication: how the proof of life came.", valueName: "kind"))
    var kind: ProofKind?
    @Option(name: .long, help: ArgumentHelp("death: the cause, where known.", valueName: "text"))
    var cause: String?
    @Option(name: .long, help: ArgumentHelp("remains: what became of them.", valueName: "state"))
    var state: RemainsState?
    @Option(name: .long, help: ArgumentHelp("The seq of a wrong event of this case that this one replaces (or a retraction withdraws).", valueName: "seq"))
    var corrects: Int64?

    @OptionGroup var event: EventOptions

    @Option(name: .long, help: ArgumentHelp("Refuse (exit 3) unless the case is still at this version.", valueName: "n"))
    var expectVersion: Int?

    func run() throws {
        var options: [(key: String, value: String)] = []
        if let to { options.append(("to", to)) }
        if let from { options.append(("from", from)) }
        if let place { options.append(("place", place)) }
        if let until { options.append(("until", until)) }
        if let kind { options.append(("proof", kind.rawValue)) }
        if let cause { options.append(("cause", cause)) }
        if let state { options.append(("remains", state.rawValue)) }
        if let corrects { options.append(("corrects", String(corrects))) }
        options += event.options
        if let expectVersion { options.append(("expect_version", String(expectVersion))) }
        try connection.run { client in
            let answer = try client.request(Request(verb: "EVENT", positional: [id, type.rawValue], options: options))
            do {
                try Output.change(answer, json: connection.json, verb: "recorded \(type.rawValue)")
            } catch let error as CasetrackError {
                throw CasetrackError(error.code, Self.inOptions(error.message), details: error.details)
            }
        }
    }

    /// The daemon's message in casectl's terms: it names the protocol's keys (`proof=KIND`),
    /// which this command takes as options of other names (`--kind KIND`).
    static func inOptions(_ message: String) -> String {
        let options = ["proof": "kind", "remains": "state", "to": "to", "from": "from", "place": "place", "until": "until",
                       "cause": "cause", "corrects": "corrects", "at": "at"]
        var result = ""
        var word = ""
        func flush(_ next: Character?) {
            if next == "=", let option = options[word] {
                result += "--\(option) "
            } else {
                result += word
                if let next { result.append(next) }
            }
            word = ""
        }
        for character in message {
            if character.isLetter, character.isASCII {
                word.append(character)
            } else if character == "=" {
                flush("=")
            } else {
                flush(character)
            }
        }
        flush(nil)
        return result
    }
}
