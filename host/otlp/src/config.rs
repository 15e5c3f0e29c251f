//! Where and how to export: the `--otlp` flag and OpenTelemetry's standard environment
//! variables (the OTLP exporter and SDK specifications' names, defaults and precedence).

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::context::TraceParent;
use crate::error::Error;
use httptrace::trace::SampledRecording;

/// The wire protocol to the collector (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// Protobuf messages POSTed over HTTP (`http/protobuf`, the default; port 4318).
    HttpProtobuf,
    /// OTLP/gRPC: the same messages as unary gRPC calls over HTTP/2 (`grpc`; port 4317).
    Grpc,
}

impl Protocol {
    fn parse(name: &str, value: &str) -> Result<Protocol, Error> {
        match value.trim() {
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            "grpc" => Ok(Protocol::Grpc),
            "http/json" => Err(Error::config(name, "http/json is not supported (use http/protobuf or grpc)")),
            other => Err(Error::config(name, format!("unknown protocol '{other}' (use http/protobuf or grpc)"))),
        }
    }

    /// The name the variable uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::Grpc => "grpc",
        }
    }
}

/// The two kinds of data exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metrics.
    Metrics,
}

impl Signal {
    fn upper(self) -> &'static str {
        match self {
            Signal::Traces => "TRACES",
            Signal::Metrics => "METRICS",
        }
    }

    /// The HTTP path of the signal below a base endpoint (`v1/traces`).
    fn http_path(self) -> &'static str {
        match self {
            Signal::Traces => "v1/traces",
            Signal::Metrics => "v1/metrics",
        }
    }

    /// The gRPC method's path.
    pub(crate) fn grpc_path(self) -> &'static str {
        match self {
            Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        }
    }
}

/// Where one signal goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL requests are sent to (for gRPC, its scheme, host and port).
    pub url: Url,
    /// The protocol.
    pub protocol: Protocol,
    /// Extra request headers (`OTEL_EXPORTER_OTLP_HEADERS`), e.g. an API key.
    pub headers: Vec<(String, String)>,
    /// Compress requests with gzip (`OTEL_EXPORTER_OTLP_COMPRESSION=gzip`).
    pub gzip: bool,
}

/// Everything the exporter needs, read from the flags and the environment once.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where spans go.
    pub traces: Endpoint,
    /// Where metrics go.
    pub metrics: Endpoint,
    /// Resource attributes (`service.name`, `service.instance.id`, `OTEL_RESOURCE_ATTRIBUTES`, …).
    pub resource: Vec<(String, String)>,
    /// A PEM file of CA certificates that replaces the system's roots for the collector.
    pub cacert: Option<PathBuf>,
    /// The time one export may take, and the most the final flush may take at exit
    /// (`OTEL_EXPORTER_OTLP_TIMEOUT`, default 10 s).
    pub timeout: Duration,
    /// The most spans held while the collector is slow or away (`OTEL_BSP_MAX_QUEUE_SIZE`,
    /// default 2048); more are dropped and counted.
    pub max_queue: usize,
    /// The most spans per export request (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, default 512).
    pub batch_size: usize,
    /// The longest a span waits for its batch to fill (`OTEL_BSP_SCHEDULE_DELAY`, default 5 s).
    pub schedule_delay: Duration,
    /// How often a long run's metrics are exported (`OTEL_METRIC_EXPORT_INTERVAL`, default
    /// 60 s); they always are at the end.
    pub metric_interval: Duration,
    /// A caller's trace to continue (`--traceparent`): every request span is its child.
    pub parent: Option<TraceParent>,
    /// Which requests' spans are exported (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`);
    /// the metrics count every request. A request's own trace is new and random, so the ratio
    /// is applied to a seeded hash of its request id ([`Config::recording`]), decided before
    /// it starts; a caller's trace (`--traceparent`) is kept or not as a whole.
    pub sampler: Sampler,
    /// The sampler's decision per request, shared with the engine (`ClientOptions::record_sampled`)
    /// so that it records the phases in full only for the requests exported.
    pub recording: SampledRecording,
}

/// The specification's samplers, decided per request from its trace id (and with
/// `--traceparent`, for the `parentbased_*` ones, from the caller's sampled flag).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampler {
    /// The share of traces kept: 1 (`always_on`), 0 (`always_off`), or `traceidratio`'s.
    pub ratio: f64,
    /// A caller's sampled flag decides when there is one (`parentbased_*`, the default).
    pub parent_based: bool,
}

impl Default for Sampler {
    /// `parentbased_always_on`, the specification's default.
    fn default() -> Sampler {
        Sampler { ratio: 1.0, parent_based: true }
    }
}

impl Sampler {
    fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Result<Sampler, Error> {
        let name = "OTEL_TRACES_SAMPLER";
        let Some(v) = var(name) else { return Ok(Sampler::default()) };
        let v = v.trim().to_ascii_lowercase();
        let (parent_based, root) = match v.strip_prefix("parentbased_") {
            Some(root) => (true, root.to_string()),
            None => (false, v.clone()),
        };
        let ratio = match root.as_str() {
            "always_on" => 1.0,
            "always_off" => 0.0,
            "traceidratio" => match var("OTEL_TRACES_SAMPLER_ARG") {
                None => 1.0,
                Some(a) => match a.trim().parse::<f64>() {
                    Ok(r) if (0.0..=1.0).contains(&r) => r,
                    _ => return Err(Error::config("OTEL_TRACES_SAMPLER_ARG", format!("'{a}' is not a ratio from 0 to 1"))),
                },
            },
            _ => {
                return Err(Error::config(
                    name,
                    format!("'{v}' is not supported (always_on, always_off, traceidratio, or parentbased_ with one of them)"),
                ))
            }
        };
        Ok(Sampler { ratio, parent_based })
    }

    /// Whether the spans of a request in `trace_id` are exported.
    pub fn sample(&self, trace_id: &[u8; 16], parent: Option<&TraceParent>) -> bool {
        if let (true, Some(p)) = (self.parent_based, parent) {
            return p.flags & 1 == 1;
        }
        if self.ratio >= 1.0 {
            return true;
        }
        // The trace id's last 8 bytes, 63 bits of them, against the ratio (as the SDKs do).
        let mut low = [0u8; 8];
        low.copy_from_slice(&trace_id[8..]);
        let x = u64::from_be_bytes(low) >> 1;
        (x as f64) < self.ratio * (1u64 << 63) as f64
    }
}

/// What the command line says about export.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--otlp URL`: the base endpoint; it takes the place of every `*_ENDPOINT` variable.
    pub endpoint: Option<String>,
    /// `--otlp-cacert FILE` (before `OTEL_EXPORTER_OTLP_CERTIFICATE`).
    pub cacert: Option<PathBuf>,
    /// `--traceparent VALUE`.
    pub traceparent: Option<String>,
}

impl Config {
    /// Reads the flags and the variables `env` gives. `Ok(None)`: export is off (no `--otlp`
    /// and no endpoint variable, or `OTEL_SDK_DISABLED=true`). Every bad value is an error
    /// naming the flag or variable.
    pub fn new(flags: &Flags, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Config>, Error> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if flags.endpoint.is_none() && var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let any_env = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"]
            .iter()
            .any(|n| var(n).is_some());
        if flags.endpoint.is_none() && !any_env {
            return Ok(None);
        }
        let endpoint = |signal: Signal| -> Result<Endpoint, Error> {
            let specific = format!("OTEL_EXPORTER_OTLP_{}_PROTOCOL", signal.upper());
            let protocol = match var(&specific) {
                Some(v) => Protocol::parse(&specific, &v)?,
                None => match var("OTEL_EXPORTER_OTLP_PROTOCOL") {
                    Some(v) => Protocol::parse("OTEL_EXPORTER_OTLP_PROTOCOL", &v)?,
                    None => Protocol::HttpProtobuf,
                },
            };
            let specific = format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", signal.upper());
            let url = match (&flags.endpoint, var(&specific), var("OTEL_EXPORTER_OTLP_ENDPOINT")) {
                (Some(base), _, _) => signal_url(&parse_url("--otlp", base)?, signal, protocol),
                (None, Some(full), _) => parse_url(&specific, &full)?,
                (None, None, Some(base)) => signal_url(&parse_url("OTEL_EXPORTER_OTLP_ENDPOINT", &base)?, signal, protocol),
                (None, None, None) => {
                    let port = if protocol == Protocol::Grpc { 4317 } else { 4318 };
                    let base = Url::parse(&format!("http://localhost:{port}")).expect("a valid URL");
                    signal_url(&base, signal, protocol)
                }
            };
            let mut headers = match var("OTEL_EXPORTER_OTLP_HEADERS") {
                Some(v) => parse_pairs("OTEL_EXPORTER_OTLP_HEADERS", &v)?,
                None => Vec::new(),
            };
            let mut specific = format!("OTEL_EXPORTER_OTLP_{}_HEADERS", signal.upper());
            if var(&specific).is_none() {
                specific = "OTEL_EXPORTER_OTLP_HEADERS".into();
            }
            if let Some(v) = var(&specific).filter(|_| specific != "OTEL_EXPORTER_OTLP_HEADERS") {
                for (k, v) in parse_pairs(&specific, &v)? {
                    headers.retain(|(name, _)| !name.eq_ignore_ascii_case(&k));
                    headers.push((k, v));
                }
            }
            for (k, v) in &headers {
                if http::HeaderName::from_bytes(k.as_bytes()).is_err() || http::HeaderValue::from_str(v).is_err() {
                    // The value may be a credential: only its name is shown.
                    return Err(Error::config(&specific, format!("'{k}' is not a valid header name, or its value not a valid value")));
                }
            }
            let specific = format!("OTEL_EXPORTER_OTLP_{}_COMPRESSION", signal.upper());
            let (name, value) = match var(&specific) {
                Some(v) => (specific, Some(v)),
                None => ("OTEL_EXPORTER_OTLP_COMPRESSION".to_string(), var("OTEL_EXPORTER_OTLP_COMPRESSION")),
            };
            let gzip = match value.as_deref().map(str::trim) {
                None | Some("none") => false,
                Some("gzip") => true,
                Some(other) => return Err(Error::config(&name, format!("'{other}' is not supported (gzip or none)"))),
            };
            Ok(Endpoint { url, protocol, headers, gzip })
        };
        let traces = endpoint(Signal::Traces)?;
        let metrics = endpoint(Signal::Metrics)?;
        let millis = |name: &str, default: u64| -> Result<Duration, Error> {
            match var(name) {
                None => Ok(Duration::from_millis(default)),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
                    _ => Err(Error::config(name, format!("'{v}' is not a positive number of milliseconds"))),
                },
            }
        };
        let count = |name: &str, default: usize| -> Result<usize, Error> {
            match var(name) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<usize>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(Error::config(name, format!("'{v}' is not a positive number"))),
                },
            }
        };
        let max_queue = count("OTEL_BSP_MAX_QUEUE_SIZE", 2048)?;
        let batch_size = count("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)?.min(max_queue);
        let parent = match &flags.traceparent {
            Some(v) => Some(TraceParent::parse(v).map_err(|why| Error::config("--traceparent", why))?),
            None => None,
        };
        let sampler = Sampler::from_env(&var)?;
        // The share of requests exported: a caller's trace is kept or not as a whole.
        let share = match parent {
            Some(p) if sampler.parent_based => f64::from(p.flags & 1),
            Some(p) => f64::from(u8::from(sampler.sample(&p.trace_id, None))),
            None => sampler.ratio,
        };
        let cacert = flags.cacert.clone().or_else(|| var("OTEL_EXPORTER_OTLP_CERTIFICATE").map(PathBuf::from));
        Ok(Some(Config {
            traces,
            metrics,
            resource: resource(&var)?,
            cacert,
            timeout: millis("OTEL_EXPORTER_OTLP_TIMEOUT", 10_000)?,
            max_queue,
            batch_size,
            schedule_delay: millis("OTEL_BSP_SCHEDULE_DELAY", 5_000)?,
            metric_interval: millis("OTEL_METRIC_EXPORT_INTERVAL", 60_000)?,
            parent,
            sampler,
            recording: SampledRecording::new(crate::INTEREST, share),
        }))
    }
}

/// The resource: `service.name` (`OTEL_SERVICE_NAME`, else `OTEL_RESOURCE_ATTRIBUTES`, else
/// `httptrace`), `service.instance.id` (random per process unless given), the SDK's and the
/// process's attributes, then the rest of `OTEL_RESOURCE_ATTRIBUTES`.
fn resource(var: &dyn Fn(&str) -> Option<String>) -> Result<Vec<(String, String)>, Error> {
    let mut given = match var("OTEL_RESOURCE_ATTRIBUTES") {
        Some(v) => parse_pairs("OTEL_RESOURCE_ATTRIBUTES", &v)?,
        None => Vec::new(),
    };
    let mut take = |key: &str| given.iter().position(|(k, _)| k == key).map(|i| given.remove(i).1);
    let name =
        var("OTEL_SERVICE_NAME").map(|s| s.trim().to_string()).or_else(|| take("service.name")).unwrap_or_else(|| "httptrace".into());
    let instance = take("service.instance.id").unwrap_or_else(random_uuid);
    let mut out = vec![
        ("service.name".to_string(), name),
        ("service.instance.id".to_string(), instance),
        ("service.version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ("telemetry.sdk.name".to_string(), "httptrace".to_string()),
        ("telemetry.sdk.language".to_string(), "rust".to_string()),
        ("telemetry.sdk.version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ("process.pid".to_string(), std::process::id().to_string()),
    ];
    for (k, v) in given {
        out.retain(|(key, _)| *key != k);
        out.push((k, v));
    }
    Ok(out)
}

/// A random version-4 UUID, the form `service.instance.id` suggests.
fn random_uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// `value` for a message: anything between `://` and `@` (a user and password) masked.
fn shown(value: &str) -> String {
    match (value.find("://"), value.rfind('@')) {
        (Some(s), Some(at)) if at > s + 3 => format!("{}[redacted]{}", &value[..s + 3], &value[at..]),
        _ => value.to_string(),
    }
}

fn parse_url(name: &str, value: &str) -> Result<Url, Error> {
    let url = Url::parse(value.trim()).map_err(|e| Error::config(name, format!("'{}' is not a URL: {e}", shown(value))))?;
    let value = shown(value);
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => Ok(url),
        "http" | "https" => Err(Error::config(name, format!("'{value}' has no host"))),
        other => Err(Error::config(name, format!("'{value}': the scheme must be http or https, not {other}"))),
    }
}

/// A base endpoint's URL for one signal: `v1/traces` appended to its path for HTTP, the URL
/// as given for gRPC (whose method fixes the path).
fn signal_url(base: &Url, signal: Signal, protocol: Protocol) -> Url {
    if protocol == Protocol::Grpc {
        return base.clone();
    }
    let mut url = base.clone();
    let path = base.path().trim_end_matches('/');
    url.set_path(&format!("{path}/{}", signal.http_path()));
    url
}

/// `k1=v1,k2=v2` with percent-encoded values (the W3C Baggage form the specification uses for
/// headers and resource attributes).
fn parse_pairs(name: &str, value: &str) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((k, v)) = item.split_once('=') else {
            // Headers carry credentials: their items are not shown.
            let what = if name.contains("HEADERS") { "an item".to_string() } else { format!("'{item}'") };
            return Err(Error::config(name, format!("{what} is not KEY=VALUE")));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(Error::config(name, "an item has an empty key"));
        }
        let v = percent_encoding::percent_decode_str(v.trim())
            .decode_utf8()
            .map_err(|_| Error::config(name, format!("the value of '{k}' is not UTF-8 once decoded")))?;
        out.push((k.to_string(), v.into_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(flags: Flags, vars: &[(&str, &str)]) -> Result<Option<Config>, Error> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::new(&flags, &move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn off_without_an_endpoint_or_when_disabled() {
        assert!(config(Flags::default(), &[("OTEL_SERVICE_NAME", "x")]).unwrap().is_none());
        assert!(config(Flags::default(), &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_SDK_DISABLED", "true")])
            .unwrap()
            .is_none());
    }

    #[test]
    fn endpoints_follow_the_specification() {
        let c = config(Flags::default(), &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/base/")]).unwrap().unwrap();
        assert_eq!(c.traces.url.as_str(), "http://c:4318/base/v1/traces");
        assert_eq!(c.metrics.url.as_str(), "http://c:4318/base/v1/metrics");
        let c = config(
            Flags::default(),
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://t:1/custom")],
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.traces.url.as_str(), "https://t:1/custom");
        assert_eq!(c.metrics.url.as_str(), "http://c:4318/v1/metrics");
        let flags = Flags { endpoint: Some("http://f:9".into()), ..Flags::default() };
        let c = config(flags, &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:1/x"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")])
            .unwrap()
            .unwrap();
        assert_eq!((c.traces.url.as_str(), c.traces.protocol), ("http://f:9/", Protocol::Grpc));
    }

    #[test]
    fn headers_and_resource_attributes_are_decoded() {
        let c = config(
            Flags::default(),
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b, x=1"),
                ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "X=2"),
                ("OTEL_RESOURCE_ATTRIBUTES", "service.name=probe,region=eu%2Dwest,service.instance.id=i-1"),
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.traces.headers, [("api-key".to_string(), "a b".to_string()), ("x".to_string(), "1".to_string())]);
        assert_eq!(c.metrics.headers, [("api-key".to_string(), "a b".to_string()), ("X".to_string(), "2".to_string())]);
        let get = |k: &str| c.resource.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!((get("service.name"), get("region"), get("service.instance.id")), (Some("probe"), Some("eu-west"), Some("i-1")));
    }

    #[test]
    fn samplers_keep_their_share_and_follow_the_parent() {
        let s = |v: &str, arg: &str| {
            let c = config(
                Flags::default(),
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"), ("OTEL_TRACES_SAMPLER", v), ("OTEL_TRACES_SAMPLER_ARG", arg)],
            );
            c.unwrap().unwrap().sampler
        };
        let ratio = s("traceidratio", "0.25");
        let kept = (0..4000).filter(|_| ratio.sample(&crate::context::new_trace_id(), None)).count();
        assert!((850..1150).contains(&kept), "{kept} of 4000 at 25 %");
        assert!(!s("always_off", "").sample(&[1; 16], None));
        let unsampled = TraceParent { trace_id: [1; 16], span_id: [1; 8], flags: 0 };
        assert!(!s("parentbased_always_on", "").sample(&[1; 16], Some(&unsampled)));
        assert!(s("always_on", "").sample(&[1; 16], Some(&unsampled)));
        assert!(config(Flags::default(), &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"), ("OTEL_TRACES_SAMPLER", "jaeger_remote")]).is_err());
    }

    #[test]
    fn bad_values_name_their_variable() {
        let bad = |vars: &[(&str, &str)], name: &str| {
            let e = config(Flags::default(), vars).unwrap_err();
            assert!(e.is_config() && e.to_string().contains(name), "{e}");
        };
        bad(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "c:4318")], "OTEL_EXPORTER_OTLP_ENDPOINT");
        bad(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")], "http/json");
        bad(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"), ("OTEL_EXPORTER_OTLP_HEADERS", "novalue")], "OTEL_EXPORTER_OTLP_HEADERS");
        bad(
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"), ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "a=x%0Ay")],
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        );
        bad(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"), ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")], "OTEL_EXPORTER_OTLP_COMPRESSION");
        // Credentials are never echoed.
        for (k, v) in
            [("OTEL_EXPORTER_OTLP_HEADERS", "Authorization: Bearer s3cret"), ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://u:s3cret@c/")]
        {
            let e = config(Flags::default(), &[(k, v), ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c")]).unwrap_err();
            assert!(!e.to_string().contains("s3cret"), "{e}");
        }
        bad(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"), ("OTEL_BSP_MAX_QUEUE_SIZE", "-1")], "OTEL_BSP_MAX_QUEUE_SIZE");
        bad(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"), ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon")], "OTEL_EXPORTER_OTLP_TIMEOUT");
    }
}
