//! The lowerings checked against each other and against the bindings' through a real guest.

use super::super::convert::reference::{self, tests::every_kind};
use super::super::instance::{Instance, InstanceSettings};
use super::super::output::{MemoryOutput, Output};
use super::super::{Limits, PluginSource, Runtime, RuntimeOptions, Verbosity};
use super::*;
use httptrace::event::ByteCounts;

/// Events with the edges of each field: empty and non-ASCII strings, absent and present
/// options, empty and long lists, several hops and certificates.
fn edge_events() -> Vec<Event> {
    let err = |during| TraceError { phase: Phase::Tls, kind: "".into(), during, message: "é — ☃ \"q\"\n".into() };
    let hop = |hop, status| HopSummary {
        hop,
        url: format!("http://h/{hop}/ü"),
        status,
        timings: Timings { blocked: 0.25, dns: -1.0, connect: 1e-9, ssl: f64::MAX, send: 3.0, wait: 4.5, receive: 0.0, total: 9.75 },
        marks: Marks { namelookup: 1.0, redirect: 2.5, ..Default::default() },
        bytes: ByteCounts { request_body: u64::MAX, response_headers: hop as u64, response_body: 1 << 40 },
    };
    let cert = |n: usize| CertSummary {
        subject: format!("CN=s{n}"),
        issuer: String::new(),
        not_before: "2026-01-01T00:00:00Z".into(),
        not_after: "2027-01-01T00:00:00Z".into(),
        sans: (0..n).map(|i| format!("san{i}.example")).collect(),
        serial: "00ff".into(),
    };
    let headers: Vec<Header> = (0..40).map(|i| Header { name: format!("x-h{i}"), value: "v".repeat(i) }).collect();
    let kinds = vec![
        EventKind::RequestStart {
            method: String::new(), url: "http://ü.example/ä?q=☃".into(), wall_unix_ns: u64::MAX, post_data: None
        },
        EventKind::RequestStart {
            method: "POST".into(),
            url: "http://h/".into(),
            wall_unix_ns: 1,
            post_data: Some(bytes::Bytes::from_static("é=☃&\u{0}\n".as_bytes())),
        },
        EventKind::ProxyConnectStart { proxy: "socks5h://u:[redacted]@[::1]:1080".into(), target: "ü.example:443".into() },
        EventKind::ProxyConnectDone { proxy: String::new(), status: None, error: Some(err(Some(Phase::Connect))) },
        EventKind::ProxyConnectDone { proxy: "http://p:3128".into(), status: Some(200), error: None },
        EventKind::DnsStart { host: "ü.example".into(), proxy: Some("http://ü:[redacted]@ü.example:3128".into()) },
        EventKind::DnsDone { addrs: vec![], coalesced: false, error: Some(err(None)), proxy: Some(String::new()) },
        EventKind::ConnectStart { network: "tcp".into(), addr: "[::1]:1080".parse().unwrap(), proxy: None },
        EventKind::ConnectDone {
            network: "tcp".into(),
            addr: "10.0.0.1:8080".parse().unwrap(),
            cancelled: false,
            error: Some(err(Some(Phase::Connect))),
            proxy: Some("socks5h://[::1]:1080".into()),
        },
        EventKind::TlsHandshakeDone {
            version: String::new(),
            cipher_suite: "c".into(),
            alpn: None,
            resumed: true,
            server_name: String::new(),
            peer_certificates: vec![cert(0), cert(3), cert(1)],
            error: Some(err(Some(Phase::TooManyRedirects))),
            key_exchange_group: None,
            client_certificate_requested: true,
            client_certificate_sent: false,
        },
        EventKind::TlsHandshakeDone {
            version: "TLSv1.2".into(),
            cipher_suite: String::new(),
            alpn: Some(String::new()),
            resumed: false,
            server_name: "ü".into(),
            peer_certificates: vec![],
            error: None,
            key_exchange_group: Some("secp256r1".into()),
            client_certificate_requested: true,
            client_certificate_sent: true,
        },
        EventKind::GotConn {
            reused: false,
            was_idle: true,
            idle_ns: 0,
            local_addr: "127.0.0.1:1".parse().unwrap(),
            remote_addr: "[fe80::1]:65535".parse().unwrap(),
            protocol: "http/1.1".into(),
        },
        EventKind::Got1xxResponse { status: 100, headers: vec![] },
        EventKind::WroteRequest { body_bytes: u64::MAX, error: Some(err(Some(Phase::Setup))), clock: StampClock::Kernel },
        EventKind::ResponseHeaders { status: 599, version: "HTTP/1.1".into(), headers, header_bytes: 0 },
        EventKind::ResponseDone { body_bytes: 0, error: None, decoded_bytes: Some(7) },
        EventKind::PutIdleConn { error: None },
        EventKind::RequestDone {
            url: String::new(),
            status: None,
            error: Some(err(Some(Phase::Receive))),
            timings: Timings::default(),
            marks: Marks::default(),
            hops: vec![hop(0, Some(301)), hop(1, None), hop(2, Some(200))],
            client_lag_ns: Some(u64::MAX),
        },
        EventKind::RequestDone {
            url: "u".into(),
            status: Some(0),
            error: None,
            timings: Timings::default(),
            marks: Marks::default(),
            hops: vec![],
            client_lag_ns: None,
        },
    ];
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| Event {
            request: i as u64 + 1,
            hop: i as u32,
            conn: (i % 2 == 0).then_some(i as u64 * 1000),
            at_ns: i as u64,
            kind,
        })
        .collect()
}

/// The conformance fixture's recorded requests, one batch each, then [`edge_events`].
fn fixture_batches() -> Vec<Vec<Event>> {
    let mut batches = httptrace::replay::read_batches(FIXTURE.as_bytes()).unwrap();
    batches.push(edge_events());
    batches
}

const FIXTURE: &str = include_str!("../../../../tests/fixtures/conformance.ndjson");

fn ndjson(rt: &Runtime) -> (Instance, Output, MemoryOutput) {
    let loaded = rt.load(&PluginSource::File(httptrace_test_guests::path("ndjson"))).unwrap();
    let (output, memory) = Output::memory();
    let settings = InstanceSettings { limits: Limits::default(), output: output.clone(), color: false, verbosity: Verbosity::Warn };
    let mut inst = Instance::new(&loaded, &settings).unwrap();
    inst.init(&[]).unwrap().unwrap();
    (inst, output, memory)
}

/// The same events through this module, in the compact form (`on-batch`) and the plain one
/// (`on-events`), and through wasmtime's derived lowering of `plugin.wit`'s and of
/// `compact.wit`'s types, reach a real guest (`ndjson`, which prints every field; the SDK reads
/// the compact form by hand) identically.
#[test]
fn lowered_events_read_back_the_same_as_the_bindings() {
    let rt = Runtime::new(RuntimeOptions { cache_dir: None, verbosity: Verbosity::Warn, bundled: &[] }).unwrap();
    let (mut direct, direct_output, direct_out) = ndjson(&rt);
    let (mut plain, plain_output, plain_out) = ndjson(&rt);
    let (mut bindings, bindings_output, bindings_out) = ndjson(&rt);
    let (mut compact, compact_output, compact_out) = ndjson(&rt);
    assert!(direct.compact(), "the SDK's plugins take the compact form");
    let samples: Vec<Event> = every_kind()
        .into_iter()
        .enumerate()
        .map(|(i, kind)| Event { request: 7, hop: 1, conn: Some(i as u64), at_ns: 1_000 + i as u64, kind })
        .collect();
    let mut batches = fixture_batches();
    batches.push(samples);
    batches.push(Vec::new());
    let mut addrs = AddrText::default();
    let mut events = 0;
    for batch in &batches {
        let refs: Vec<&Event> = batch.iter().collect();
        addrs.learn(&refs);
        let verdicts = direct.on_events(&refs, &addrs).unwrap();
        assert_eq!(verdicts, plain.on_events_plain(&refs, &addrs).unwrap());
        let converted: Vec<wit::Event> = batch.iter().map(|e| reference::event(e.clone(), &mut AddrText::default())).collect();
        assert_eq!(verdicts, compact.on_batch_bindings(&reference::compact::batch(converted.clone())).unwrap());
        assert_eq!(verdicts, bindings.on_events_bindings(&converted).unwrap());
        events += batch.len();
    }
    direct_output.flush();
    plain_output.flush();
    bindings_output.flush();
    compact_output.flush();
    let (a, p, b, c) = (direct_out.text(), plain_out.text(), bindings_out.text(), compact_out.text());
    assert_eq!(a.lines().count(), events, "one ndjson line per event");
    for (((x, y), z), w) in a.lines().zip(b.lines()).zip(p.lines()).zip(c.lines()) {
        assert_eq!(x, y, "compact vs bindings");
        assert_eq!(z, y, "plain vs bindings");
        assert_eq!(w, y, "compact bindings vs bindings");
    }
    assert_eq!(a, b);
    assert_eq!(p, b);
    assert_eq!(c, b);
    // The fixture itself comes back: the guest saw every field as recorded.
    assert!(a.starts_with(FIXTURE), "the recording read back differs");
}

/// The fields each version added, by kind: a plugin built for an earlier version reads every
/// event as today's `ndjson` does, less these.
const ADDED_IN_0_2_0: &[(&str, &str)] = &[("tls-handshake-done", "key_exchange_group")];
const ADDED_IN_0_3_0: &[(&str, &str)] = &[
    ("request-start", "post_data"),
    ("tls-handshake-done", "client_certificate_requested"),
    ("tls-handshake-done", "client_certificate_sent"),
    ("request-done", "client_lag_ns"),
];

const ADDED_IN_0_4_0: &[(&str, &str)] = &[("response-done", "decoded_bytes")];
const ADDED_IN_0_5_0: &[(&str, &str)] = &[("wrote-headers", "clock"), ("wrote-request", "clock"), ("got-first-response-byte", "clock")];
const ADDED_IN_0_6_0: &[(&str, &str)] =
    &[("dns-start", "proxy"), ("dns-done", "proxy"), ("connect-start", "proxy"), ("connect-done", "proxy")];
/// (`hops.bytes`: the field `bytes` of each element of `hops`.)
const ADDED_IN_0_7_0: &[(&str, &str)] = &[("request-done", "hops.bytes")];

/// The kinds each version added.
const KINDS_0_3_0: &[&str] = &["proxy-connect-start", "proxy-connect-done"];
const KINDS_0_4_0: &[&str] = &["quic-handshake-start", "quic-handshake-done"];

/// A plugin built for an earlier version (the bundled `ndjson` as released with it, kept in
/// `tests/fixtures/plugins-<version>/`) loads unchanged and, in both forms (`on-batch`,
/// `on-events`), reads every event of its version's kinds exactly as today's `ndjson` does,
/// less the fields later versions added: its layout is written where they are skipped.
/// `later_kinds`: the kinds later versions added (the chain never hands them to it).
fn an_old_plugin_reads_every_field_it_knows(version: &str, added: &[&[(&str, &str)]], later_kinds: &[&str]) {
    let rt = Runtime::new(RuntimeOptions { cache_dir: None, verbosity: Verbosity::Warn, bundled: &[] }).unwrap();
    let old_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../tests/fixtures/plugins-{version}/ndjson.wasm"));
    let old = rt.load(&PluginSource::File(old_path)).unwrap();
    assert_eq!(old.world_version(), version);
    let start = |loaded: &super::super::LoadedPlugin| {
        let (output, memory) = Output::memory();
        let settings = InstanceSettings { limits: Limits::default(), output: output.clone(), color: false, verbosity: Verbosity::Warn };
        let mut inst = Instance::new(loaded, &settings).unwrap();
        inst.init(&[]).unwrap().unwrap();
        (inst, output, memory)
    };
    let (mut compact, compact_output, compact_out) = start(&old);
    let (mut plain, plain_output, plain_out) = start(&old);
    let (mut newest, newest_output, newest_out) = ndjson(&rt);
    assert!(compact.compact(), "the {version} SDK's plugins take the compact form");
    let mut addrs = AddrText::default();
    let mut kinds_left_out = 0;
    for batch in &fixture_batches() {
        // The kinds its version has (the chain hands a plugin only the kinds it asked for).
        let refs: Vec<&Event> = batch.iter().filter(|e| !later_kinds.contains(&e.kind.name())).collect();
        kinds_left_out += batch.len() - refs.len();
        addrs.learn(&refs);
        let verdicts = newest.on_events(&refs, &addrs).unwrap();
        assert_eq!(verdicts, compact.on_events(&refs, &addrs).unwrap());
        assert_eq!(verdicts, plain.on_events_plain(&refs, &addrs).unwrap());
    }
    assert!(later_kinds.is_empty() || kinds_left_out > 0, "the fixture has events of kinds {version} lacks");
    for o in [&compact_output, &plain_output, &newest_output] {
        o.flush();
    }
    let newest = newest_out.text();
    let mut removed = 0;
    let without_new_fields: String = newest
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let kind = v["event"].as_str().unwrap_or_default().to_string();
            for (k, field) in added.iter().flat_map(|a| a.iter()) {
                if *k != kind {
                    continue;
                }
                if let Some((list, field)) = field.split_once('.') {
                    for item in v[list].as_array_mut().unwrap() {
                        assert!(item.as_object_mut().unwrap().remove(field).is_some(), "the newest has {list}.{field}: {l}");
                    }
                } else {
                    assert!(v.as_object_mut().unwrap().remove(*field).is_some(), "the newest has {field}: {l}");
                }
                removed += 1;
            }
            format!("{v}\n")
        })
        .collect();
    assert!(removed >= 3, "the batches hold events with the fields {version} lacks");
    let reformat =
        |text: String| -> String { text.lines().map(|l| format!("{}\n", serde_json::from_str::<serde_json::Value>(l).unwrap())).collect() };
    let (c, p) = (reformat(compact_out.text()), reformat(plain_out.text()));
    // (Per kind: `proxy` is also a field of the 0.3.0 kinds `proxy-connect-*`.)
    for l in c.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        for (k, field) in added.iter().flat_map(|a| a.iter()) {
            if v["event"] != *k {
                continue;
            }
            match field.split_once('.') {
                Some((list, field)) => {
                    let items = v[list].as_array().unwrap();
                    assert!(items.iter().all(|i| i.get(field).is_none()), "{version}'s {k} has no {list}.{field}: {l}");
                }
                None => assert!(v.get(field).is_none(), "{version}'s {k} has no {field}: {l}"),
            }
        }
    }
    assert_eq!(c, without_new_fields, "{version} compact vs the newest less the fields added since");
    assert_eq!(p, without_new_fields, "{version} plain vs the newest less the fields added since");
}

#[test]
fn a_plugin_built_for_0_1_0_reads_every_field_it_knows() {
    an_old_plugin_reads_every_field_it_knows(
        "0.1.0",
        &[ADDED_IN_0_2_0, ADDED_IN_0_3_0, ADDED_IN_0_4_0, ADDED_IN_0_5_0, ADDED_IN_0_6_0, ADDED_IN_0_7_0],
        &[KINDS_0_3_0, KINDS_0_4_0].concat(),
    );
}

#[test]
fn a_plugin_built_for_0_2_0_reads_every_field_it_knows() {
    an_old_plugin_reads_every_field_it_knows(
        "0.2.0",
        &[ADDED_IN_0_3_0, ADDED_IN_0_4_0, ADDED_IN_0_5_0, ADDED_IN_0_6_0, ADDED_IN_0_7_0],
        &[KINDS_0_3_0, KINDS_0_4_0].concat(),
    );
}

#[test]
fn a_plugin_built_for_0_3_0_reads_every_field_it_knows() {
    an_old_plugin_reads_every_field_it_knows("0.3.0", &[ADDED_IN_0_4_0, ADDED_IN_0_5_0, ADDED_IN_0_6_0, ADDED_IN_0_7_0], KINDS_0_4_0);
}

#[test]
fn a_plugin_built_for_0_4_0_reads_every_field_it_knows() {
    an_old_plugin_reads_every_field_it_knows("0.4.0", &[ADDED_IN_0_5_0, ADDED_IN_0_6_0, ADDED_IN_0_7_0], &[]);
}

#[test]
fn a_plugin_built_for_0_5_0_reads_every_field_it_knows() {
    an_old_plugin_reads_every_field_it_knows("0.5.0", &[ADDED_IN_0_6_0, ADDED_IN_0_7_0], &[]);
}

#[test]
fn a_plugin_built_for_0_6_0_reads_every_field_it_knows() {
    an_old_plugin_reads_every_field_it_knows("0.6.0", &[ADDED_IN_0_7_0], &[]);
}

/// A guest of the compact world without the SDK (`tests/plugins/keep-compact`, wit-bindgen's
/// own lifting) is called through `on-batch` and is handed every event.
#[test]
fn a_compact_guest_without_the_sdk_gets_every_event_through_on_batch() {
    let rt = Runtime::new(RuntimeOptions { cache_dir: None, verbosity: Verbosity::Warn, bundled: &[] }).unwrap();
    let path = std::path::Path::new(httptrace_test_guests::GUEST_DIR).join("keep-compact.wasm");
    let loaded = rt.load(&PluginSource::File(path)).unwrap();
    let (output, memory) = Output::memory();
    let settings = InstanceSettings { limits: Limits::default(), output: output.clone(), color: false, verbosity: Verbosity::Warn };
    let mut inst = Instance::new(&loaded, &settings).unwrap();
    inst.init(&[]).unwrap().unwrap();
    assert!(inst.compact());
    let batches = fixture_batches();
    let mut addrs = AddrText::default();
    let mut events = 0;
    for batch in &batches {
        let refs: Vec<&Event> = batch.iter().collect();
        addrs.learn(&refs);
        let verdicts = inst.on_events(&refs, &addrs).unwrap();
        assert_eq!(verdicts.len(), batch.len());
        assert!(verdicts.iter().all(|v| *v == wit::Verdict::Keep));
        events += batch.len();
    }
    inst.finish().unwrap();
    output.flush();
    assert_eq!(memory.text(), format!("keep-compact saw {events} events\n"));
}
