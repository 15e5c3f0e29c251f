//! Durations: parsing what users type, formatting what they read.

/// Formats float milliseconds for people, with about three significant digits:
/// `0.042 ms`, `1.20 ms`, `12.3 ms`, `123 ms`, `4567 ms`, `12.3 s`. Negative values (HAR's
/// -1, "did not happen") and non-finite ones print as `-`.
pub fn fmt_ms(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        "-".to_string()
    } else if ms == 0.0 {
        "0 ms".to_string()
    } else if ms < 1.0 {
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

#[cfg(test)]
mod tests {
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
}
