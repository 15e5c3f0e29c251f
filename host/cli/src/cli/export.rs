//! `--otlp`: the OpenTelemetry exporter as the plugin chain's tail, so it exports what the
//! plugins kept, on the chain's thread (its network work on a thread of its own).

use std::sync::{Arc, Mutex};

use httptrace::event::{Event, KindSet};
use httptrace_otlp::{Config, ExportReport, Exporter, Flags};
use httptrace_plugin_host::Tail;

use super::args::ExportArgs;
use super::request::UsageError;

/// Where the exporter's report lands once the chain has finished.
pub type ReportSlot = Arc<Mutex<Option<ExportReport>>>;

struct OtlpTail {
    exporter: Option<Exporter>,
    report: ReportSlot,
}

impl Tail for OtlpTail {
    fn interest(&self) -> KindSet {
        httptrace_otlp::INTEREST
    }

    fn events(&mut self, events: &[&Event]) {
        if let Some(e) = self.exporter.as_mut() {
            e.events(events);
        }
    }

    fn finish(&mut self) {
        if let Some(e) = self.exporter.take() {
            *self.report.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.finish());
        }
    }
}

/// A started exporter.
pub struct Started {
    /// The chain's tail that feeds it.
    pub tail: Box<dyn Tail>,
    /// Where its report will be.
    pub report: ReportSlot,
    /// What the engine records in full, and for which requests (the sampled ones).
    pub recording: httptrace::trace::SampledRecording,
}

/// The exporter the flags and the environment ask for (none when export is off), started.
/// A bad flag or variable is a usage error naming it.
pub fn start(a: &ExportArgs) -> Result<Option<Started>, UsageError> {
    let flags = Flags { endpoint: a.otlp.clone(), cacert: a.otlp_cacert.clone(), traceparent: a.traceparent.clone() };
    let config = Config::new(&flags, &|name| std::env::var(name).ok()).map_err(|e| UsageError::usage(e.to_string()))?;
    let Some(config) = config else { return Ok(None) };
    let recording = config.recording;
    let exporter = Exporter::start(config).map_err(|e| UsageError::usage(e.to_string()))?;
    let report = ReportSlot::default();
    Ok(Some(Started { tail: Box::new(OtlpTail { exporter: Some(exporter), report: report.clone() }), report, recording }))
}

/// Says on stderr what could not be exported (one line), if anything.
pub fn report(slot: &ReportSlot) {
    if let Some(line) = slot.lock().unwrap_or_else(|p| p.into_inner()).as_ref().and_then(|r| r.summary()) {
        eprintln!("{}", httptrace::escape_control(&line));
    }
}
