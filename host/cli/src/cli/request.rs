//! Turns request flags into client options and a request.

use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http::Method;

use super::args::{KernelStampsArg, RequestArgs};
use httptrace::engine::parse_url;
use httptrace::engine::{DnsOptions, IpFamily, ResolveOverride};
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
    fn usage(message: String) -> UsageError {
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
        } else {
            HttpVersion::Auto
        },
        connect_timeout: dur("--connect-timeout", a.connect_timeout)?,
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
    })
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
    let body = match a.data.as_deref() {
        None => Bytes::new(),
        Some(d) => match d.strip_prefix('@') {
            Some(path) => Bytes::from(
                std::fs::read(path)
                    .with_context(|| format!("--data @{path}"))
                    .map_err(|e| UsageError { code: exit::READ_ERROR, message: format!("{e:#}") })?,
            ),
            None => Bytes::from(d.to_string()),
        },
    };
    if a.data.is_some() && !headers.iter().any(|(n, _): &(String, String)| n.eq_ignore_ascii_case("content-type")) {
        headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
    }
    let method = match &a.method {
        Some(m) => Method::from_bytes(m.as_bytes()).map_err(|_| UsageError::usage(format!("-X '{m}': not a valid HTTP method")))?,
        None if a.data.is_some() => Method::POST,
        None => Method::GET,
    };
    Ok(RequestSpec { method, url, headers, body })
}
