//! W3C Trace Context: the `traceparent` header's value, read and written.

/// A `traceparent` value: version 00, trace id, parent (span) id, flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace's id (never all zeros).
    pub trace_id: [u8; 16],
    /// The id of the span the header was sent from (never all zeros).
    pub span_id: [u8; 8],
    /// Trace flags (bit 0: sampled).
    pub flags: u8,
}

impl TraceParent {
    /// Reads `00-<32 hex>-<16 hex>-<2 hex>` (lower-case hex, as the specification requires;
    /// a later version's longer value is read by its first four fields).
    pub fn parse(value: &str) -> Result<TraceParent, String> {
        let v = value.trim();
        let parts: Vec<&str> = v.split('-').collect();
        let bad = |why: &str| Err(format!("'{v}' is not a traceparent: {why}"));
        if parts.len() < 4 {
            return bad("expected VERSION-TRACEID-PARENTID-FLAGS");
        }
        let Some(version) = hex::<1>(parts[0]) else { return bad("the version is not 2 hex digits") };
        if version[0] == 0xff || (version[0] == 0 && parts.len() != 4) {
            return bad("the version is invalid");
        }
        let Some(trace_id) = hex::<16>(parts[1]) else { return bad("the trace id is not 32 lower-case hex digits") };
        let Some(span_id) = hex::<8>(parts[2]) else { return bad("the parent id is not 16 lower-case hex digits") };
        let Some(flags) = hex::<1>(parts[3]) else { return bad("the flags are not 2 hex digits") };
        if trace_id == [0; 16] || span_id == [0; 8] {
            return bad("an id is all zeros");
        }
        Ok(TraceParent { trace_id, span_id, flags: flags[0] })
    }

    /// The header value (version 00).
    pub fn to_header(&self) -> String {
        format!("00-{}-{}-{:02x}", to_hex(&self.trace_id), to_hex(&self.span_id), self.flags)
    }
}

/// A new random trace id (never all zeros).
pub fn new_trace_id() -> [u8; 16] {
    loop {
        let id: [u8; 16] = rand::random();
        if id != [0; 16] {
            return id;
        }
    }
}

/// A new random span id (never all zeros).
pub fn new_span_id() -> [u8; 8] {
    loop {
        let id: [u8; 8] = rand::random();
        if id != [0; 8] {
            return id;
        }
    }
}

/// Lower-case hex.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_the_header() {
        let v = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let tp = TraceParent::parse(v).unwrap();
        assert_eq!((tp.span_id[0], tp.flags), (0x00, 1));
        assert_eq!(tp.to_header(), v);
    }

    #[test]
    fn refuses_what_the_specification_refuses() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert!(TraceParent::parse(bad).is_err(), "{bad}");
        }
    }
}
