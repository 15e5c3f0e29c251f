//! `--compressed`: the response body decoded as it arrives (gzip and deflate with flate2,
//! brotli with brotli-decompressor, zstd with ruzstd, all pure Rust), counting the decoded
//! bytes and keeping none of them. The wire bytes are counted where they are read.

use std::io::{self, Write};

use http::HeaderMap;

use crate::event::{EventKind, FailureKind, Phase, TraceError};
use crate::trace::Trace;

/// What `--compressed` offers, in curl's words and order.
pub const ACCEPT_ENCODING: &str = "deflate, gzip, br, zstd";

/// Counts what is written to it and keeps nothing.
#[derive(Default)]
struct Count(u64);

impl Write for Count {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A decoder of one `Content-Encoding`, fed the body chunk by chunk.
enum Decoder {
    Gzip(flate2::write::GzDecoder<Count>),
    /// HTTP's `deflate` is zlib's format (RFC 9110 §8.4.1.2).
    Deflate(flate2::write::ZlibDecoder<Count>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<Count>>),
    Zstd(Box<Zstd>),
}

impl Decoder {
    /// The decoder for a `Content-Encoding` value; `None` for `identity`, an absent or unknown
    /// coding, or several codings (the body is then counted as it came).
    fn for_encoding(value: &str) -> Option<Decoder> {
        match value.trim().to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Some(Decoder::Gzip(flate2::write::GzDecoder::new(Count::default()))),
            "deflate" => Some(Decoder::Deflate(flate2::write::ZlibDecoder::new(Count::default()))),
            "br" => Some(Decoder::Brotli(Box::new(brotli_decompressor::DecompressorWriter::new(Count::default(), 4096)))),
            "zstd" => Some(Decoder::Zstd(Box::default())),
            _ => None,
        }
    }

    /// Decodes the next chunk of the body.
    fn feed(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Decoder::Gzip(d) => d.write_all(data),
            Decoder::Deflate(d) => d.write_all(data),
            Decoder::Brotli(d) => d.write_all(data),
            Decoder::Zstd(d) => d.feed(data),
        }
    }

    /// Ends the body: the decoded length, or why the body did not decode (cut short, or not
    /// in the coding it claimed).
    fn finish(self) -> io::Result<u64> {
        match self {
            Decoder::Gzip(d) => d.finish().map(|c| c.0),
            Decoder::Deflate(d) => d.finish().map(|c| c.0),
            Decoder::Brotli(d) => d.into_inner().map(|c| c.0).map_err(|_| io::Error::other("brotli stream is incomplete")),
            Decoder::Zstd(d) => d.finish(),
        }
    }
}

/// A response body as it is read: its wire bytes counted, and decoded when asked to.
pub(crate) struct Body {
    received: u64,
    decoder: Option<Decoder>,
}

impl Body {
    /// A body of a response with `headers`; `decode`: undo its `content-encoding`.
    pub(crate) fn new(headers: &HeaderMap, decode: bool) -> Body {
        let decoder = if decode {
            headers.get(http::header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).and_then(Decoder::for_encoding)
        } else {
            None
        };
        Body { received: 0, decoder }
    }

    /// The wire bytes so far.
    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    /// The next chunk read.
    pub(crate) fn data(&mut self, chunk: &[u8]) -> Result<(), TraceError> {
        self.received += chunk.len() as u64;
        match &mut self.decoder {
            Some(d) => d.feed(chunk).map_err(|e| self.bad(e)),
            None => Ok(()),
        }
    }

    /// The body ended (its last byte read): the decoded length, if it was decoded (an empty
    /// body decodes to nothing).
    pub(crate) fn finish(self) -> Result<Option<u64>, TraceError> {
        match self.decoder {
            Some(d) if self.received > 0 => d.finish().map(Some).map_err(|e| Body { received: self.received, decoder: None }.bad(e)),
            _ => Ok(None),
        }
    }

    /// The body's end, on either HTTP path: stamps it, finishes the decoder (a body that does
    /// not decode becomes the hop's `error` when nothing failed before) and emits
    /// `response-done` for `hop` on connection `conn_id`.
    pub(crate) fn end(self, trace: &Trace, hop: u32, conn_id: u64, error: &mut Option<TraceError>) {
        let done_at = trace.now_ns();
        let body_bytes = self.received;
        let decoded_bytes = match (error.is_none(), self.finish()) {
            (true, Err(e)) => {
                *error = Some(e);
                None
            }
            (_, r) => r.ok().flatten(),
        };
        trace.emit_at(done_at, hop, Some(conn_id), EventKind::ResponseDone { body_bytes, error: error.clone(), decoded_bytes });
    }

    fn bad(&self, e: io::Error) -> TraceError {
        let message = format!("after {} body bytes: the content encoding does not decode: {e}", self.received);
        TraceError::new(Phase::Receive, FailureKind::BadContentEncoding, message)
    }
}

/// zstd, pushed: ruzstd decodes whole blocks from what has arrived and keeps the rest.
#[derive(Default)]
struct Zstd {
    frame: ruzstd::decoding::FrameDecoder,
    started: bool,
    /// Input not decoded yet (at most a block and a frame header).
    pending: Vec<u8>,
    out: u64,
}

impl Zstd {
    fn feed(&mut self, data: &[u8]) -> io::Result<()> {
        self.pending.extend_from_slice(data);
        self.run(false)
    }

    /// Decodes what it can; `last`: no more input comes.
    fn run(&mut self, last: bool) -> io::Result<()> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            if !self.started {
                // A frame header, once enough of it is here (at most 18 bytes).
                if self.pending.is_empty() || (self.pending.len() < 18 && !last) {
                    return Ok(());
                }
                let mut src: &[u8] = &self.pending;
                self.frame.reset(&mut src).map_err(io::Error::other)?;
                let used = self.pending.len() - src.len();
                self.pending.drain(..used);
                self.started = true;
            }
            let (read, written) = self.frame.decode_from_to(&self.pending, &mut buf).map_err(io::Error::other)?;
            if read > self.pending.len() {
                // The frame's checksum, not all here yet (ruzstd says it would take 4 bytes).
                return Ok(());
            }
            self.pending.drain(..read);
            self.out += written as u64;
            if self.frame.is_finished() && self.frame.can_collect() == 0 {
                // The frame ended; another may follow.
                self.started = false;
                continue;
            }
            if read == 0 && written == 0 {
                return Ok(());
            }
        }
    }

    fn finish(mut self) -> io::Result<u64> {
        self.run(true)?;
        if self.started || !self.pending.is_empty() {
            return Err(io::Error::other("zstd stream is incomplete"));
        }
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(coding: &str, body: &[u8], chunk: usize) -> io::Result<u64> {
        let mut d = Decoder::for_encoding(coding).expect("a known coding");
        for c in body.chunks(chunk) {
            d.feed(c)?;
        }
        d.finish()
    }

    fn text() -> Vec<u8> {
        (0..20_000u32).flat_map(|i| format!("line {i} of the body\n").into_bytes()).collect()
    }

    #[test]
    fn every_coding_decodes_in_any_chunking() {
        let plain = text();
        let gz = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&plain).unwrap();
            e.finish().unwrap()
        };
        let zlib = {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&plain).unwrap();
            e.finish().unwrap()
        };
        let zst = ruzstd::encoding::compress_to_vec(&plain[..], ruzstd::encoding::CompressionLevel::Fastest);
        let br = {
            let mut e = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
            e.write_all(&plain).unwrap();
            e.into_inner()
        };
        for (coding, body) in [("gzip", &gz), ("deflate", &zlib), ("zstd", &zst), ("br", &br)] {
            assert!(body.len() < plain.len() / 2, "{coding}");
            for chunk in [1, 7, 1000, body.len()] {
                assert_eq!(decode(coding, body, chunk).unwrap(), plain.len() as u64, "{coding} in chunks of {chunk}");
            }
            // Cut short: an error, not a short count.
            assert!(decode(coding, &body[..body.len() / 2], 100).is_err(), "{coding} cut short");
        }
        assert!(decode("gzip", b"not gzip at all", 4).is_err());
        assert!(Decoder::for_encoding("identity").is_none() && Decoder::for_encoding("gzip, br").is_none());
    }
}
