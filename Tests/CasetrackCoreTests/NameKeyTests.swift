import CasetrackCore
import CasetrackTestSupport
import Testing

@Suite("Name search keys")
struct NameKeyTests {
    @Test("spellings of the same name meet", arguments: [
        ("Іваненко Петро Олексійович", "ivanenko"),
        ("Іваненко Петро Олексійович", "IVANENKO petro oleksiiovych"),
        ("Іваненко Петро Олексійович", "Ivanenko Petro Oleksiyovych"),
        ("Іваненко Петро Олексійович", "ivanenko petro oleksijovic"),
        ("Григорій Щербина", "Hryhorii Shcherbyna"),
        ("Григорій Щербина", "Hryhoriy Shcherbyna"),
        ("Григорій Щербина", "Grigoriy Scherbina"),
        ("Григорій Щербина", "grigorij ščerbina"),
        ("Юлія Євген Зґурський", "Yuliia Yevhen Zgurskyi"),
        ("Юлія Євген Зґурський", "Yuliya Yevhen Zgursʹkyy"),
        ("Юлія Євген Зґурський", "Julia Evgen Zgurskij"),
        ("Згурський", "zgurskyi"),
        ("Ivanenko Petro", "іваненко"),
        ("Михайло Жук", "Mykhailo Zhuk"),
        ("Михайло Жук", "mihail"),
        ("Ковальчук Юлія", "kovalch"),
        ("Мар'яна", "Mariana"),
        ("Мар’яна", "mar'yana"),
        // Cut short inside a folded spelling.
        ("Коваль Марія", "mari"), ("Коваль Марія", "Марі"), ("Юлія", "yuli"), ("Юлія", "Юлі"),
        ("Хоменко", "k"), ("Хоменко", "K"), ("Цибуля", "t"), ("Цибуля", "ts"),
    ])
    func meet(_ stored: String, _ query: String) {
        #expect(NameKey.matches(query: query, names: [stored]), "\(NameKey.words(of: stored)) vs \(NameKey.words(of: query))")
    }

    @Test("different names stay apart", arguments: [
        ("Іваненко Петро", "Коваленко"), ("Іваненко Петро", "ivanov"), ("Бойко Оксана", "Petro"),
        ("Ковальчук Юлія", "ivanenko"), ("Іваненко Петро", "petro ivanenkos"),
    ])
    func apart(_ stored: String, _ query: String) {
        #expect(!NameKey.matches(query: query, names: [stored]))
    }

    @Test("every generated Latin spelling finds its Cyrillic original")
    func generated() {
        for surname in Synthetic.surnames {
            for given in Synthetic.givenNames {
                let cyrillic = "\(surname) \(given)"
                for variant in 0...1 {
                    let latin = Synthetic.romanize(cyrillic, variant: variant)
                    #expect(NameKey.matches(query: latin, names: [cyrillic]), "\(latin) ~ \(cyrillic)")
                    #expect(NameKey.matches(query: cyrillic, names: [latin]), "\(cyrillic) ~ \(latin)")
                }
            }
        }
    }

    @Test("keys are ASCII and distinct")
    func keys() {
        let keys = NameKey.keys(for: ["Іваненко Петро", "Ivanenko Petro", "Петро-Іван"])
        #expect(keys == ["ivanenko", "petro", "ivan"])
        #expect(keys.allSatisfy { $0.allSatisfy(\.isASCII) })
        #expect(NameKey.words(of: "!!! ---").isEmpty)
    }
}
