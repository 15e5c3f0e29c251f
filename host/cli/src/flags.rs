//! Parsers of command-line values: `-H` headers, `--dns-server`, durations, sizes and curl-style
//! seconds. Pure functions (no I/O), used by the binary and by the fuzz targets (`fuzz/`); each
//! returns a one-line message naming what was wrong instead of panicking, whatever the input.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The longest duration accepted for a time limit: 10⁹ s (about 31 years), far from where
/// `Instant` arithmetic or epoch-tick counts would overflow.
pub const MAX_SECONDS: f64 = 1e9;

/// A positive, finite number of seconds up to [`MAX_SECONDS`] as a `Duration`; `what` names the
/// value in the error, `expected` says what it should have been.
fn checked_secs(what: &str, expected: &str, secs: f64) -> Result<Duration, String> {
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("{what}: expected {expected}"));
    }
    if secs > MAX_SECONDS {
        return Err(format!("{what}: too long (at most {MAX_SECONDS:e} seconds)"));
    }
    // At least a nanosecond: a positive input never becomes "no time at all".
    Ok(Duration::try_from_secs_f64(secs).map_err(|e| format!("{what}: {e}"))?.max(Duration::from_nanos(1)))
}

/// Parses `1s`, `500ms`, `1.5s`, `2m`, `250us`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num.parse().map_err(|_| format!("'{s}': expected a duration such as 1s or 500ms"))?;
    let secs = match unit.trim() {
        "" | "s" => v,
        "ms" => v / 1e3,
        "us" | "µs" => v / 1e6,
        "m" | "min" => v * 60.0,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (use ms, s or m)")),
    };
    checked_secs(&format!("'{s}'"), "a positive duration", secs)
}

/// Parses `64MiB`, `512KiB`, `1GiB`, `64M`, `1000000`; a bare number is bytes.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: usize = num.parse().map_err(|_| format!("'{s}': expected a size such as 64MiB"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (use KiB, MiB or GiB)")),
    };
    match v.checked_mul(mult) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(format!("'{s}': expected a positive size")),
    }
}

/// Parses `IP` or `IP:PORT` (`[v6]:PORT`), port 53 by default.
pub fn parse_dns_server(s: &str) -> Result<SocketAddr, String> {
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(sa);
    }
    let ip = s.trim_start_matches('[').trim_end_matches(']');
    ip.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)).map_err(|_| format!("--dns-server '{s}': expected IP or IP:PORT"))
}

/// Parses a duration in (fractional) seconds, as curl's timeouts (`-m`, `--connect-timeout`).
pub fn seconds(flag: &str, v: f64) -> Result<Duration, String> {
    checked_secs(&format!("{flag} {v}"), "a positive number of seconds", v)
}

/// Parses `-H 'Name: value'`: a valid header name, and a value a header can carry (both
/// trimmed; the name lower-cased). `Name:` (empty value) removes a default header.
pub fn parse_header(h: &str) -> Result<(String, String), String> {
    let (name, value) = h.split_once(':').ok_or_else(|| format!("-H '{h}': expected 'Name: value'"))?;
    let name = name.trim();
    http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("-H '{h}': '{name}' is not a valid header name"))?;
    let value = value.trim();
    http::HeaderValue::from_str(value).map_err(|_| format!("-H '{h}': the value has characters a header cannot carry"))?;
    Ok((name.to_ascii_lowercase(), value.to_string()))
}

/// Parses a rate like `100`, `100/s`, `6000/m`.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let (num, per) = s.split_once('/').unwrap_or((s, "s"));
    let v: f64 = num.trim().parse().map_err(|_| format!("--rate '{s}': expected N/s"))?;
    let per_s = match per.trim() {
        "s" | "1s" => v,
        "m" | "1m" => v / 60.0,
        "h" | "1h" => v / 3600.0,
        other => return Err(format!("--rate '{s}': unknown period '{other}' (use /s, /m, /h)")),
    };
    if !per_s.is_finite() || per_s <= 0.0 {
        return Err(format!("--rate '{s}': must be positive"));
    }
    // The interval between requests must stay a representable time limit.
    if 1.0 / per_s > MAX_SECONDS {
        return Err(format!("--rate '{s}': too slow (at least one request per {:e} seconds)", MAX_SECONDS));
    }
    Ok(per_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_sizes_and_seconds() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(seconds("-m", 1.5).unwrap(), Duration::from_millis(1500));
        // Too big for a Duration (used to panic), or past the cap.
        assert!(parse_duration("99999999999999999999999999999m").unwrap_err().contains("too long"));
        assert!(seconds("-m", 1e30).unwrap_err().contains("too long"));
        assert!(seconds("-m", f64::NAN).unwrap_err().contains("positive number of seconds"));
        assert!(seconds("-m", -1.0).is_err() && seconds("-m", 0.0).is_err());
        assert_eq!(seconds("-m", 1e-300).unwrap(), Duration::from_nanos(1));
    }

    #[test]
    fn headers_and_dns_servers() {
        assert_eq!(parse_header("X-A:  b c ").unwrap(), ("x-a".into(), "b c".into()));
        assert_eq!(parse_header("Accept:").unwrap(), ("accept".into(), String::new()));
        assert!(parse_header("nocolon").unwrap_err().contains("expected 'Name: value'"));
        assert!(parse_header("bad name: v").unwrap_err().contains("not a valid header name"));
        assert!(parse_header("x: a\u{7}b").unwrap_err().contains("cannot carry"));
        assert_eq!(parse_dns_server("10.0.0.1").unwrap(), "10.0.0.1:53".parse().unwrap());
        assert_eq!(parse_dns_server("[::1]").unwrap(), "[::1]:53".parse().unwrap());
        assert!(parse_dns_server("dns.example").is_err());
    }

    #[test]
    fn parses_rates() {
        assert_eq!(parse_rate("100/s").unwrap(), 100.0);
        assert_eq!(parse_rate("60/m").unwrap(), 1.0);
        assert!(parse_rate("0").is_err());
        // Used to panic: an interval too long for `Duration`.
        assert!(parse_rate("1e-300").is_err());
    }
}
