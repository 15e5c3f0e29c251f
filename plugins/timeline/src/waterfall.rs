//! The httpstat table: one column per phase with its duration, and under it the cumulative
//! curl marks, each placed where its phase ends.
//!
//! ```text
//!  DNS Lookup TCP Connection TLS Handshake Server Processing Content Transfer
//! [ 1.20 ms  |   0.300 ms   |   5.20 ms   |     12.1 ms     |    0.200 ms    ]
//!            |              |             |                 |                |
//!   namelookup:1.20 ms      |             |                 |                |
//!                     connect:1.50 ms     |                 |                |
//!                               pretransfer:6.70 ms         |                |
//!                                               starttransfer:18.8 ms        |
//!                                                                total:19.0 ms
//! ```
//!
//! Each cell is the time between the previous mark and its own, so the cells add up to
//! `total`; the table stays within 80 columns (the padding shrinks first).

use crate::paint::{spaces, Paint, CYAN, GRAY};

/// One phase column.
#[derive(Clone)]
pub struct Column {
    /// Header, e.g. `DNS Lookup`.
    pub label: &'static str,
    /// The phase's duration, formatted (`-` when it did not happen).
    pub cell: String,
    /// Name of the curl mark where the phase ends, e.g. `namelookup`.
    pub mark: &'static str,
    /// That mark's value, formatted.
    pub mark_value: String,
}

/// Renders the table, each line indented by `indent`.
#[cfg(test)]
pub fn render(columns: &[Column], indent: &str, p: Paint) -> String {
    let mut out = String::new();
    render_into(&mut out, columns, indent, p);
    out
}

/// The widest line the table may take, indent included: a terminal's 80 columns.
pub const MAX_WIDTH: usize = 80;

/// Appends the table to `out`, each line indented by `indent`. It stays within [`MAX_WIDTH`]
/// columns: the padding around labels and cells shrinks when the phases' values are long.
pub fn render_into(out: &mut String, columns: &[Column], indent: &str, p: Paint) {
    // Column i spans the characters between boundaries b[i] and b[i+1] ('[', '|' or ']').
    // It must hold its label (+ padding), its cell (+ padding), and the previous column's mark
    // value, which is written starting two characters after b[i] (+3 so it clears the next
    // '|'). The last mark (`total`)
    // ends under the closing ']'.
    let widths_with = |label_pad: usize, cell_pad: usize| -> Vec<usize> {
        columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let prev_mark = if i == 0 { 0 } else { columns[i - 1].mark_value.len() + 3 };
                (c.label.len() + label_pad).max(c.cell.chars().count() + cell_pad).max(prev_mark)
            })
            .collect()
    };
    let line_width = |w: &[usize]| indent.len() + w.iter().sum::<usize>() + w.len() + 1;
    let widths = [(2, 4), (1, 3), (0, 2)]
        .iter()
        .map(|&(l, c)| widths_with(l, c))
        .find(|w| line_width(w) <= MAX_WIDTH)
        .unwrap_or_else(|| widths_with(0, 2));
    let mut bounds = Vec::with_capacity(widths.len() + 1);
    bounds.push(0);
    for w in &widths {
        bounds.push(bounds.last().unwrap() + w + 1);
    }

    // The header, without trailing spaces.
    out.push_str(indent);
    let line_start = out.len();
    for (c, w) in columns.iter().zip(&widths) {
        out.push(' ');
        center(out, c.label, *w);
    }
    let trimmed = line_start + out[line_start..].trim_end().len();
    out.truncate(trimmed);
    out.push('\n');
    // The bar.
    out.push_str(indent);
    out.push('[');
    for (i, (c, w)) in columns.iter().zip(&widths).enumerate() {
        if p.0 {
            let mut cell = String::with_capacity(*w);
            center(&mut cell, &c.cell, *w);
            p.push(out, CYAN, &cell);
        } else {
            center(out, &c.cell, *w);
        }
        out.push(if i + 1 == columns.len() { ']' } else { '|' });
    }
    out.push('\n');
    // The ticks.
    out.push_str(indent);
    out.push(' ');
    for w in &widths {
        spaces(out, *w);
        out.push('|');
    }
    out.push('\n');

    // Mark i is written so that its value starts two characters after boundary i+1, followed
    // by the ticks of the boundaries still to come.
    for (i, c) in columns.iter().enumerate() {
        let label_len = c.mark.len() + 1;
        let last = i + 1 == columns.len();
        let value_at = if last { (bounds[i + 1] + 1).saturating_sub(c.mark_value.len()) } else { bounds[i + 1] + 2 };
        out.push_str(indent);
        spaces(out, value_at.saturating_sub(label_len));
        if p.0 {
            p.push(out, GRAY, &format!("{}:", c.mark));
        } else {
            out.push_str(c.mark);
            out.push(':');
        }
        p.push(out, CYAN, &c.mark_value);
        let mut col = value_at + c.mark_value.len();
        for b in &bounds[i + 2..] {
            spaces(out, b.saturating_sub(col));
            out.push('|');
            col = b + 1;
        }
        out.push('\n');
    }
}

/// Appends `text` centred in `width` characters; odd padding puts the extra space on the right.
fn center(out: &mut String, text: &str, width: usize) {
    let pad = width.saturating_sub(text.chars().count());
    let left = pad / 2;
    spaces(out, left);
    out.push_str(text);
    spaces(out, pad - left);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(label: &'static str, cell: &str, mark: &'static str, value: &str) -> Column {
        Column { label, cell: cell.into(), mark, mark_value: value.into() }
    }

    #[test]
    fn lines_up_like_httpstat() {
        let cols = [
            col("DNS Lookup", "12ms", "namelookup", "12ms"),
            col("TCP Connection", "20ms", "connect", "32ms"),
            col("TLS Handshake", "45ms", "pretransfer", "77ms"),
            col("Server Processing", "100ms", "starttransfer", "177ms"),
            col("Content Transfer", "5ms", "total", "182ms"),
        ];
        // Five columns with their labels' padding need 86 columns: the padding goes.
        let text = render(&cols, "", Paint(false));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], " DNS Lookup TCP Connection TLS Handshake Server Processing Content Transfer");
        assert_eq!(lines[1], "[   12ms   |     20ms     |    45ms     |      100ms      |      5ms       ]");
        assert_eq!(lines[2], "           |              |             |                 |                |");
        assert_eq!(lines[3], "  namelookup:12ms         |             |                 |                |");
        assert_eq!(lines[4], "                    connect:32ms        |                 |                |");
        assert_eq!(lines[5], "                              pretransfer:77ms            |                |");
        assert_eq!(lines[6], "                                              starttransfer:177ms          |");
        assert_eq!(lines[7], "                                                                 total:182ms");
        // Four (plain HTTP) keep httpstat's spacing.
        let plain = [&cols[..2], &cols[3..]].concat();
        let text = render(&plain, "  ", Paint(false));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "    DNS Lookup   TCP Connection   Server Processing   Content Transfer");
        assert_eq!(lines[1], "  [    12ms    |      20ms      |       100ms       |       5ms        ]");
        assert_eq!(lines[4], "                          connect:32ms              |                  |");
        assert_eq!(lines[6], "                                                             total:182ms");
    }

    #[test]
    fn stays_within_80_columns_with_the_longest_values() {
        // fmt_ms's widest forms, everywhere.
        let cols = [
            col("DNS Lookup", "9999 ms", "namelookup", "0.999 ms"),
            col("TCP Connection", "0.999 ms", "connect", "0.999 ms"),
            col("TLS Handshake", "0.999 ms", "pretransfer", "0.999 ms"),
            col("Server Processing", "1234.5 s", "starttransfer", "1234.5 s"),
            col("Content Transfer", "0.999 ms", "total", "1234.5 s"),
        ];
        let text = render(&cols, "  ", Paint(false));
        assert!(text.lines().all(|l| l.chars().count() <= MAX_WIDTH), "{text}");
        assert!(text.lines().last().unwrap().ends_with("total:1234.5 s"), "{text}");
    }

    #[test]
    fn widens_columns_for_long_values() {
        let cols =
            [col("DNS Lookup", "0.042 ms", "namelookup", "0.042 ms"), col("TCP Connection", "12345.6 ms", "connect", "12345.678 ms")];
        let text = render(&cols, "  ", Paint(false));
        let bar = text.lines().nth(1).unwrap();
        assert!(bar.starts_with("  [") && bar.ends_with(']'), "{text}");
        // The connect mark's value never runs into a tick.
        let connect = text.lines().find(|l| l.contains("connect:")).unwrap();
        assert!(connect.ends_with("12345.678 ms"), "{text}");
        let namelookup = text.lines().find(|l| l.contains("namelookup:")).unwrap();
        assert!(namelookup.contains("0.042 ms ") && namelookup.ends_with('|'), "{text}");
    }
}
