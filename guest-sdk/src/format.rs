//! Durations, dates and statuses: parsing what users type, formatting what they read.

/// Formats float milliseconds for people, with about three significant digits:
/// `0.042 ms`, `1.20 ms`, `12.3 ms`, `123 ms`, `4567 ms`, `12.3 s`. Negative values (HAR's
/// -1, "did not happen") and non-finite ones print as `-`.
pub fn fmt_ms(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        "-".to_string()
    } else if ms == 0.0 {
        "0 ms".to_string()
    } else if ms < 1.0 {
        fixed(ms, 3, " ms")
    } else if ms < 10.0 {
        fixed(ms, 2, " ms")
    } else if ms < 100.0 {
        fixed(ms, 1, " ms")
    } else if ms < 10_000.0 {
        fixed(ms, 0, " ms")
    } else {
        fixed(ms / 1e3, 1, " s")
    }
}

/// `format!("{value:.digits$}{unit}")` for a finite `value` ≥ 0, the same text, mostly without
/// the exact float-to-decimal conversion (thousands of instructions per call in a plugin;
/// `timeline` makes a dozen per hop): `value × 10^digits` is computed with one rounding
/// (10^digits is exact), which moves it by at most half a unit in the last place, ~10⁻⁷ below
/// 10⁹. Unless that lands within 10⁻⁶ of a rounding tie, rounding it gives what rounding the
/// exact decimal expansion gives; near a tie, and for larger values, `format!` decides.
fn fixed(value: f64, digits: u32, unit: &str) -> String {
    let scaled = value * 10f64.powi(digits as i32);
    if scaled < 1e9 {
        let floor = scaled.floor();
        let frac = scaled - floor;
        if (frac - 0.5).abs() > 1e-6 {
            let n = floor as u64 + u64::from(frac > 0.5);
            // The digits, last first, with the point `digits` places from the right (and a
            // zero before it for values below 1).
            let mut text = [0u8; 24];
            let (mut at, mut rest, mut place) = (text.len(), n, 0);
            while rest > 0 || place <= digits {
                if place == digits && digits > 0 {
                    at -= 1;
                    text[at] = b'.';
                }
                at -= 1;
                text[at] = b'0' + (rest % 10) as u8;
                rest /= 10;
                place += 1;
            }
            let mut out = String::with_capacity(text.len() - at + unit.len());
            out.push_str(std::str::from_utf8(&text[at..]).unwrap_or_default());
            out.push_str(unit);
            return out;
        }
    }
    format!("{value:.prec$}{unit}", prec = digits as usize)
}

/// Parses a duration such as `250ms`, `1.5s`, `100us` (or `µs`), `200ns`, `2m` or `1h` into
/// nanoseconds. A unit is required; fractions are allowed (`0.5ms`), signs and exponents are
/// not.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let bad = |why: &str| format!("invalid duration `{text}`: {why}");
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return Err(bad("expected a number followed by a unit, e.g. 250ms, 1.5s"));
    }
    let scale: f64 = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        "" => return Err(bad("missing unit (ns, us, ms, s, m or h)")),
        other => return Err(bad(&format!("unknown unit `{other}` (ns, us, ms, s, m or h)"))),
    };
    let value: f64 = number.parse().map_err(|_| bad("expected a number followed by a unit"))?;
    let ns = (value * scale).round();
    if ns > u64::MAX as f64 {
        return Err(bad("too large"));
    }
    Ok(ns as u64)
}

/// RFC 9110's reason phrase for `status`, as a status line or HAR's `statusText` carries it
/// (empty for a code it does not name, and for 0).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Nanoseconds since the Unix epoch (an event's `wall-unix-ns`) as ISO 8601 UTC with
/// milliseconds, e.g. `2026-11-24T22:26:17.123Z`, as HAR's `startedDateTime` has it.
pub fn iso8601_ms(unix_ns: u64) -> String {
    let secs = (unix_ns / 1_000_000_000) as i64;
    let ms = (unix_ns / 1_000_000) % 1000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The size in bytes of a request's head as HTTP/1.1 sends it: the request line (`method`,
/// the origin-form target of `url`, `HTTP/1.1`), each header field but HTTP/2 pseudo-headers
/// (`name: value` and CRLF), and the blank line. As HAR's `headersSize` and curl's
/// `size_request` count it.
pub fn http1_head_size<'a>(method: &str, url: &str, fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> u64 {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split('#').next().unwrap_or(rest);
    // The path and query after the authority; a query with no path gets `/` before it.
    let target = match (rest.find('/'), rest.find('?')) {
        (Some(slash), q) if q.is_none_or(|q| slash < q) => rest.len() - slash,
        (_, Some(q)) => 1 + rest.len() - q,
        _ => 1,
    };
    let line = method.len() + 1 + target + " HTTP/1.1\r\n".len();
    let fields: usize = fields.into_iter().filter(|(n, _)| !n.starts_with(':')).map(|(n, v)| n.len() + 2 + v.len() + 2).sum();
    (line + fields + 2) as u64
}

#[cfg(test)]
mod tests {

    #[test]
    fn http1_heads_are_sized_as_sent() {
        // "GET /x?q HTTP/1.1\r\n" + "host: h\r\n" + "\r\n"; pseudo-headers left out.
        assert_eq!(super::http1_head_size("GET", "http://h/x?q#frag", [("host", "h"), (":path", "/x")]), 19 + 9 + 2);
        assert_eq!(super::http1_head_size("GET", "http://h?q=1", []), "GET /?q=1 HTTP/1.1\r\n\r\n".len() as u64);
        assert_eq!(super::http1_head_size("GET", "http://h", []), "GET / HTTP/1.1\r\n\r\n".len() as u64);
    }

    #[test]
    fn dates_and_reason_phrases() {
        assert_eq!(super::iso8601_ms(1_795_000_000_123_000_000), "2026-11-18T11:06:40.123Z");
        assert_eq!(super::iso8601_ms(951_782_400_000_000_000), "2000-02-29T00:00:00.000Z");
        assert_eq!((super::reason_phrase(200), super::reason_phrase(404), super::reason_phrase(0)), ("OK", "Not Found", ""));
    }
    use super::*;

    #[test]
    fn parses_the_usual_units() {
        assert_eq!(parse_duration("250ms"), Ok(250_000_000));
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration("100us"), Ok(100_000));
        assert_eq!(parse_duration("100µs"), Ok(100_000));
        assert_eq!(parse_duration("200ns"), Ok(200));
        assert_eq!(parse_duration("2m"), Ok(120_000_000_000));
        assert_eq!(parse_duration("0.5ms"), Ok(500_000));
        assert_eq!(parse_duration(" 1 s "), Ok(1_000_000_000));
        assert_eq!(parse_duration("1h"), Ok(3_600_000_000_000));
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        for bad in ["", "ms", "250", "-1s", "1.2.3s", "1e3ms", "10 parsecs", "1sec", ".s"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.starts_with(&format!("invalid duration `{bad}`")), "{bad}: {err}");
        }
        assert!(parse_duration("250").unwrap_err().contains("missing unit"));
    }

    #[test]
    fn formats_milliseconds() {
        assert_eq!(fmt_ms(-1.0), "-");
        assert_eq!(fmt_ms(f64::NAN), "-");
        assert_eq!(fmt_ms(0.0), "0 ms");
        assert_eq!(fmt_ms(0.0421), "0.042 ms");
        assert_eq!(fmt_ms(1.2), "1.20 ms");
        assert_eq!(fmt_ms(12.34), "12.3 ms");
        assert_eq!(fmt_ms(123.4), "123 ms");
        assert_eq!(fmt_ms(4567.0), "4567 ms");
        assert_eq!(fmt_ms(12_345.0), "12.3 s");
    }

    /// The fast path gives what `format!` gives: a sweep of every range, values near rounding
    /// ties (exact ties such as 0.0625 at three places go to `format!`), and pseudo-random values.
    #[test]
    fn fixed_point_formatting_equals_format() {
        let slow = |ms: f64| {
            if ms < 1.0 {
                format!("{ms:.3} ms")
            } else if ms < 10.0 {
                format!("{ms:.2} ms")
            } else if ms < 100.0 {
                format!("{ms:.1} ms")
            } else if ms < 10_000.0 {
                format!("{ms:.0} ms")
            } else {
                format!("{:.1} s", ms / 1e3)
            }
        };
        let mut values: Vec<f64> = Vec::new();
        for i in 1..200_000u32 {
            values.push(f64::from(i) * 0.000_137);
            values.push(f64::from(i) * 0.731);
        }
        for base in [0.0005f64, 0.0625, 0.1235, 0.9995, 1.005, 1.125, 9.995, 10.05, 99.95, 100.5, 9999.5, 10_050.0, 99_950.0] {
            let mut v = base;
            for _ in 0..4 {
                values.extend([v, v.next_up(), v.next_down()]);
                v = v.next_up().next_up();
            }
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push((x >> 11) as f64 / (1u64 << 53) as f64 * 10f64.powi((x % 12) as i32 - 3));
        }
        for v in values.into_iter().filter(|v| *v > 0.0) {
            assert_eq!(fmt_ms(v), slow(v), "{v:e}");
        }
    }
}
