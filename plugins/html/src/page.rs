//! The report page: HTML with inline CSS and SVG, nothing else.

use std::fmt::Write;

use httptrace_guest::{fmt_ms, iso8601_ms};

use crate::{phase_ms, Row, Run, MAX_ROWS, PHASES};

/// Width of the waterfall's time axis, px.
const AXIS: f64 = 720.0;
/// Height of a waterfall bar and of an attempt's bar under it, px.
const BAR_H: f64 = 14.0;
const ATTEMPT_H: f64 = 5.0;

const STYLE: &str = "body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#202124;background:#fff}\
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #dadce0;padding-bottom:4px}\
.meta{color:#5f6368}table{border-collapse:collapse}td,th{padding:3px 8px;text-align:right;font-variant-numeric:tabular-nums}\
th{color:#5f6368;font-weight:600}td.l,th.l{text-align:left}tr.hop td{vertical-align:top;border-top:1px solid #f1f3f4}\
td.label{max-width:420px;overflow-wrap:anywhere}summary{cursor:pointer}details table{margin:6px 0 10px;font-size:12px}\
details td{text-align:left}.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:-1px}\
.err{color:#d93025}.ok{color:#188038}.charts{display:flex;flex-wrap:wrap;gap:18px}.chart{font-size:12px}.chart b{display:block;margin-bottom:2px}";

/// `s` escaped for HTML text and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The whole page.
pub fn render(title: &str, run: &Run) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{}</title><style>{STYLE}</style></head>\n<body>\n<h1>{}</h1>\n",
        esc(title),
        esc(title)
    );
    let elapsed = match (run.first_start, run.last_end) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => 0,
    };
    let rps = if elapsed > 0 { run.requests as f64 / (elapsed as f64 / 1e9) } else { 0.0 };
    let _ = writeln!(
        out,
        "<p class=\"meta\" id=\"run\" data-requests=\"{}\">{} request{} in {}{}, {} connection{} opened, {} reused{}</p>",
        run.requests,
        run.requests,
        if run.requests == 1 { "" } else { "s" },
        fmt_ms(elapsed as f64 / 1e6),
        if run.requests > 1 { format!(" ({rps:.1} req/s)") } else { String::new() },
        run.opened,
        if run.opened == 1 { "" } else { "s" },
        run.reused,
        run.first_start.map(|s| format!(", started {}", iso8601_ms(s))).unwrap_or_default(),
    );
    if run.requests > 1 {
        load(&mut out, run, elapsed);
    }
    waterfall(&mut out, run);
    out.push_str("</body></html>\n");
    out
}

/// The load run's sections: counts, percentiles, histograms, over time.
fn load(out: &mut String, run: &Run, elapsed: u64) {
    out.push_str("<h2>Status and errors</h2>\n<table id=\"status\"><tr><th class=\"l\">status</th><th>requests</th></tr>");
    for (code, n) in &run.status {
        let class = if *code < 400 { "ok" } else { "err" };
        let _ = write!(out, "<tr><td class=\"l {class}\">{code}</td><td>{n}</td></tr>");
    }
    for (kind, n) in &run.errors {
        let _ = write!(out, "<tr><td class=\"l err\">{}</td><td>{n}</td></tr>", esc(kind));
    }
    out.push_str("</table>\n<h2>Percentiles (ms)</h2>\n<table id=\"percentiles\"><tr><th class=\"l\">phase</th><th>count</th><th>min</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>max</th></tr>");
    let names = PHASES.iter().map(|p| p.0).chain(["total"]);
    for (name, p) in names.clone().zip(&run.phases) {
        let _ = write!(out, "<tr><td class=\"l\">{name}</td><td>{}</td>", p.count());
        if p.count() == 0 {
            out.push_str("<td colspan=\"6\">-</td></tr>");
            continue;
        }
        let _ = write!(out, "<td>{:.3}</td>", p.min as f64 / 1e6);
        for q in [0.5, 0.9, 0.95, 0.99] {
            let _ = write!(out, "<td>{:.3}</td>", p.quantile_ms(q));
        }
        let _ = write!(out, "<td>{:.3}</td></tr>", p.max as f64 / 1e6);
    }
    out.push_str("</table>\n<h2>Histograms (logarithmic time axis)</h2>\n<div class=\"charts\">");
    for (i, (name, p)) in names.zip(&run.phases).enumerate() {
        let buckets = p.log_buckets();
        if buckets.is_empty() {
            continue;
        }
        let color = PHASES.get(i).map_or("#3c4043", |p| p.1);
        let (w, h) = (360.0, 110.0);
        let bw = w / buckets.len() as f64;
        let most = buckets.iter().map(|b| b.2).max().unwrap_or(1).max(1) as f64;
        let _ = write!(
            out,
            "<div class=\"chart\"><b>{name}: {} requests</b><svg class=\"hist\" data-phase=\"{name}\" data-count=\"{}\" width=\"{w}\" height=\"{}\" role=\"img\">",
            p.count(),
            p.count(),
            h + 16.0
        );
        for (j, (lo, hi, n)) in buckets.iter().enumerate() {
            let bh = if *n == 0 { 0.0 } else { (*n as f64 / most * h).max(1.0) };
            let _ = write!(
                out,
                "<rect class=\"bar\" data-count=\"{n}\" x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{bh:.2}\" fill=\"{color}\"><title>{} – {}: {n}</title></rect>",
                j as f64 * bw,
                h - bh,
                (bw - 1.0).max(0.5),
                fmt_ms(*lo as f64 / 1e6),
                fmt_ms(*hi as f64 / 1e6)
            );
        }
        let _ = write!(
            out,
            "<text x=\"0\" y=\"{}\">{}</text><text x=\"{w}\" y=\"{}\" text-anchor=\"end\">{}</text></svg></div>",
            h + 13.0,
            fmt_ms(buckets[0].0 as f64 / 1e6),
            h + 13.0,
            fmt_ms(buckets[buckets.len() - 1].1 as f64 / 1e6)
        );
    }
    out.push_str("</div>\n");
    let series = run.timeline.series(elapsed);
    if series.len() >= 2 {
        let secs = run.timeline.interval_ns as f64 / 1e9;
        let _ = write!(out, "<h2>Over time ({secs} s intervals)</h2>\n<div class=\"charts\">");
        let rps: Vec<f64> = series.iter().map(|s| s.0).collect();
        line_chart(out, "rps", "requests/s", &[("requests/s", "#1a73e8", &rps)]);
        let p50: Vec<f64> = series.iter().map(|s| s.1).collect();
        let p95: Vec<f64> = series.iter().map(|s| s.2).collect();
        let p99: Vec<f64> = series.iter().map(|s| s.3).collect();
        line_chart(out, "latency", "total time (ms)", &[("p50", "#34a853", &p50), ("p95", "#f9ab00", &p95), ("p99", "#d93025", &p99)]);
        out.push_str("</div>\n");
    }
}

/// An SVG line chart of `lines` (label, colour, one value per interval).
fn line_chart(out: &mut String, id: &str, title: &str, lines: &[(&str, &str, &[f64])]) {
    let (w, h) = (460.0, 140.0);
    let top = lines.iter().flat_map(|l| l.2.iter().copied()).fold(0.0, f64::max).max(1e-9);
    let n = lines.first().map_or(0, |l| l.2.len());
    let _ = write!(
        out,
        "<div class=\"chart\"><b>{title}</b><svg id=\"{id}\" data-points=\"{n}\" width=\"{w}\" height=\"{}\" role=\"img\">",
        h + 16.0
    );
    for (label, color, values) in lines {
        let pts: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", i as f64 * w / (n.max(2) - 1) as f64, h - v / top * (h - 4.0)))
            .collect();
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"><title>{label}</title></polyline>",
            pts.join(" ")
        );
    }
    let legend: Vec<String> = lines.iter().map(|(l, c, _)| format!("<tspan fill=\"{c}\">{l}</tspan>")).collect();
    let _ = write!(out, "<text x=\"0\" y=\"{}\">{} (max {top:.1})</text></svg></div>", h + 13.0, legend.join(" "));
}

/// The waterfall: one row per hop, bars on a shared time axis.
fn waterfall(out: &mut String, run: &Run) {
    let rows: Vec<&Row> = run.rows.iter().filter(|r| r.timings.is_some()).collect();
    let Some(t0) = rows.iter().map(|r| r.start).min() else { return };
    let t1 = rows.iter().map(|r| r.start + (r.timings.map_or(0.0, |t| t.total.max(0.0)) * 1e6) as u64).max().unwrap_or(t0);
    let span_ms = ((t1 - t0) as f64 / 1e6).max(1e-3);
    let px_per_ms = AXIS / span_ms;
    out.push_str("<h2>Waterfall</h2>\n<p class=\"legend\">");
    for (name, color) in PHASES {
        let _ = write!(out, "<span><i style=\"background:{color}\"></i>{name}</span>");
    }
    out.push_str("<span><i style=\"background:#5f6368;height:5px\"></i>connect attempts</span></p>\n");
    if run.rows_left_out > 0 {
        let _ = writeln!(out, "<p class=\"meta\">The first {MAX_ROWS} hops; {} more are in the figures above.</p>", run.rows_left_out);
    }
    let _ = writeln!(
        out,
        "<table id=\"waterfall\" data-span-ms=\"{span_ms}\" data-axis-px=\"{AXIS}\"><tr><th class=\"l\">request</th><th class=\"l\">0 – {}</th><th>time</th></tr>",
        fmt_ms(span_ms)
    );
    for row in rows {
        hop_row(out, row, t0, px_per_ms);
    }
    out.push_str("</table>\n");
}

fn hop_row(out: &mut String, row: &Row, t0: u64, px_per_ms: f64) {
    let Some(t) = row.timings else { return };
    let outcome = match (&row.error, row.status) {
        (Some(_), _) => "<span class=\"err\">failed</span>".to_string(),
        (None, Some(s)) => format!("<span class=\"{}\">{s}</span>", if s < 400 { "ok" } else { "err" }),
        _ => String::new(),
    };
    let hop = if row.hop > 0 { format!(" (hop {})", row.hop) } else { String::new() };
    let _ = write!(
        out,
        "<tr class=\"hop\" data-request=\"{}\" data-hop=\"{}\"><td class=\"l label\"><details><summary>{} {}{hop} {outcome}</summary>",
        row.request,
        row.hop,
        esc(&row.method),
        esc(&row.url)
    );
    details(out, row);
    out.push_str("</details></td><td class=\"l\">");
    let attempts_h = if row.attempts.is_empty() { 0.0 } else { row.attempts.len() as f64 * (ATTEMPT_H + 1.0) + 2.0 };
    let _ = write!(out, "<svg class=\"bar\" width=\"{AXIS}\" height=\"{}\">", BAR_H + attempts_h);
    let mut x = (row.start - t0) as f64 / 1e6 * px_per_ms;
    for ((name, color), ms) in PHASES.iter().zip(phase_ms(&t)) {
        if ms < 0.0 {
            continue;
        }
        let w = ms * px_per_ms;
        let _ = write!(
            out,
            "<rect class=\"phase\" data-phase=\"{name}\" data-ms=\"{ms}\" x=\"{x:.3}\" y=\"0\" width=\"{w:.3}\" height=\"{BAR_H}\" fill=\"{color}\"><title>{name} {}</title></rect>",
            fmt_ms(ms)
        );
        x += w;
    }
    for (i, a) in row.attempts.iter().enumerate() {
        let ax = (a.start.saturating_sub(t0)) as f64 / 1e6 * px_per_ms;
        let ms = a.end.map_or(0.0, |e| e.saturating_sub(a.start) as f64 / 1e6);
        let color = match a.outcome.as_str() {
            "connected" => "#5f6368",
            "cancelled" => "#bdc1c6",
            _ => "#d93025",
        };
        let _ = write!(
            out,
            "<rect class=\"attempt\" data-outcome=\"{}\" x=\"{ax:.3}\" y=\"{:.1}\" width=\"{:.3}\" height=\"{ATTEMPT_H}\" fill=\"{color}\"><title>connect {} {}: {}</title></rect>",
            esc(&a.outcome),
            BAR_H + 2.0 + i as f64 * (ATTEMPT_H + 1.0),
            (ms * px_per_ms).max(1.0),
            esc(&a.addr),
            fmt_ms(ms),
            esc(&a.outcome)
        );
    }
    let _ = writeln!(out, "</svg></td><td>{}</td></tr>", fmt_ms(t.total));
}

/// The click-open panel of one hop.
fn details(out: &mut String, row: &Row) {
    let mut facts: Vec<(&str, String)> = Vec::new();
    if let Some(e) = &row.error {
        facts.push(("error", format!("<span class=\"err\">{}</span>", esc(e))));
    }
    if !row.remote.is_empty() {
        let conn = row.conn.map(|c| format!(" #{c}")).unwrap_or_default();
        let how = if row.reused { "reused" } else { "new" };
        // (A Unix socket's client end has no name.)
        let from = if row.local.is_empty() { String::new() } else { format!(" from {}", row.local) };
        facts.push(("connection", esc(&format!("{}{from} ({}, {how} connection{conn})", row.remote, row.protocol))));
    }
    for a in &row.attempts {
        let ms = a.end.map_or("-".to_string(), |e| fmt_ms(e.saturating_sub(a.start) as f64 / 1e6));
        facts.push(("connect attempt", esc(&format!("{} {ms} {}", a.addr, a.outcome))));
    }
    if let Some((proxy, outcome, ms)) = &row.tunnel {
        facts.push(("proxy tunnel", esc(&format!("{proxy} {outcome} in {}", fmt_ms(*ms)))));
    }
    if let Some((version, cipher, group, alpn, resumed)) = &row.tls {
        let resumed = if *resumed { ", resumed" } else { "" };
        facts.push(("TLS", esc(&format!("{version}, {cipher}, {group}, ALPN {alpn}{resumed}"))));
    }
    for (i, (subject, issuer, not_after)) in row.certs.iter().enumerate() {
        facts.push((
            if i == 0 { "certificate" } else { "issuer certificate" },
            esc(&format!("{subject}, issued by {issuer}, expires {not_after}")),
        ));
    }
    if let Some(t) = &row.timings {
        let phases: Vec<String> =
            PHASES.iter().zip(phase_ms(t)).filter(|(_, ms)| *ms >= 0.0).map(|((n, _), ms)| format!("{n} {}", fmt_ms(ms))).collect();
        facts.push(("timings", esc(&phases.join(", "))));
    }
    for (name, value) in &row.request_headers {
        facts.push(("&gt; header", esc(&format!("{name}: {value}"))));
    }
    for (name, value) in &row.response_headers {
        facts.push(("&lt; header", esc(&format!("{name}: {value}"))));
    }
    out.push_str("<table>");
    for (k, v) in facts {
        let _ = write!(out, "<tr><th class=\"l\">{k}</th><td>{v}</td></tr>");
    }
    out.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
