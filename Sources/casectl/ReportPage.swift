import CasetrackCore

/// One self-contained HTML page: inline SVG charts, no scripts, no network, printable. Every
/// chart has the table it was drawn from beside it, and every figure of a table carries
/// `data-cell` naming what it counts, so that a program (the tests) can read the page back.
struct ReportPage {
    /// A table: its column heads, and rows of a label and figures.
    struct Table {
        var id: String
        var heads: [String]
        var rows: [(label: String, key: String, figures: [Int])]
    }

    var title: String
    var subtitle: String
    private var body = ""

    init(title: String, subtitle: String) {
        self.title = title
        self.subtitle = subtitle
    }

    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    mutating func section(_ heading: String, note: String? = nil, chart: String?, table: Table) {
        body += "<section id=\"\(table.id)\">\n<h2>\(Self.escape(heading))</h2>\n"
        if let note { body += "<p class=\"note\">\(Self.escape(note))</p>\n" }
        if let chart { body += chart + "\n" }
        body += Self.render(table)
        body += "</section>\n"
    }

    mutating func notice(_ heading: String, _ text: String) {
        body += "<section>\n<h2>\(Self.escape(heading))</h2>\n<p class=\"note\">\(Self.escape(text))</p>\n</section>\n"
    }

    static func render(_ table: Table) -> String {
        var html = "<table>\n<thead><tr><th></th>"
        for head in table.heads { html += "<th>\(escape(head))</th>" }
        html += "</tr></thead>\n<tbody>\n"
        for row in table.rows {
            html += "<tr><th>\(escape(row.label))</th>"
            for (head, figure) in zip(table.heads, row.figures) {
                html += "<td data-cell=\"\(escape(table.id)):\(escape(row.key)):\(escape(head))\">\(figure)</td>"
            }
            html += "</tr>\n"
        }
        return html + "</tbody>\n</table>\n"
    }

    var html: String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>\(Self.escape(title))</title>
        <style>
        body { font-family: "DejaVu Sans", sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
        h1 { font-size: 1.6em; margin-bottom: 0.2em; }
        h2 { font-size: 1.2em; border-bottom: 1px solid #999; margin-top: 2em; }
        p.note, p.subtitle { color: #555; }
        table { border-collapse: collapse; margin: 1em 0; }
        th, td { border: 1px solid #bbb; padding: 0.2em 0.6em; }
        td { text-align: right; font-variant-numeric: tabular-nums; }
        thead th { background: #eee; }
        svg { display: block; margin: 1em 0; }
        section { break-inside: avoid; }
        @media print { body { margin: 0; } h2 { margin-top: 1em; } }
        </style>
        </head>
        <body>
        <h1>\(Self.escape(title))</h1>
        <p class="subtitle">\(Self.escape(subtitle))</p>
        \(body)</body>
        </html>

        """
    }

    // MARK: Charts

    static let colours = ["#1f5f8b", "#d08c1f", "#3a8a3a", "#8b1f3a", "#6a4c93", "#777777"]

    /// Horizontal bars, one group per row of `table`, one bar per column.
    static func bars(_ table: Table, width: Int = 640) -> String {
        let largest = max(1, table.rows.flatMap(\.figures).max() ?? 1)
        let barHeight = 14
        let groupHeight = barHeight * table.heads.count + 10
        let labelWidth = 150
        let height = groupHeight * table.rows.count + 30
        var svg = "<svg width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"\(escape(table.id)) chart\">\n"
        for (rowIndex, row) in table.rows.enumerated() {
            let top = rowIndex * groupHeight
            svg += "<text x=\"0\" y=\"\(top + barHeight)\" font-size=\"12\">\(escape(row.label))</text>\n"
            for (column, figure) in row.figures.enumerated() {
                let length = Int((Double(figure) / Double(largest)) * Double(width - labelWidth - 60))
                let y = top + column * barHeight
                svg += "<rect x=\"\(labelWidth)\" y=\"\(y)\" width=\"\(max(length, figure > 0 ? 1 : 0))\" height=\"\(barHeight - 2)\" fill=\"\(colours[column % colours.count])\"/>"
                svg += "<text x=\"\(labelWidth + length + 4)\" y=\"\(y + barHeight - 3)\" font-size=\"10\">\(figure)</text>\n"
            }
        }
        svg += legend(table.heads, y: height - 12)
        return svg + "</svg>"
    }

    /// Lines over time: one point per row of `table` (left to right), one line per column.
    static func lines(_ table: Table, width: Int = 640, height: Int = 260) -> String {
        let largest = max(1, table.rows.flatMap(\.figures).max() ?? 1)
        let (left, right, top, bottom) = (50, 20, 10, 50)
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        func x(_ index: Int) -> Int { left + (table.rows.count > 1 ? index * plotWidth / (table.rows.count - 1) : plotWidth / 2) }
        func y(_ value: Int) -> Int { top + plotHeight - Int(Double(value) / Double(largest) * Double(plotHeight)) }
        var svg = "<svg width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"\(escape(table.id)) chart\">\n"
        svg += "<line x1=\"\(left)\" y1=\"\(top + plotHeight)\" x2=\"\(left + plotWidth)\" y2=\"\(top + plotHeight)\" stroke=\"#999\"/>\n"
        svg += "<text x=\"0\" y=\"\(top + 10)\" font-size=\"10\">\(largest)</text><text x=\"0\" y=\"\(top + plotHeight)\" font-size=\"10\">0</text>\n"
        for (column, head) in table.heads.enumerated() {
            let points = table.rows.enumerated().map { "\(x($0.offset)),\(y($0.element.figures[column]))" }.joined(separator: " ")
            svg += "<polyline points=\"\(points)\" fill=\"none\" stroke=\"\(colours[column % colours.count])\" stroke-width=\"2\"><title>\(escape(head))</title></polyline>\n"
        }
        // Every other label, counted back from the last, so that the newest is always named.
        let step = max(1, (table.rows.count + 5) / 6)
        for (index, row) in table.rows.enumerated() where (table.rows.count - 1 - index) % step == 0 {
            svg += "<text x=\"\(x(index) - 25)\" y=\"\(top + plotHeight + 15)\" font-size=\"10\">\(escape(row.label))</text>\n"
        }
        svg += legend(table.heads, y: height - 10)
        return svg + "</svg>"
    }

    private static func legend(_ heads: [String], y: Int) -> String {
        heads.enumerated().map { index, head in
            let x = 150 + index * 110
            return "<rect x=\"\(x)\" y=\"\(y - 9)\" width=\"10\" height=\"10\" fill=\"\(colours[index % colours.count])\"/>"
                + "<text x=\"\(x + 14)\" y=\"\(y)\" font-size=\"11\">\(escape(head))</text>"
        }.joined(separator: "\n") + "\n"
    }
}
