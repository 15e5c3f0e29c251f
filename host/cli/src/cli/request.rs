//! Turns request flags into client options and a request.

use std::time::Duration;

use bytes::Bytes;
use http::Method;

use super::args::{KernelStampsArg, RequestArgs};
use httptrace::engine::parse_url;
use httptrace::engine::{ConnectTo, DnsOptions, IpFamily, ResolveOverride};
use httptrace::{ClientOptions, HttpVersion, RequestSpec};
use httptrace_cli::exit;
use httptrace_cli::flags::{parse_dns_server, parse_header, seconds};

/// A flag or input problem, with the exit code it deserves.
#[derive(Debug)]
pub struct UsageError {
    /// Exit code (2 usage, 3 bad URL, 1 unsupported scheme, 26 unreadable file).
    pub code: i32,
    /// One-line message.
    pub message: String,
}

impl UsageError {
    pub fn usage(message: String) -> UsageError {
        UsageError { code: exit::USAGE, message }
    }
}

/// Client options from flags.
pub fn client_options(a: &RequestArgs) -> Result<ClientOptions, UsageError> {
    let overrides = a
        .resolve
        .iter()
        .map(|r| r.parse::<ResolveOverride>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| UsageError::usage(e.to_string()))?;
    let server = a.dns_server.as_deref().map(parse_dns_server).transpose().map_err(UsageError::usage)?;
    let connect_to =
        a.connect_to.iter().map(|r| r.parse::<ConnectTo>()).collect::<Result<Vec<_>, _>>().map_err(|e| UsageError::usage(e.to_string()))?;
    let family = if a.ipv4 {
        IpFamily::V4
    } else if a.ipv6 {
        IpFamily::V6
    } else {
        IpFamily::Any
    };
    let dur = |flag: &str, v: Option<f64>| -> Result<Option<Duration>, UsageError> {
        v.map(|v| seconds(flag, v)).transpose().map_err(UsageError::usage)
    };
    Ok(ClientOptions {
        dns: DnsOptions { server, overrides, family, timeout: None, hosts_file: None },
        cacert: a.cacert.clone(),
        insecure: a.insecure,
        http: if a.http1_1 {
            HttpVersion::Http11
        } else if a.http2_prior_knowledge {
            HttpVersion::Http2PriorKnowledge
        } else if a.http2 {
            HttpVersion::Http2
        } else if a.http3_only {
            HttpVersion::Http3Only
        } else if a.http3 {
            HttpVersion::Http3
        } else {
            HttpVersion::Auto
        },
        connect_timeout: dur("--connect-timeout", a.connect_timeout)?,
        quic_idle_timeout: dur("--quic-idle-timeout", a.quic_idle_timeout)?.unwrap_or(Duration::from_secs(30)),
        compressed: a.compressed,
        max_time: dur("--max-time", a.max_time)?,
        follow_redirects: a.location,
        max_redirects: a.max_redirs,
        show_secrets: a.show_secrets,
        tracing: true,
        // Transmit stamps for single requests; load runs choose in `run` (see there).
        kernel_timestamps: match a.kernel_stamps {
            Some(KernelStampsArg::Off) => httptrace::KernelStamps::Off,
            Some(KernelStampsArg::Receive) => httptrace::KernelStamps::Receive,
            Some(KernelStampsArg::All) | None => httptrace::KernelStamps::All,
        },
        // Narrowed to the plugins' interests once the chain has started.
        record: httptrace::event::KindSet::ALL,
        keep_alive: !a.no_keepalive,
        cookies: cookie_engine(a)?,
        connect_to,
        unix_socket: a.unix_socket.clone(),
        proxy: proxies(a, |name| std::env::var(name).ok())?,
        retry: retry(a)?,
        digest: match (&a.user, a.digest) {
            (Some(user), true) => {
                let (name, password) = user.split_once(':').ok_or_else(|| {
                    UsageError::usage(format!("-u {user}: give USER:PASSWORD (httptrace does not prompt for the password)"))
                })?;
                Some((name.to_string(), password.to_string()))
            }
            _ => None,
        },
        proxy_cacert: a.proxy_cacert.clone(),
        proxy_insecure: a.proxy_insecure,
        client_cert: client_cert(a)?,
        trace_context: trace_context(a)?,
        // Set with the exporter's sampling once the chain has started.
        record_sampled: None,
    })
}

/// `--retry N` and its companions.
fn retry(a: &RequestArgs) -> Result<Option<httptrace::Retry>, UsageError> {
    let Some(max) = a.retry else { return Ok(None) };
    let seconds = |flag: &str, v: Option<f64>| match v {
        None => Ok(None),
        Some(s) if s.is_finite() && (0.0..1e9).contains(&s) => Ok(Some(std::time::Duration::from_secs_f64(s))),
        Some(s) => Err(UsageError::usage(format!("{flag}: '{s}' is not a number of seconds"))),
    };
    Ok(Some(httptrace::Retry {
        max,
        delay: seconds("--retry-delay", a.retry_delay)?,
        max_time: seconds("--retry-max-time", a.retry_max_time)?,
        connrefused: a.retry_connrefused,
        all_errors: a.retry_all_errors,
    }))
}

/// `--propagate`: a `traceparent` on every hop, in `--traceparent`'s trace if given (and
/// `--tracestate` passed on).
fn trace_context(a: &RequestArgs) -> Result<Option<httptrace::TraceContext>, UsageError> {
    let export = &a.plugins.export;
    let parent = match &export.traceparent {
        Some(v) => Some(httptrace_otlp::TraceParent::parse(v).map_err(|why| UsageError::usage(format!("--traceparent: {why}")))?),
        None => None,
    };
    if !a.propagate {
        return Ok(None);
    }
    if let Some(state) = &export.tracestate {
        if http::HeaderValue::from_str(state).is_err() {
            return Err(UsageError::usage(format!("--tracestate: '{state}' is not a valid header value")));
        }
    }
    Ok(Some(httptrace::TraceContext {
        trace_id: parent.map(|p| p.trace_id),
        flags: parent.map_or(1, |p| p.flags),
        tracestate: export.tracestate.clone(),
    }))
}

/// The client certificate of --cert, --key and --cert-type, read and checked now: a bad one
/// exits 58, as curl.
fn client_cert(a: &RequestArgs) -> Result<Option<httptrace::ClientCert>, UsageError> {
    let Some(cert) = &a.cert else { return Ok(None) };
    let der = |flag: &str, v: &Option<String>| match v.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("PEM") => Ok(false),
        Some("DER") => Ok(true),
        Some(_) => Err(UsageError {
            code: exit::CLIENT_CERT,
            message: format!("{flag} {}: not supported (PEM or DER)", v.as_deref().unwrap_or_default()),
        }),
    };
    let (cert, password) = split_cert_password(cert);
    let c = httptrace::ClientCert {
        cert,
        key: a.key.clone(),
        cert_der: der("--cert-type", &a.cert_type)?,
        key_der: der("--key-type", &a.key_type)?,
        password: a.pass.clone().or(password),
    };
    c.check().map_err(|e| UsageError { code: exit::CLIENT_CERT, message: e.to_string() })?;
    Ok(Some(c))
}

/// curl's `--cert FILE[:PASSWORD]`: the first `:` not escaped as `\:` ends the file name
/// (`\:` stands for a `:` in it).
fn split_cert_password(value: &std::path::Path) -> (std::path::PathBuf, Option<String>) {
    let text = value.to_string_lossy();
    let bytes = text.as_bytes();
    let mut file = String::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if bytes.get(i + 1) == Some(&b':') => {
                file.push(':');
                i += 2;
            }
            b':' => return (file.into(), Some(text[i + 1..].to_string())),
            _ => {
                let ch = text[i..].chars().next().unwrap_or_default();
                file.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    (file.into(), None)
}

/// The proxies of -x, --proxy-user, --noproxy and the environment (`env` looks a variable
/// up), by curl's rules: `-x` replaces the environment's proxies (`-x ''` leaves none),
/// `--noproxy` replaces `NO_PROXY`. A bad proxy URL exits 5, as curl.
fn proxies(a: &RequestArgs, env: impl Fn(&str) -> Option<String>) -> Result<httptrace::ProxyConfig, UsageError> {
    use httptrace::{NoProxy, Proxy, ProxyConfig};
    let bad = |e: httptrace::Error| UsageError { code: exit::PROXY_RESOLVE, message: e.to_string() };
    let config = match a.proxy.as_deref().map(str::trim) {
        Some("") => return Ok(ProxyConfig::default()),
        Some(p) => {
            let env_no_proxy = ["no_proxy", "NO_PROXY"].iter().find_map(|n| env(n).filter(|v| !v.trim().is_empty()));
            ProxyConfig::all(p.parse::<Proxy>().map_err(bad)?).with_no_proxy(NoProxy::parse(&env_no_proxy.unwrap_or_default()))
        }
        None => ProxyConfig::from_env(env).map_err(bad)?,
    };
    let config = match &a.proxy_user {
        Some(u) => config.with_credentials(u),
        None => config,
    };
    let config = if a.proxytunnel { config.with_tunnel_all() } else { config };
    Ok(match &a.noproxy {
        Some(list) => config.with_no_proxy(NoProxy::parse(list)),
        None => config,
    })
}

/// The cookie engine of -b FILE / -c FILE (as curl: a -b value without `=` is a file to load,
/// `-b ''` an empty start), or `None`.
fn cookie_engine(a: &RequestArgs) -> Result<Option<std::sync::Arc<httptrace::CookieJar>>, UsageError> {
    let files: Vec<&String> = a.cookie.iter().filter(|c| !c.contains('=')).collect();
    if files.is_empty() && a.cookie_jar.is_none() {
        return Ok(None);
    }
    let mut text = String::new();
    for f in files.iter().filter(|f| !f.is_empty()) {
        let read = if f.as_str() == "-" {
            let mut t = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut t).map(|_| t)
        } else {
            std::fs::read_to_string(f)
        };
        match read {
            Ok(t) => {
                text.push_str(&t);
                text.push('\n');
            }
            // curl goes on without the file (it may be the jar a previous run has not written).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(UsageError { code: exit::READ_ERROR, message: format!("-b {f}: {e}") }),
        }
    }
    Ok(Some(std::sync::Arc::new(httptrace::CookieJar::from_netscape(&text))))
}

/// The requests from flags: one per URL (positional, then `--urls-from-file`), each with the
/// method, headers and body given.
pub fn request_specs(a: &RequestArgs) -> Result<Vec<RequestSpec>, UsageError> {
    let mut urls = a.urls.clone();
    if let Some(path) = &a.load.urls_from_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsageError { code: exit::READ_ERROR, message: format!("--urls-from-file {}: {e}", path.display()) })?;
        urls.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string));
    }
    if urls.is_empty() {
        return Err(UsageError::usage("no URL given".into()));
    }
    let first = request_spec(a, &urls[0])?;
    let mut specs = vec![first.clone()];
    for u in &urls[1..] {
        specs.push(RequestSpec { url: checked_url(u)?, ..first.clone() });
    }
    Ok(specs)
}

/// The subcommands, for telling a mistyped one from a bare host name.
const SUBCOMMANDS: [&str; 7] = ["serve", "plugins", "plugin", "replay", "completions", "man", "help"];

/// A bare word (no dot, colon or slash) that nearly spells a subcommand: almost always a
/// mistyped command, not a host (as git suggests). Other bare words keep curl's rule
/// (`httptrace localhost` is `http://localhost/`).
fn mistyped_subcommand(raw: &str) -> Option<&'static str> {
    if raw.len() < 3 || raw.contains(['.', ':', '/', '@', '[']) {
        return None;
    }
    let word = raw.to_ascii_lowercase();
    // The nearest subcommand within reach (a prefix counts as near).
    SUBCOMMANDS
        .into_iter()
        .filter_map(|cmd| {
            let distance = if cmd.starts_with(&word) { 0 } else { strsim::damerau_levenshtein(&word, cmd) };
            let allowed = if cmd.len() <= 4 { 1 } else { 2 };
            (distance <= allowed).then_some((distance, cmd))
        })
        .min()
        .map(|(_, cmd)| cmd)
}

fn checked_url(raw: &str) -> Result<url::Url, UsageError> {
    if let Some(cmd) = mistyped_subcommand(raw) {
        let message = format!("'{raw}' is not a command; did you mean `httptrace {cmd}`? (for a host of that name, write http://{raw}/)");
        return Err(UsageError::usage(message));
    }
    parse_url(raw).map_err(|e| UsageError {
        code: if e.is_unsupported_scheme() { exit::UNSUPPORTED_PROTOCOL } else { exit::BAD_URL },
        message: e.to_string(),
    })
}

/// The request for `raw` from flags: URL, method, headers, body.
pub fn request_spec(a: &RequestArgs, raw: &str) -> Result<RequestSpec, UsageError> {
    let url = checked_url(raw)?;
    let mut headers = Vec::new();
    for h in &a.headers {
        headers.push(parse_header(h).map_err(UsageError::usage)?);
    }
    // -b NAME=VALUE: a Cookie header of its own (joined to the jar's cookies when both).
    let literal: Vec<&str> = a.cookie.iter().filter(|c| c.contains('=')).map(String::as_str).collect();
    if !literal.is_empty() && !headers.iter().any(|(n, _): &(String, String)| n.eq_ignore_ascii_case("cookie")) {
        headers.push(("cookie".into(), literal.join("; ")));
    }
    let body = match (body(a)?, a.form.is_empty()) {
        (Some(_), false) => {
            return Err(UsageError::usage("-F (multipart) and -d/--json (a plain body) cannot be used together: pick one".into()))
        }
        (plain, true) => plain,
        (None, false) => {
            let (content_type, data) = multipart(&a.form)?;
            if !headers.iter().any(|(n, _): &(String, String)| n.eq_ignore_ascii_case("content-type")) {
                headers.push(("content-type".into(), content_type));
            }
            Some(Bytes::from(data))
        }
    };
    let has = |headers: &[(String, String)], name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    // Defaults go after the user's -H, which win (a header given twice is sent twice).
    let mut defaults: Vec<(String, String)> = Vec::new();
    if let Some(ua) = &a.user_agent {
        defaults.push(("user-agent".into(), ua.clone()));
    }
    if let Some(referer) = &a.referer {
        defaults.push(("referer".into(), referer.clone()));
    }
    if let Some(user) = a.user.as_ref().filter(|_| !a.digest) {
        let (name, password) = user
            .split_once(':')
            .ok_or_else(|| UsageError::usage(format!("-u {user}: give USER:PASSWORD (httptrace does not prompt for the password)")))?;
        use base64::Engine as _;
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}"));
        defaults.push(("authorization".into(), format!("Basic {pair}")));
    }
    if !a.json.is_empty() {
        defaults.push(("content-type".into(), "application/json".into()));
        defaults.push(("accept".into(), "application/json".into()));
    } else if body.is_some() && a.form.is_empty() {
        defaults.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
    }
    for (name, value) in defaults {
        if !has(&headers, &name) {
            headers.push((name, value));
        }
    }
    let method = match &a.method {
        Some(m) => Method::from_bytes(m.as_bytes()).map_err(|_| UsageError::usage(format!("-X '{m}': not a valid HTTP method")))?,
        None if a.head => Method::HEAD,
        None if body.is_some() => Method::POST,
        None => Method::GET,
    };
    if a.head && body.is_some() {
        return Err(UsageError::usage("-I sends a HEAD request, which has no body: drop -d/--json or -I".into()));
    }
    let body = body.unwrap_or_default();
    Ok(RequestSpec { method, url, headers, body })
}

/// `@-` (stdin), `@FILE` or the text itself, for the flag named `flag`.
fn read_data(flag: &str, value: &str) -> Result<Vec<u8>, UsageError> {
    let read_error = |what: &str, e: std::io::Error| UsageError { code: exit::READ_ERROR, message: format!("{flag} @{what}: {e}") };
    match value.strip_prefix('@') {
        Some("-") => {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut data).map_err(|e| read_error("-", e))?;
            Ok(data)
        }
        Some(path) => std::fs::read(path).map_err(|e| read_error(path, e)),
        None => Ok(value.as_bytes().to_vec()),
    }
}

/// The body from -d, --data-binary, --data-urlencode and --json, joined with `&` as curl
/// joins them (by kind, in that order); `None` without any.
fn body(a: &RequestArgs) -> Result<Option<Bytes>, UsageError> {
    let mut parts: Vec<Vec<u8>> = Vec::new();
    for d in &a.data {
        let mut data = read_data("-d", d)?;
        if d.starts_with('@') {
            // curl -d drops a file's carriage returns and newlines.
            data.retain(|b| *b != b'\r' && *b != b'\n');
        }
        parts.push(data);
    }
    for d in &a.data_binary {
        parts.push(read_data("--data-binary", d)?);
    }
    for d in &a.data_urlencode {
        parts.push(urlencoded_part(d)?);
    }
    let mut json = Vec::new();
    for d in &a.json {
        json.extend(read_data("--json", d)?);
    }
    if parts.is_empty() && a.json.is_empty() {
        return Ok(None);
    }
    // The others joined with `&`; --json parts follow as they are, with no `&` (as curl).
    let mut body = parts.join(&b"&"[..]);
    body.extend(json);
    Ok(Some(Bytes::from(body)))
}

/// curl's guess of a file part's type from its extension (else `application/octet-stream`).
fn guessed_type(filename: &str) -> &'static str {
    let ext = filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "gif" => "image/gif",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "txt" => "text/plain",
        "htm" | "html" => "text/html",
        "pdf" => "application/pdf",
        "xml" => "application/xml",
        _ => "application/octet-stream",
    }
}

/// A name for a multipart part header's quoted string: `"` as `%22` and line breaks dropped,
/// as curl writes them, so that a name cannot end the header.
fn quoted(name: &str) -> String {
    name.replace('"', "%22").replace(['\r', '\n'], "")
}

/// The multipart/form-data body of the -F parts, laid out as curl lays it out (its boundary is
/// 24 dashes and 16 hex digits): the Content-Type header value and the body.
fn multipart(parts: &[String]) -> Result<(String, Vec<u8>), UsageError> {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    let boundary = format!("{}{:016x}", "-".repeat(24), h.finish());
    let mut body = Vec::new();
    for part in parts {
        let (name, spec) = part.split_once('=').ok_or_else(|| UsageError::usage(format!("-F {part}: expected NAME=CONTENT")))?;
        let name = quoted(name);
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        if let Some(file) = spec.strip_prefix('@') {
            // `@file;type=T;filename=F`
            let mut fields = file.split(';');
            let path = fields.next().unwrap_or_default();
            let mut filename = std::path::Path::new(path).file_name().map_or(path.to_string(), |f| f.to_string_lossy().into_owned());
            let mut content_type = guessed_type(&filename).to_string();
            for f in fields {
                if let Some(t) = f.strip_prefix("type=") {
                    content_type = t.to_string();
                } else if let Some(n) = f.strip_prefix("filename=") {
                    filename = n.to_string();
                }
            }
            let data = read_data("-F", &format!("@{path}"))?;
            body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n")
                    .as_bytes(),
            );
            body.extend_from_slice(&data);
        } else {
            let data = match spec.strip_prefix('<') {
                Some(path) => read_data("-F", &format!("@{path}"))?,
                None => spec.as_bytes().to_vec(),
            };
            body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes());
            body.extend_from_slice(&data);
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok((format!("multipart/form-data; boundary={boundary}"), body))
}

/// Bytes curl's --data-urlencode keeps as they are (RFC 3986's unreserved): the rest are
/// percent-encoded, but a space becomes `+` (as curl 7.88 sends it: `a+b%26c`).
const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// One --data-urlencode part, curl's forms: `content`, `=content`, `name=content`, `@file`,
/// `name@file`; the content is URL-encoded, the name not.
fn urlencoded_part(spec: &str) -> Result<Vec<u8>, UsageError> {
    let (name, content) = match (spec.find('='), spec.find('@')) {
        (Some(eq), Some(at)) if at < eq => (&spec[..at], read_data("--data-urlencode", &spec[at..])?),
        (None, Some(at)) => (&spec[..at], read_data("--data-urlencode", &spec[at..])?),
        (Some(eq), _) => (&spec[..eq], spec.as_bytes()[eq + 1..].to_vec()),
        (None, None) => ("", spec.as_bytes().to_vec()),
    };
    let encoded = percent_encoding::percent_encode(&content, ESCAPED).to_string().replace("%20", "+");
    Ok(if name.is_empty() { encoded } else { format!("{name}={encoded}") }.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_password_follows_the_first_unescaped_colon() {
        let split = |s: &str| {
            let (f, p) = split_cert_password(std::path::Path::new(s));
            (f.display().to_string(), p)
        };
        assert_eq!(split("/a/c.pem"), ("/a/c.pem".into(), None));
        assert_eq!(split("/a/c.pem:pw:x"), ("/a/c.pem".into(), Some("pw:x".into())));
        assert_eq!(split("/a\\:b/c.pem:pw"), ("/a:b/c.pem".into(), Some("pw".into())));
        assert_eq!(split("/a\\:b.pem"), ("/a:b.pem".into(), None));
        assert_eq!(split("c.pem:"), ("c.pem".into(), Some(String::new())));
    }

    #[test]
    fn data_urlencode_takes_curls_forms() {
        let part = |s: &str| String::from_utf8(urlencoded_part(s).unwrap()).unwrap();
        assert_eq!(part("a b&c~"), "a+b%26c~");
        assert_eq!(part("=x=y"), "x%3Dy");
        assert_eq!(part("name=a b"), "name=a+b");
        assert_eq!(part("k=v@w"), "k=v%40w");
        let dir = std::env::temp_dir().join(format!("httptrace-urlencode-{}", std::process::id()));
        std::fs::write(&dir, "line 1\n").unwrap();
        assert_eq!(part(&format!("f@{}", dir.display())), "f=line+1%0A");
        let _ = std::fs::remove_file(&dir);
        assert_eq!(urlencoded_part("x@/nonexistent/file").unwrap_err().code, exit::READ_ERROR);
    }

    #[test]
    fn multipart_names_cannot_end_their_header() {
        assert_eq!(quoted("a\"b\r\nc"), "a%22bc");
        let (_, body) = multipart(&["we\"ird=1".to_string()]).unwrap();
        assert!(String::from_utf8(body).unwrap().contains("name=\"we%22ird\"\r\n"));
    }
}
