//! A run's metrics: `http.client.request.duration` and one histogram per phase as OTLP
//! base-2 exponential histograms (which a backend merges across instances without error),
//! and request and error counters; all cumulative from the run's start.

use std::collections::HashMap;

use opentelemetry_proto::tonic::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric, number_data_point, AggregationTemporality, ExponentialHistogram,
    ExponentialHistogramDataPoint, Metric, NumberDataPoint, Sum,
};

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};

use crate::spans::{kv, kv_int, server_of, ErrorType, RequestFacts};

/// Most buckets per histogram (the SDK specification's default).
const MAX_SIZE: usize = 160;
/// The finest scale used (the specification's maximum).
const MAX_SCALE: i32 = 20;
/// Most attribute sets per metric (and URLs remembered); the rest go to one
/// `otel.metric.overflow` series.
const MAX_SERIES: usize = 2000;

/// A base-2 exponential histogram of positive values (OTel data model): bucket `i` at scale
/// `s` holds (2^(i/2^s), 2^((i+1)/2^s)]; the scale falls as the range grows so that at most
/// [`MAX_SIZE`] buckets are used.
#[derive(Debug, Clone)]
pub(crate) struct ExpHistogram {
    scale: i32,
    zero_count: u64,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    offset: i32,
    counts: Vec<u64>,
}

impl Default for ExpHistogram {
    fn default() -> ExpHistogram {
        ExpHistogram {
            scale: MAX_SCALE,
            zero_count: 0,
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            offset: 0,
            counts: Vec::new(),
        }
    }
}

/// The bucket of `v` (> 0, normal) at `scale`: exact for powers of two, by logarithm
/// otherwise (the specification's two methods).
fn index(v: f64, scale: i32) -> i32 {
    let bits = v.to_bits();
    // v = 1.m × 2^e
    let e = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let exact = bits & ((1u64 << 52) - 1) == 0;
    if scale > 0 {
        if exact {
            return (e << scale) - 1;
        }
        let factor = std::f64::consts::LOG2_E * f64::powi(2.0, scale);
        (v.ln() * factor).ceil() as i32 - 1
    } else {
        // Bucket (2^i, 2^(i+1)] at scale 0 holds 2^e·1.m with m > 0 at i = e, 2^e at e - 1.
        let i = if exact { e - 1 } else { e };
        i >> -scale
    }
}

impl ExpHistogram {
    /// Adds one value (0 and below, and subnormals, count as zeros).
    pub(crate) fn record(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        self.count += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if v < f64::MIN_POSITIVE {
            self.zero_count += 1;
            return;
        }
        let mut i = index(v, self.scale);
        if self.counts.is_empty() {
            self.offset = i;
            self.counts.push(1);
            return;
        }
        let lo = self.offset.min(i);
        let hi = (self.offset + self.counts.len() as i32 - 1).max(i);
        if (hi - lo + 1) as usize > MAX_SIZE {
            let mut change = 0;
            while ((hi >> change) - (lo >> change) + 1) as usize > MAX_SIZE {
                change += 1;
            }
            self.downscale(change);
            i = index(v, self.scale);
        }
        if i < self.offset {
            let grow = (self.offset - i) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = i;
        }
        let at = (i - self.offset) as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, 0);
        }
        self.counts[at] += 1;
    }

    fn downscale(&mut self, change: i32) {
        if change == 0 {
            return;
        }
        let offset = self.offset >> change;
        let mut counts: Vec<u64> = Vec::new();
        for (k, c) in self.counts.iter().enumerate() {
            let at = (((self.offset + k as i32) >> change) - offset) as usize;
            if at >= counts.len() {
                counts.resize(at + 1, 0);
            }
            counts[at] += c;
        }
        self.offset = offset;
        self.counts = counts;
        self.scale -= change;
    }

    fn point(
        &self,
        attributes: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>,
        start: u64,
        now: u64,
    ) -> ExponentialHistogramDataPoint {
        ExponentialHistogramDataPoint {
            attributes,
            start_time_unix_nano: start,
            time_unix_nano: now,
            count: self.count,
            sum: Some(self.sum),
            scale: self.scale,
            zero_count: self.zero_count,
            positive: Some(Buckets { offset: self.offset, bucket_counts: self.counts.clone() }),
            negative: None,
            min: (self.count > 0).then_some(self.min),
            max: (self.count > 0).then_some(self.max),
            ..Default::default()
        }
    }
}

/// A series of the duration histogram and the request counter: the request's method,
/// server, status and error.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct FullKey {
    base: BaseKey,
    status: Option<u16>,
    error: Option<ErrorKey>,
}

/// A series of the phase histograms: method and server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct BaseKey {
    method: String,
    server: Option<(String, u16)>,
    /// The overflow series (`otel.metric.overflow`) past [`MAX_SERIES`].
    overflow: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum ErrorKey {
    Kind(String),
    Status(u16),
}

impl ErrorKey {
    fn of(e: &ErrorType<'_>) -> ErrorKey {
        match e {
            ErrorType::Kind(k) => ErrorKey::Kind(k.to_string()),
            ErrorType::Status(s) => ErrorKey::Status(*s),
        }
    }

    fn is(&self, e: &ErrorType<'_>) -> bool {
        match (self, e) {
            (ErrorKey::Kind(a), ErrorType::Kind(b)) => a == b,
            (ErrorKey::Status(a), ErrorType::Status(b)) => a == b,
            _ => false,
        }
    }

    fn text(&self) -> String {
        match self {
            ErrorKey::Kind(k) => k.clone(),
            ErrorKey::Status(s) => s.to_string(),
        }
    }
}

impl BaseKey {
    fn attrs(&self) -> Vec<KeyValue> {
        if self.overflow {
            return vec![bool_kv("otel.metric.overflow", true)];
        }
        let mut out = vec![kv("http.request.method", self.method.clone())];
        if let Some((host, port)) = &self.server {
            out.push(kv("server.address", host.clone()));
            out.push(kv_int("server.port", *port as i64));
        }
        out
    }
}

impl FullKey {
    fn attrs(&self) -> Vec<KeyValue> {
        let mut out = self.base.attrs();
        if self.base.overflow {
            return out;
        }
        if let Some(s) = self.status {
            out.push(kv_int("http.response.status_code", s as i64));
        }
        if let Some(e) = &self.error {
            out.push(kv("error.type", e.text()));
        }
        out
    }
}

fn bool_kv(key: &str, value: bool) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(any_value::Value::BoolValue(value)) }), ..Default::default() }
}

/// The per-request series state: the duration histogram and the request count.
#[derive(Debug, Default)]
struct Requests {
    duration: ExpHistogram,
    count: u64,
}

/// The phases with a histogram each: HAR's division of a request (`ssl` as `tls`).
const PHASES: [&str; 7] = ["blocked", "dns", "connect", "tls", "send", "wait", "receive"];

/// The run's metrics so far. Series are found by their attributes; the last request's are
/// remembered, so a run against one URL looks nothing up twice.
#[derive(Debug)]
pub(crate) struct Metrics {
    start_ns: u64,
    requests: HashMap<FullKey, Requests>,
    phases: HashMap<BaseKey, [ExpHistogram; 7]>,
    errors: HashMap<FullKey, u64>,
    /// The server of each URL seen (parsed once).
    servers: HashMap<String, Option<(String, u16)>>,
    last: Option<(String, FullKey)>,
}

impl Metrics {
    pub(crate) fn new(start_ns: u64) -> Metrics {
        Metrics { start_ns, requests: HashMap::new(), phases: HashMap::new(), errors: HashMap::new(), servers: HashMap::new(), last: None }
    }

    /// The series of `f`: the last one if it matches, else built (and bounded).
    fn key(&mut self, f: &RequestFacts<'_>) -> FullKey {
        let url = f.url.unwrap_or("");
        if let Some((last_url, k)) = &self.last {
            let same_error = match (&k.error, &f.error_type) {
                (None, None) => true,
                (Some(a), Some(b)) => a.is(b),
                _ => false,
            };
            if last_url == url && k.base.method == f.method && k.status == f.status && same_error {
                return k.clone();
            }
        }
        if !self.servers.contains_key(url) && self.servers.len() < MAX_SERIES {
            self.servers.insert(url.to_string(), server_of(url));
        }
        let server = match self.servers.get(url) {
            Some(s) => s.clone(),
            None => server_of(url),
        };
        let mut key = FullKey {
            base: BaseKey { method: f.method.to_string(), server, overflow: false },
            status: f.status,
            error: f.error_type.as_ref().map(ErrorKey::of),
        };
        if self.requests.len() >= MAX_SERIES && !self.requests.contains_key(&key) {
            key = FullKey { base: BaseKey { method: String::new(), server: None, overflow: true }, status: None, error: None };
        }
        self.last = Some((url.to_string(), key.clone()));
        key
    }

    /// Folds one finished request in.
    pub(crate) fn record(&mut self, f: &RequestFacts<'_>) {
        let key = self.key(f);
        let r = self.requests.entry(key.clone()).or_default();
        r.duration.record(f.duration_s);
        r.count += 1;
        let t = f.timings;
        let phases = match self.phases.get_mut(&key.base) {
            Some(p) => p,
            None => {
                let base = if self.phases.len() >= MAX_SERIES {
                    BaseKey { method: String::new(), server: None, overflow: true }
                } else {
                    key.base.clone()
                };
                self.phases.entry(base).or_default()
            }
        };
        for (i, ms) in [t.blocked, t.dns, t.connect, t.ssl, t.send, t.wait, t.receive].into_iter().enumerate() {
            if ms >= 0.0 {
                phases[i].record(ms / 1e3);
            }
        }
        if key.error.is_some() {
            *self.errors.entry(FullKey { status: None, ..key }).or_default() += 1;
        }
    }

    /// The metrics as of `now_ns`, and their number of data points.
    pub(crate) fn snapshot(&self, now_ns: u64) -> (Vec<Metric>, usize) {
        let cumulative = AggregationTemporality::Cumulative as i32;
        let histogram = |name: &str, description: &str, points: Vec<ExponentialHistogramDataPoint>| Metric {
            name: name.into(),
            description: description.into(),
            unit: "s".into(),
            data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points: points,
                aggregation_temporality: cumulative,
            })),
            ..Default::default()
        };
        let counter = |name: &str, description: &str, points: Vec<(Vec<KeyValue>, u64)>| Metric {
            name: name.into(),
            description: description.into(),
            unit: "{request}".into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: points
                    .into_iter()
                    .map(|(attributes, n)| NumberDataPoint {
                        attributes,
                        start_time_unix_nano: self.start_ns,
                        time_unix_nano: now_ns,
                        value: Some(number_data_point::Value::AsInt(n as i64)),
                        ..Default::default()
                    })
                    .collect(),
                aggregation_temporality: cumulative,
                is_monotonic: true,
            })),
            ..Default::default()
        };
        let requests = sorted(&self.requests);
        let phases = sorted(&self.phases);
        let mut out = vec![histogram(
            "http.client.request.duration",
            "Duration of HTTP client requests (redirects included).",
            requests.iter().map(|(k, r)| r.duration.point(k.attrs(), self.start_ns, now_ns)).collect(),
        )];
        for (i, p) in PHASES.iter().enumerate() {
            let name = format!("httptrace.phase.{p}.duration");
            let description = format!("Time spent in the {p} phase of HTTP client requests (HAR timings, summed over hops).");
            let points = phases.iter().filter(|(_, h)| h[i].count > 0).map(|(k, h)| h[i].point(k.attrs(), self.start_ns, now_ns)).collect();
            out.push(histogram(&name, &description, points));
        }
        out.push(counter(
            "httptrace.client.requests",
            "HTTP client requests finished, by status and error.",
            requests.iter().map(|(k, r)| (k.attrs(), r.count)).collect(),
        ));
        out.push(counter(
            "httptrace.client.errors",
            "HTTP client requests that failed, by error type.",
            sorted(&self.errors).into_iter().map(|(k, n)| (k.attrs(), *n)).collect(),
        ));
        out.retain(|m| match &m.data {
            Some(metric::Data::ExponentialHistogram(h)) => !h.data_points.is_empty(),
            Some(metric::Data::Sum(s)) => !s.data_points.is_empty(),
            _ => false,
        });
        let points = out
            .iter()
            .map(|m| match &m.data {
                Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
                Some(metric::Data::Sum(s)) => s.data_points.len(),
                _ => 0,
            })
            .sum();
        (out, points)
    }
}

fn sorted<K: Ord, T>(map: &HashMap<K, T>) -> Vec<(&K, &T)> {
    let mut v: Vec<_> = map.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bucket's bounds at its scale: (base^i, base^(i+1)].
    fn holds(h: &ExpHistogram, i: i32, v: f64) -> bool {
        let base = 2f64.powf(2f64.powi(-h.scale));
        let (lo, hi) = (base.powi(i), base.powi(i + 1));
        v > lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9)
    }

    #[test]
    fn powers_of_two_sit_at_the_upper_bound() {
        assert_eq!(index(4.0, 0), 1);
        assert_eq!(index(3.0, 0), 1);
        assert_eq!(index(4.5, 0), 2);
        assert_eq!(index(4.0, 1), 3);
        assert_eq!(index(1.0, 3), -1);
        assert_eq!(index(0.25, -1), -2);
        assert_eq!(index(1024.0, -2), 2);
    }

    #[test]
    fn every_value_lands_in_a_bucket_that_holds_it_and_none_is_lost() {
        let mut h = ExpHistogram::default();
        let mut values = Vec::new();
        let mut x = 0.000_013_7f64;
        for _ in 0..5000 {
            values.push(x);
            x *= 1.0031;
        }
        values.push(0.0);
        for v in &values {
            h.record(*v);
        }
        assert!(h.counts.len() <= MAX_SIZE, "{} buckets", h.counts.len());
        assert_eq!(h.counts.iter().sum::<u64>() + h.zero_count, values.len() as u64);
        assert_eq!((h.count, h.zero_count), (values.len() as u64, 1));
        for v in values.iter().filter(|v| **v > 0.0) {
            let i = index(*v, h.scale);
            assert!(holds(&h, i, *v), "{v} at {i}, scale {}", h.scale);
            assert!(h.counts[(i - h.offset) as usize] > 0);
        }
        // From 13.7 µs to ~72 s, 22.3 octaves: 89 buckets at scale 2, 178 (too many) at 3.
        assert_eq!(h.scale, 2);
    }

    #[test]
    fn downscaling_merges_counts() {
        let mut h = ExpHistogram::default();
        h.record(1.5);
        assert_eq!(h.scale, MAX_SCALE);
        h.record(1e6);
        assert!(h.scale < MAX_SCALE && h.counts.iter().sum::<u64>() == 2);
        assert!(holds(&h, h.offset, 1.5));
    }
}
