//! The filter's configuration: which kinds of event, and which requests, to keep.

use httptrace_guest::{Config, Interest, Marks, Timings};

/// Every key the filter understands.
pub const KEYS: &[&str] = &[
    "kind",
    "host",
    "url",
    "status",
    "failed",
    "min-total",
    "min-blocked",
    "min-dns",
    "min-connect",
    "min-ssl",
    "min-send",
    "min-wait",
    "min-receive",
];

/// Reads one phase out of [`Timings`].
type PhaseField = fn(&Timings) -> f64;

/// HAR phases that `min-PHASE` accepts, with their field in [`Timings`].
const PHASES: &[(&str, PhaseField)] = &[
    ("blocked", |t| t.blocked),
    ("dns", |t| t.dns),
    ("connect", |t| t.connect),
    ("ssl", |t| t.ssl),
    ("send", |t| t.send),
    ("wait", |t| t.wait),
    ("receive", |t| t.receive),
];

/// A status to match: one code or a class (`4xx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusSpec {
    /// Exactly this code.
    Code(u16),
    /// Any code whose first digit is this.
    Class(u16),
}

impl StatusSpec {
    fn parse(s: &str) -> Option<StatusSpec> {
        let b = s.as_bytes();
        if b.len() != 3 || !(b'1'..=b'5').contains(&b[0]) {
            return None;
        }
        if s[1..].eq_ignore_ascii_case("xx") {
            return Some(StatusSpec::Class(u16::from(b[0] - b'0')));
        }
        s.parse().ok().map(StatusSpec::Code)
    }

    fn matches(self, status: u16) -> bool {
        match self {
            StatusSpec::Code(c) => status == c,
            StatusSpec::Class(c) => status / 100 == c,
        }
    }
}

/// What a request looks like once its events were seen.
#[derive(Debug, Default)]
pub struct RequestFacts {
    /// URL of every hop (request-start), and the final one (request-done).
    pub urls: Vec<String>,
    /// Final status: request-done's, else the last response-headers'.
    pub status: Option<u16>,
    /// request-done arrived: whether it failed, its timings and marks.
    pub done: Option<(bool, Timings, Marks)>,
}

/// The parsed configuration.
#[derive(Debug)]
pub struct Criteria {
    /// Kinds to keep (all when `kind` is not given).
    pub kinds: Interest,
    hosts: Vec<String>,
    urls: Vec<String>,
    statuses: Vec<StatusSpec>,
    failed: Option<bool>,
    min_total_ms: Option<f64>,
    min_phase_ms: Vec<(PhaseField, f64)>,
}

impl Criteria {
    /// Parses and checks the configuration; errors name the key and the value.
    pub fn from_config(config: &Config) -> Result<Criteria, String> {
        config.unknown_keys(KEYS)?;
        let list = |key: &'static str| config.all(key).flat_map(|v| v.split(',')).map(str::trim).filter(|v| !v.is_empty());
        let kinds = if config.contains("kind") {
            Interest::from_names(list("kind")).map_err(|e| format!("config `kind`: {e}"))?
        } else {
            Interest::all()
        };
        let statuses = list("status")
            .map(|s| {
                StatusSpec::parse(s)
                    .ok_or_else(|| format!("config `status`: invalid value `{s}`: expected a code such as 404 or a class such as 4xx"))
            })
            .collect::<Result<_, _>>()?;
        let ms = |key: &str| config.duration(key).map(|d| d.map(|ns| ns as f64 / 1e6));
        let mut min_phase_ms = Vec::new();
        for (phase, field) in PHASES {
            if let Some(v) = ms(&format!("min-{phase}"))? {
                min_phase_ms.push((*field, v));
            }
        }
        Ok(Criteria {
            kinds,
            hosts: config.all("host").map(str::to_ascii_lowercase).collect(),
            urls: config.all("url").map(String::from).collect(),
            statuses,
            failed: config.flag("failed")?,
            min_total_ms: ms("min-total")?,
            min_phase_ms,
        })
    }

    /// Whether any criterion looks at requests (rather than only at kinds).
    pub fn judges_requests(&self) -> bool {
        !self.hosts.is_empty()
            || !self.urls.is_empty()
            || !self.statuses.is_empty()
            || self.failed.is_some()
            || self.min_total_ms.is_some()
            || !self.min_phase_ms.is_empty()
    }

    /// Whether a request passes every request criterion (each key: any of its values).
    pub fn matches(&self, r: &RequestFacts) -> bool {
        let any_url =
            |pats: &[String], f: &dyn Fn(&str, &str) -> bool| pats.is_empty() || r.urls.iter().any(|u| pats.iter().any(|p| f(p, u)));
        let host_ok = any_url(&self.hosts, &|p, u| url_host(u).is_some_and(|h| glob(p, &h.to_ascii_lowercase())));
        let url_ok = any_url(&self.urls, &|p, u| glob(p, u));
        let status_ok = self.statuses.is_empty() || r.status.is_some_and(|s| self.statuses.iter().any(|spec| spec.matches(s)));
        let needs_done = self.failed.is_some() || self.min_total_ms.is_some() || !self.min_phase_ms.is_empty();
        let done_ok = match (&r.done, needs_done) {
            (_, false) => true,
            (None, true) => false,
            (Some((failed, timings, marks)), true) => {
                self.failed.is_none_or(|want| want == *failed)
                    && self.min_total_ms.is_none_or(|min| marks.total * 1e3 >= min)
                    && self.min_phase_ms.iter().all(|(field, min)| field(timings) >= *min)
            }
        };
        host_ok && url_ok && status_ok && done_ok
    }
}

/// The host of an absolute URL, without port, user info or IPv6 brackets.
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host_port.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map(|(h, _)| h),
        None => host_port.split(':').next(),
    }
}

/// Glob match: `*` is any run of characters (also none), `?` any one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it currently stands for the end of.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}
