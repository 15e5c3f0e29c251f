//! The endpoints of the local target server. See the [module docs](super) for the list.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;
use tokio::time::Instant;

use md5::Digest as _;

use super::io::RawWriter;

/// Error type of response bodies.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Response body type of every endpoint.
pub(crate) type RespBody = BoxBody<Bytes, BoxError>;

/// The informational response sent by `/early-hints` on HTTP/1.1.
const EARLY_HINTS: &[u8] = b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n";
/// Pause between the 103 and the final response of `/early-hints`.
const EARLY_HINTS_GAP: Duration = Duration::from_millis(20);
/// Longest `/drip` duration accepted.
const MAX_DRIP_MS: u64 = 24 * 60 * 60 * 1000;
/// Filler for generated bodies.
static FILLER: [u8; 16 * 1024] = [b'x'; 16 * 1024];

/// Routes one request. `raw` writes to the connection beneath hyper (used for 103 on HTTP/1.1;
/// `None` over HTTP/3). An error makes hyper drop the connection.
pub(crate) async fn handle<B>(req: Request<B>, raw: Option<RawWriter>) -> io::Result<Response<RespBody>>
where
    B: Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let path = req.uri().path();
    let path = path.strip_prefix('/').unwrap_or(path);
    let (head, arg) = match path.split_once('/') {
        Some((head, arg)) => (head.to_owned(), Some(arg.to_owned())),
        None => (path.to_owned(), None),
    };
    let query = req.uri().query().unwrap_or("").to_owned();
    let resp = match (head.as_str(), arg.as_deref()) {
        ("", None) => text(StatusCode::OK, "hello from httptrace serve\n"),
        ("delay", Some(ms)) => match ms.parse::<u64>() {
            Ok(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                text(StatusCode::OK, format!("delayed {ms} ms\n"))
            }
            Err(_) => bad_request("delay must be a number of milliseconds"),
        },
        ("bytes", Some(n)) => match n.parse::<u64>() {
            Ok(n) => sized(StatusCode::OK, n, RepeatBody { remaining: n }.boxed()),
            Err(_) => bad_request("bytes must be a number"),
        },
        ("drip", None) => drip(&query),
        ("status", Some(code)) => match code.parse::<u16>().ok().filter(|c| (200..=599).contains(c)) {
            Some(code) => status(code),
            None => bad_request("status must be in 200..=599"),
        },
        ("redirect", Some(n)) => match n.parse::<u32>() {
            Ok(0) => text(StatusCode::OK, "end of redirect chain\n"),
            Ok(n) => redirect(StatusCode::FOUND, &format!("/redirect/{}", n - 1)),
            Err(_) => bad_request("redirect count must be a number"),
        },
        ("redirect-to", None) => redirect_to(&query),
        ("digest-auth", Some(rest)) => digest_auth(&req, rest),
        ("cookies", Some("set")) => {
            // httpbin's /cookies/set: each query pair as a cookie, then 302 to /headers.
            let mut resp = redirect(StatusCode::FOUND, "/headers");
            for pair in query.split('&').filter(|p| p.contains('=')) {
                if let Ok(v) = HeaderValue::from_str(&format!("{pair}; Path=/")) {
                    resp.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            resp
        }
        ("continue", None) => {
            let body = req.into_body().collect().await.map_err(io::Error::other)?;
            let n = body.to_bytes().len();
            text(StatusCode::OK, format!("received {n} bytes\n"))
        }
        ("early-hints", None) => {
            if let (Version::HTTP_11, Some(raw)) = (req.version(), &raw) {
                raw.write_all(EARLY_HINTS).await?;
                tokio::time::sleep(EARLY_HINTS_GAP).await;
            }
            let mut resp = text(StatusCode::OK, "early hints sent before this response (HTTP/1.1 only)\n");
            resp.headers_mut().insert(header::LINK, HeaderValue::from_static("</style.css>; rel=preload"));
            resp
        }
        ("reset", None) => reset(),
        ("headers", None) => {
            let mut out = String::new();
            for (name, value) in req.headers() {
                out.push_str(&format!("{name}: {}\n", String::from_utf8_lossy(value.as_bytes())));
            }
            text(StatusCode::OK, out)
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    };
    Ok(resp)
}

/// A `text/plain` response with a fixed body.
fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<RespBody> {
    let body: Bytes = body.into();
    let mut resp = sized(status, body.len() as u64, Full::new(body).map_err(|e| match e {}).boxed());
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

/// A response with an explicit `content-length`.
fn sized(status: StatusCode, len: u64, body: RespBody) -> Response<RespBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    resp
}

fn bad_request(msg: &str) -> Response<RespBody> {
    text(StatusCode::BAD_REQUEST, format!("{msg}\n"))
}

/// `/status/{code}`: no body where the status forbids one.
fn status(code: u16) -> Response<RespBody> {
    let status = StatusCode::from_u16(code).expect("checked range");
    match code {
        204 | 205 | 304 => {
            let mut resp = Response::new(Full::new(Bytes::new()).map_err(|e| match e {}).boxed());
            *resp.status_mut() = status;
            resp
        }
        _ => text(status, format!("status {code}\n")),
    }
}

fn redirect(status: StatusCode, location: &str) -> Response<RespBody> {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut resp = text(status, format!("redirecting to {location}\n"));
            resp.headers_mut().insert(header::LOCATION, value);
            resp
        }
        Err(_) => bad_request("location is not a valid header value"),
    }
}

/// Decoded value of a query parameter.
fn param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// `/redirect-to?url=X&status=S`.
fn redirect_to(query: &str) -> Response<RespBody> {
    let Some(url) = param(query, "url") else {
        return bad_request("missing url parameter");
    };
    let status = match param(query, "status") {
        None => StatusCode::FOUND,
        Some(s) => match s.parse::<u16>().ok().filter(|c| (200..=599).contains(c)) {
            Some(code) => StatusCode::from_u16(code).expect("checked range"),
            None => return bad_request("status must be in 200..=599"),
        },
    };
    redirect(status, &url)
}

/// `/drip?bytes=N&duration_ms=M` (defaults 10 bytes over 1000 ms): headers at once, then the
/// body in `min(N, 10)` chunks, chunk `k` sent at `k * M / chunks`.
fn drip(query: &str) -> Response<RespBody> {
    let num = |name: &str, default: u64| match param(query, name) {
        None => Some(default),
        Some(v) => v.parse::<u64>().ok(),
    };
    let (Some(n), Some(ms)) = (num("bytes", 10), num("duration_ms", 1000)) else {
        return bad_request("bytes and duration_ms must be numbers");
    };
    if ms > MAX_DRIP_MS {
        return bad_request("duration_ms must be at most one day");
    }
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let chunks = n.min(10);
        let start = Instant::now();
        let total = Duration::from_millis(ms);
        let mut sent = 0u64;
        for k in 1..=chunks {
            tokio::time::sleep_until(start + total * k as u32 / chunks as u32).await;
            let mut len = (u128::from(n) * u128::from(k) / u128::from(chunks)) as u64 - sent;
            sent += len;
            while len > 0 {
                let piece = len.min(FILLER.len() as u64);
                len -= piece;
                if tx.send(Ok(Bytes::from_static(&FILLER[..piece as usize]))).await.is_err() {
                    return; // client went away
                }
            }
        }
    });
    sized(StatusCode::OK, n, ChanBody { rx, remaining: n }.boxed())
}

/// `/reset`: promises 100000 bytes, sends 1000, then fails the body so hyper aborts the
/// connection (HTTP/1.1) or resets the stream (HTTP/2).
fn reset() -> Response<RespBody> {
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        let _ = tx.send(Ok(Bytes::from_static(&FILLER[..1000]))).await;
        // Let hyper flush the headers and the first chunk before the failure.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = tx.send(Err("deliberate reset".into())).await;
    });
    sized(StatusCode::OK, 100_000, ChanBody { rx, remaining: 100_000 }.boxed())
}

/// A body of `remaining` filler bytes, produced on demand.
struct RepeatBody {
    remaining: u64,
}

impl Body for RepeatBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(FILLER.len() as u64);
        self.remaining -= n;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&FILLER[..n as usize])))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// A body fed by a channel; `remaining` is the announced length.
struct ChanBody {
    rx: mpsc::Receiver<Result<Bytes, BoxError>>,
    remaining: u64,
}

impl Body for ChanBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Poll::Ready(match ready!(self.rx.poll_recv(cx)) {
            Some(Ok(data)) => {
                self.remaining = self.remaining.saturating_sub(data.len() as u64);
                Some(Ok(Frame::data(data)))
            }
            Some(Err(e)) => Some(Err(e)),
            None => None,
        })
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// `/digest-auth/auth/USER/PASSWORD` (httpbin's): 200 for a request whose `Authorization:
/// Digest` answers this server's challenge for USER and PASSWORD (RFC 7616, MD5, qop=auth);
/// else 401 with the challenge.
fn digest_auth<B>(req: &Request<B>, rest: &str) -> Response<RespBody> {
    let mut parts = rest.splitn(3, '/');
    let (Some("auth"), Some(user), Some(password)) = (parts.next(), parts.next(), parts.next()) else {
        return bad_request("use /digest-auth/auth/USER/PASSWORD");
    };
    const REALM: &str = "httptrace";
    const NONCE: &str = "6b1f3a5e9c2d4f70";
    let md5 = |s: String| format!("{:x}", md5::Md5::digest(s.as_bytes()));
    let answered = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let params = v.strip_prefix("Digest ")?;
        let field = |name: &str| digest_param(params, name);
        if field("username")? != user || field("realm")? != REALM || field("nonce")? != NONCE {
            return None;
        }
        let uri = field("uri")?;
        let ha1 = md5(format!("{user}:{REALM}:{password}"));
        let ha2 = md5(format!("{}:{uri}", req.method()));
        let expected = match field("qop") {
            Some(qop) => md5(format!("{ha1}:{NONCE}:{}:{}:{qop}:{ha2}", field("nc")?, field("cnonce")?)),
            None => md5(format!("{ha1}:{NONCE}:{ha2}")),
        };
        (field("response")? == expected).then_some(())
    });
    match answered {
        Some(()) => text(StatusCode::OK, format!("authenticated as {user}\n")),
        None => {
            let mut resp = text(StatusCode::UNAUTHORIZED, "digest authentication required\n");
            let challenge = format!("Digest realm=\"{REALM}\", qop=\"auth\", nonce=\"{NONCE}\", opaque=\"0a1b\", algorithm=MD5");
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            resp
        }
    }
}

/// One parameter of a Digest `Authorization` value (quoted or not).
fn digest_param(params: &str, name: &str) -> Option<String> {
    let mut rest = params;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().trim_start_matches(',').trim();
        let after = after.trim_start();
        let (value, next) = match after.strip_prefix('"') {
            Some(q) => {
                let end = q.find('"')?;
                (&q[..end], &q[end + 1..])
            }
            None => match after.find(',') {
                Some(i) => (&after[..i], &after[i..]),
                None => (after, ""),
            },
        };
        if key.eq_ignore_ascii_case(name) {
            return Some(value.to_string());
        }
        rest = next.trim_start().trim_start_matches(',');
    }
    None
}
