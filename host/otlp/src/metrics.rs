//! A run's metrics: `http.client.request.duration` and one histogram per phase as OTLP
//! base-2 exponential histograms (which a backend merges across instances without error),
//! and request and error counters; all cumulative from the run's start.

use std::collections::HashMap;

use opentelemetry_proto::tonic::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric, number_data_point, AggregationTemporality, ExponentialHistogram,
    ExponentialHistogramDataPoint, Metric, NumberDataPoint, Sum,
};

use crate::spans::{kv, kv_int, RequestFacts};

/// Most buckets per histogram (the SDK specification's default).
const MAX_SIZE: usize = 160;
/// The finest scale used (the specification's maximum).
const MAX_SCALE: i32 = 20;
/// Most attribute sets per metric; the rest go to one `otel.metric.overflow` series.
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

/// An attribute value of a series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
}

type Attrs = Vec<(&'static str, Value)>;

fn to_proto(attrs: &Attrs) -> Vec<opentelemetry_proto::tonic::common::v1::KeyValue> {
    attrs
        .iter()
        .map(|(k, v)| match v {
            Value::Str(s) => kv(k, s.clone()),
            Value::Int(i) => kv_int(k, *i),
            Value::Bool(b) => opentelemetry_proto::tonic::common::v1::KeyValue {
                key: k.to_string(),
                value: Some(opentelemetry_proto::tonic::common::v1::AnyValue {
                    value: Some(opentelemetry_proto::tonic::common::v1::any_value::Value::BoolValue(*b)),
                }),
                ..Default::default()
            },
        })
        .collect()
}

/// Series of one metric, by attribute set, bounded.
#[derive(Debug, Default)]
struct Series<T> {
    map: HashMap<Attrs, T>,
}

impl<T: Default> Series<T> {
    fn get(&mut self, attrs: Attrs) -> &mut T {
        let key = if self.map.len() >= MAX_SERIES && !self.map.contains_key(&attrs) {
            vec![("otel.metric.overflow", Value::Bool(true))]
        } else {
            attrs
        };
        self.map.entry(key).or_default()
    }
}

/// The phases with a histogram each: HAR's division of a request (`ssl` as `tls`).
const PHASES: [&str; 7] = ["blocked", "dns", "connect", "tls", "send", "wait", "receive"];

/// The run's metrics so far.
#[derive(Debug)]
pub(crate) struct Metrics {
    start_ns: u64,
    duration: Series<ExpHistogram>,
    phases: [Series<ExpHistogram>; 7],
    requests: Series<u64>,
    errors: Series<u64>,
}

impl Metrics {
    pub(crate) fn new(start_ns: u64) -> Metrics {
        Metrics {
            start_ns,
            duration: Series::default(),
            phases: Default::default(),
            requests: Series::default(),
            errors: Series::default(),
        }
    }

    /// Folds one finished request in.
    pub(crate) fn record(&mut self, f: &RequestFacts) {
        let mut base: Attrs = vec![("http.request.method", Value::Str(f.method.clone()))];
        if let Some((host, port)) = &f.server {
            base.push(("server.address", Value::Str(host.clone())));
            base.push(("server.port", Value::Int(*port as i64)));
        }
        let mut full = base.clone();
        if let Some(s) = f.status {
            full.push(("http.response.status_code", Value::Int(s as i64)));
        }
        if let Some(e) = &f.error_type {
            full.push(("error.type", Value::Str(e.clone())));
        }
        self.duration.get(full.clone()).record(f.duration_s);
        let t = &f.timings;
        for (i, ms) in [t.blocked, t.dns, t.connect, t.ssl, t.send, t.wait, t.receive].into_iter().enumerate() {
            if ms >= 0.0 {
                self.phases[i].get(base.clone()).record(ms / 1e3);
            }
        }
        *self.requests.get(full.clone()) += 1;
        if let Some(e) = &f.error_type {
            let mut attrs = base;
            attrs.push(("error.type", Value::Str(e.clone())));
            *self.errors.get(attrs) += 1;
        }
    }

    /// The metrics as of `now_ns`, and their number of data points.
    pub(crate) fn snapshot(&self, now_ns: u64) -> (Vec<Metric>, usize) {
        let cumulative = AggregationTemporality::Cumulative as i32;
        let histogram = |name: &str, description: &str, s: &Series<ExpHistogram>| Metric {
            name: name.into(),
            description: description.into(),
            unit: "s".into(),
            data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points: sorted(&s.map).into_iter().map(|(a, h)| h.point(to_proto(a), self.start_ns, now_ns)).collect(),
                aggregation_temporality: cumulative,
            })),
            ..Default::default()
        };
        let counter = |name: &str, description: &str, s: &Series<u64>| Metric {
            name: name.into(),
            description: description.into(),
            unit: "{request}".into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: sorted(&s.map)
                    .into_iter()
                    .map(|(a, n)| NumberDataPoint {
                        attributes: to_proto(a),
                        start_time_unix_nano: self.start_ns,
                        time_unix_nano: now_ns,
                        value: Some(number_data_point::Value::AsInt(*n as i64)),
                        ..Default::default()
                    })
                    .collect(),
                aggregation_temporality: cumulative,
                is_monotonic: true,
            })),
            ..Default::default()
        };
        let mut out =
            vec![histogram("http.client.request.duration", "Duration of HTTP client requests (redirects included).", &self.duration)];
        for (i, p) in PHASES.iter().enumerate() {
            let name = format!("httptrace.phase.{p}.duration");
            let description = format!("Time spent in the {p} phase of HTTP client requests (HAR timings, summed over hops).");
            out.push(histogram(&name, &description, &self.phases[i]));
        }
        out.push(counter("httptrace.client.requests", "HTTP client requests finished, by status and error.", &self.requests));
        out.push(counter("httptrace.client.errors", "HTTP client requests that failed, by error type.", &self.errors));
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

fn sorted<T>(map: &HashMap<Attrs, T>) -> Vec<(&Attrs, &T)> {
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
