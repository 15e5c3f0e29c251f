//! Name resolution with hickory-resolver: system configuration and `/etc/hosts` by default,
//! `--dns-server`, curl's `--resolve` overrides, IP literals without a lookup, and coalescing of
//! concurrent identical lookups.
//!
//! The hosts file is read here, first, as getaddrinfo, curl and Go do: a name it lists gets
//! exactly its addresses (hickory would add `::1` to a `localhost` the file maps to 127.0.0.1
//! only, and every trace would start with a failed connect).
//!
//! `coalesced` (Go's meaning): every lookup whose answer was shared with another concurrent
//! lookup of the same name is marked, the one that asked included.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use tokio::sync::OnceCell;

use crate::event::{EventKind, FailureKind, Phase, TraceError};
use crate::trace::Trace;

/// Which address families to use (`-4`, `-6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpFamily {
    /// Both, IPv6 and IPv4 interleaved by Happy Eyeballs.
    #[default]
    Any,
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
}

impl IpFamily {
    /// Whether `ip` is allowed.
    pub fn allows(self, ip: &IpAddr) -> bool {
        match self {
            IpFamily::Any => true,
            IpFamily::V4 => ip.is_ipv4(),
            IpFamily::V6 => ip.is_ipv6(),
        }
    }
}

/// One `--resolve host:port:addr[,addr…]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveOverride {
    /// Host name (case-insensitive).
    pub host: String,
    /// Port, or 0 for any (curl's `*`).
    pub port: u16,
    /// Addresses to use instead of a lookup.
    pub addrs: Vec<IpAddr>,
}

impl std::str::FromStr for ResolveOverride {
    type Err = crate::Error;

    /// Parses curl's `host:port:addr[,addr…]`; IPv6 addresses may be bracketed. A malformed
    /// one is a configuration error ([`Error::is_config`](crate::Error::is_config)).
    fn from_str(s: &str) -> Result<Self, crate::Error> {
        Self::parse(s).map_err(crate::Error::config)
    }
}

impl ResolveOverride {
    fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("--resolve '{s}': expected HOST:PORT:ADDR[,ADDR...]");
        let (host, rest) = s.split_once(':').ok_or_else(bad)?;
        let (port, addrs) = rest.split_once(':').ok_or_else(bad)?;
        if host.is_empty() {
            return Err(bad());
        }
        let port = if port == "*" { 0 } else { port.parse::<u16>().map_err(|_| format!("--resolve '{s}': bad port '{port}'"))? };
        let addrs = addrs
            .split(',')
            .map(|a| {
                let a = a.trim().trim_start_matches('[').trim_end_matches(']');
                a.parse::<IpAddr>().map_err(|_| format!("--resolve '{s}': '{a}' is not an IP address"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ResolveOverride { host: host.to_ascii_lowercase(), port, addrs })
    }
}

/// How to resolve names.
#[derive(Debug, Clone, Default)]
pub struct DnsOptions {
    /// Name server to ask instead of the system's (`--dns-server`).
    pub server: Option<SocketAddr>,
    /// `--resolve` overrides.
    pub overrides: Vec<ResolveOverride>,
    /// Address families.
    pub family: IpFamily,
    /// Per-query timeout of the resolver (default 5 s).
    pub timeout: Option<Duration>,
    /// The hosts file consulted before DNS when no `server` is given: `None` for the system's
    /// (`/etc/hosts` on Unix, none elsewhere).
    pub hosts_file: Option<PathBuf>,
}

/// The system's hosts file.
fn system_hosts_file() -> Option<PathBuf> {
    if cfg!(unix) {
        Some(PathBuf::from("/etc/hosts"))
    } else {
        None
    }
}

/// Reads a hosts file: each name (lower case) with its addresses in file order. A missing or
/// unreadable file is an empty one (as for getaddrinfo).
fn read_hosts(path: &Path) -> HashMap<String, Vec<IpAddr>> {
    let mut out: HashMap<String, Vec<IpAddr>> = HashMap::new();
    let Ok(text) = std::fs::read_to_string(path) else { return out };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let Some(Ok(ip)) = words.next().map(|w| w.parse::<IpAddr>()) else { continue };
        for name in words {
            let addrs = out.entry(name.trim_end_matches('.').to_ascii_lowercase()).or_default();
            if !addrs.contains(&ip) {
                addrs.push(ip);
            }
        }
    }
    out
}

type Answer = Result<Vec<IpAddr>, TraceError>;

/// The resolver of one client.
pub struct Resolver {
    inner: hickory_resolver::Resolver<TokioRuntimeProvider>,
    opts: DnsOptions,
    /// The hosts file's names (empty with `--dns-server`).
    hosts: HashMap<String, Vec<IpAddr>>,
    inflight: Mutex<HashMap<String, Arc<Lookup>>>,
}

/// One lookup in flight: its answer, and how many other lookups joined it.
#[derive(Default)]
struct Lookup {
    answer: OnceCell<Answer>,
    joined: AtomicUsize,
}

/// What a resolution gave.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Addresses in the resolver's order.
    pub addrs: Vec<IpAddr>,
}

impl Resolver {
    /// Builds a resolver: the system configuration (and hosts file), or `opts.server`.
    pub fn new(opts: DnsOptions) -> Result<Resolver, crate::Error> {
        let config = |m: String| crate::Error::config(m);
        let mut builder = match opts.server {
            Some(server) => {
                let mut ns = NameServerConfig::udp_and_tcp(server.ip());
                for c in &mut ns.connections {
                    c.port = server.port();
                }
                hickory_resolver::Resolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![ns]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => {
                hickory_resolver::Resolver::builder_tokio().map_err(|e| config(format!("cannot read the system DNS configuration: {e}")))?
            }
        };
        let o = builder.options_mut();
        o.ip_strategy = match opts.family {
            IpFamily::Any => LookupIpStrategy::Ipv6AndIpv4,
            IpFamily::V4 => LookupIpStrategy::Ipv4Only,
            IpFamily::V6 => LookupIpStrategy::Ipv6Only,
        };
        if let Some(t) = opts.timeout {
            o.timeout = t;
        }
        if opts.server.is_some() {
            o.attempts = 1;
        }
        let inner = builder.build().map_err(|e| config(format!("cannot build the DNS resolver: {e}")))?;
        let hosts = match (&opts.server, &opts.hosts_file) {
            (Some(_), _) => HashMap::new(),
            (None, Some(path)) => read_hosts(path),
            (None, None) => system_hosts_file().map(|p| read_hosts(&p)).unwrap_or_default(),
        };
        Ok(Resolver { inner, opts, hosts, inflight: Mutex::new(HashMap::new()) })
    }

    /// Resolves `host` for `port`, emitting dns-start/dns-done when a lookup happens
    /// (not for IP literals or `--resolve` overrides); `proxy` names the proxy in them when
    /// `host` is its name.
    pub async fn resolve(&self, trace: &Trace, conn: u64, host: &str, port: u16, proxy: Option<&str>) -> Result<Resolved, TraceError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            if !self.opts.family.allows(&ip) {
                return Err(dns_error(FailureKind::Family, format!("{ip} is not of the requested address family")));
            }
            return Ok(Resolved { addrs: vec![ip] });
        }
        let lower = host.to_ascii_lowercase();
        if let Some(o) = self.opts.overrides.iter().find(|o| o.host == lower && (o.port == port || o.port == 0)) {
            let addrs: Vec<IpAddr> = o.addrs.iter().copied().filter(|a| self.opts.family.allows(a)).collect();
            return Ok(Resolved { addrs });
        }

        trace.emit(Some(conn), EventKind::DnsStart { host: host.to_string(), proxy: proxy.map(str::to_string) });
        if let Some(listed) = self.hosts.get(lower.trim_end_matches('.')) {
            let addrs: Vec<IpAddr> = listed.iter().copied().filter(|a| self.opts.family.allows(a)).collect();
            if !addrs.is_empty() {
                trace.emit(
                    Some(conn),
                    EventKind::DnsDone { addrs: addrs.clone(), coalesced: false, error: None, proxy: proxy.map(str::to_string) },
                );
                return Ok(Resolved { addrs });
            }
        }
        let (lookup, leader) = {
            let mut map = self.inflight.lock().unwrap();
            match map.get(&lower) {
                Some(l) => {
                    l.joined.fetch_add(1, Ordering::Relaxed);
                    (l.clone(), false)
                }
                None => {
                    let l = Arc::new(Lookup::default());
                    map.insert(lower.clone(), l.clone());
                    (l, true)
                }
            }
        };
        let answer = lookup.answer.get_or_init(|| self.lookup(&lower)).await.clone();
        let done_at = trace.now_ns();
        if leader {
            // No one joins once it is out of the map: the count below is final.
            self.inflight.lock().unwrap().remove(&lower);
        }
        let coalesced = !leader || lookup.joined.load(Ordering::Relaxed) > 0;
        let (addrs, error) = match &answer {
            Ok(a) => (a.clone(), None),
            Err(e) => (Vec::new(), Some(e.clone())),
        };
        trace.emit_at(done_at, trace.hop(), Some(conn), EventKind::DnsDone { addrs, coalesced, error, proxy: proxy.map(str::to_string) });
        answer.map(|addrs| Resolved { addrs })
    }

    async fn lookup(&self, host: &str) -> Answer {
        match self.inner.lookup_ip(host).await {
            Ok(found) => {
                let addrs: Vec<IpAddr> = found.iter().collect();
                if addrs.is_empty() {
                    Err(dns_error(FailureKind::NoAddress, format!("{host} has no address")))
                } else {
                    Ok(addrs)
                }
            }
            Err(e) => Err(classify(host, &e)),
        }
    }
}

fn classify(host: &str, e: &hickory_resolver::net::NetError) -> TraceError {
    use hickory_resolver::net::NetError;
    use hickory_resolver::proto::op::ResponseCode;
    let kind = if e.is_nx_domain() {
        FailureKind::Nxdomain
    } else if e.is_no_records_found() {
        FailureKind::NoAddress
    } else {
        match e {
            NetError::Timeout => FailureKind::Timeout,
            NetError::Dns(hickory_resolver::net::DnsError::ResponseCode(ResponseCode::ServFail)) => FailureKind::Servfail,
            NetError::Dns(hickory_resolver::net::DnsError::ResponseCode(ResponseCode::Refused)) => FailureKind::Refused,
            NetError::Dns(_) => FailureKind::ErrorResponse,
            _ => FailureKind::Failed,
        }
    };
    let message = match kind {
        FailureKind::Nxdomain => format!("could not resolve host {host}: no such domain"),
        FailureKind::NoAddress => format!("could not resolve host {host}: no address records"),
        FailureKind::Timeout => format!("could not resolve host {host}: the name server did not answer"),
        FailureKind::Servfail => format!("could not resolve host {host}: the name server failed (SERVFAIL)"),
        _ => format!("could not resolve host {host}: {e}"),
    };
    dns_error(kind, message)
}

fn dns_error(kind: FailureKind, message: String) -> TraceError {
    TraceError::new(Phase::Dns, kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_curl_resolve_syntax() {
        let o: ResolveOverride = "Example.com:443:127.0.0.1,[::1]".parse().unwrap();
        assert_eq!(o.host, "example.com");
        assert_eq!(o.port, 443);
        assert_eq!(o.addrs, vec!["127.0.0.1".parse::<IpAddr>().unwrap(), "::1".parse().unwrap()]);
        assert_eq!("h:*:10.0.0.1".parse::<ResolveOverride>().unwrap().port, 0);
        assert!("h:443".parse::<ResolveOverride>().is_err());
        assert!("h:x:1.2.3.4".parse::<ResolveOverride>().is_err());
        assert!("h:1:notanip".parse::<ResolveOverride>().is_err());
    }
}
