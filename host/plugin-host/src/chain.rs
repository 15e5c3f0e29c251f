//! The plugin chain: plugins in command-line order, each seeing the events the ones before it
//! kept, only of the kinds it asked for. Runs on a thread of its own, fed per-request batches
//! by the engine's [`ChannelSink`](crate::trace::ChannelSink) through the [`handoff`](crate::handoff)
//! queue, so plugin time never falls inside a measured phase and a slow plugin holds back new
//! requests (bounded queue) instead of losing events.

use std::thread::JoinHandle;

use httptrace::handoff::Receiver;

use super::convert;
use super::error::{PluginError, PluginId};
use super::host::bindings::httptrace::plugin::types as wit;
use super::instance::{Instance, InstanceSettings};
use super::load::{LoadedPlugin, PluginSource};
use super::output::Output;
use super::runtime::{Runtime, Ticker};
use super::{Limits, Verbosity};
use httptrace::event::Event;
use httptrace::event::KindSet;

/// Most events handed to one `on-events` call when several request batches are queued.
pub const COALESCE_EVENTS: usize = 256;

/// One plugin of a chain and its `--plugin-config` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSpec {
    /// Where it comes from.
    pub source: PluginSource,
    /// `KEY=VALUE` pairs in command-line order.
    pub config: Vec<(String, String)>,
}

/// What to do when a plugin fails while running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// Disable that plugin; the others go on.
    #[default]
    Disable,
    /// Stop the whole chain: no more events, no `finish`.
    Abort,
}

/// How a chain runs.
#[derive(Clone)]
pub struct ChainOptions {
    /// Sandbox limits of every plugin.
    pub limits: Limits,
    /// What `color()` answers.
    pub color: bool,
    /// Which plugin `log` lines reach stderr.
    pub verbosity: Verbosity,
    /// Disable or abort on a plugin failure.
    pub on_error: OnError,
    /// Print `httptrace: plugin NAME disabled: …` on stderr when a plugin fails.
    pub report_failures: bool,
}

impl Default for ChainOptions {
    /// Default limits, no colour, warnings, disable on failure, failures reported.
    fn default() -> ChainOptions {
        ChainOptions {
            limits: Limits::default(),
            color: false,
            verbosity: Verbosity::Warn,
            on_error: OnError::Disable,
            report_failures: true,
        }
    }
}

/// How a chain's run went.
#[derive(Debug, Default)]
pub struct ChainReport {
    /// Plugins that failed (trap, limit, contract, `finish` error), in the order they failed.
    pub failures: Vec<PluginError>,
    /// Plugins whose `finish` said `fail`.
    pub failed_checks: Vec<PluginId>,
    /// The output could not be written (e.g. a closed pipe).
    pub output_error: Option<std::io::ErrorKind>,
    /// Events received from the engine.
    pub events: u64,
    /// `on-events` calls made (all plugins).
    pub calls: u64,
    /// The chain stopped at the first failure (`OnError::Abort`).
    pub aborted: bool,
}

impl ChainReport {
    /// Whether a plugin failed (trapped, overran a limit, or returned an error).
    pub fn plugin_failed(&self) -> bool {
        !self.failures.is_empty()
    }

    /// Whether a plugin's `finish` reported `fail` (a threshold not met).
    pub fn check_failed(&self) -> bool {
        !self.failed_checks.is_empty()
    }
}

struct Member {
    id: PluginId,
    /// `None` once disabled.
    instance: Option<Instance>,
    interest: KindSet,
}

/// A consumer of what survives the chain (an exporter): it sees, after the plugins and on
/// the chain's thread, every event no plugin dropped, in batches that keep each request's
/// events together.
pub trait Tail: Send {
    /// The kinds it needs: recorded, and passed through the chain, whether or not a plugin
    /// asked for them.
    fn interest(&self) -> KindSet;
    /// One batch of surviving events, in order.
    fn events(&mut self, events: &[&Event]);
    /// The run is over: called once, after the plugins' `finish`.
    fn finish(&mut self);
}

/// Plugins loaded, instantiated and initialised, ready for events.
pub struct Chain {
    tail: Option<Box<dyn Tail>>,
    members: Vec<Member>,
    output: Output,
    /// Outputs of their own some plugins write to instead (see [`Chain::start_routed`]).
    routed: Vec<Output>,
    opts: ChainOptions,
    report: ChainReport,
    /// Text of the socket addresses seen (every request's `got-conn` carries two).
    addrs: convert::AddrText,
    _ticker: std::sync::Arc<Ticker>,
}

impl Chain {
    /// Loads and checks every plugin, then instantiates and `init`s them in order. A load error
    /// or a refused configuration is returned (stop the run: nothing was requested yet); a plugin
    /// that traps or overruns in `init` is disabled and reported, and the chain goes on.
    pub fn start(rt: &Runtime, specs: &[PluginSpec], output: Output, opts: ChainOptions) -> Result<Chain, PluginError> {
        Chain::start_routed(rt, specs, output, Vec::new(), opts)
    }

    /// [`Chain::start`], where the plugin at index `i` of `specs` writes to `out` instead of
    /// `output` for each `(i, out)` of `routes` (curl's `-w` goes to stdout whatever `-o` says).
    pub fn start_routed(
        rt: &Runtime,
        specs: &[PluginSpec],
        output: Output,
        routes: Vec<(usize, Output)>,
        opts: ChainOptions,
    ) -> Result<Chain, PluginError> {
        let loaded = specs.iter().map(|s| rt.load(&s.source)).collect::<Result<Vec<LoadedPlugin>, _>>()?;
        let mut chain = Chain {
            tail: None,
            members: Vec::new(),
            output,
            routed: Vec::new(),
            opts,
            report: ChainReport::default(),
            addrs: Default::default(),
            _ticker: rt.ticker(),
        };
        let settings = InstanceSettings {
            limits: chain.opts.limits.clone(),
            output: chain.output.clone(),
            color: chain.opts.color,
            verbosity: chain.opts.verbosity,
        };
        for (i, (spec, plugin)) in specs.iter().zip(&loaded).enumerate() {
            let routed = routes.iter().find(|(at, _)| *at == i).map(|(_, out)| out.clone());
            let own;
            let settings = match routed {
                Some(out) => {
                    chain.routed.push(out.clone());
                    own = InstanceSettings { output: out, ..settings.clone() };
                    &own
                }
                None => &settings,
            };
            let started = Instance::new(plugin, settings).and_then(|mut inst| {
                let r = inst.init(&spec.config)?;
                Ok((inst, r))
            });
            let member = match started {
                Ok((inst, Ok(interest))) => Member { id: plugin.id.clone(), instance: Some(inst), interest },
                Ok((_, Err(message))) => {
                    return Err(PluginError::new(plugin.id.clone(), super::ErrorKind::Init { message }));
                }
                Err(e) => {
                    chain.failed(e);
                    Member { id: plugin.id.clone(), instance: None, interest: KindSet::default() }
                }
            };
            chain.members.push(member);
        }
        chain.flush();
        Ok(chain)
    }

    fn flush(&self) {
        self.output.flush();
        for out in &self.routed {
            out.flush();
        }
    }

    /// The chain's plugins and the kinds each asked for (empty once disabled).
    pub fn plugins(&self) -> Vec<(PluginId, KindSet)> {
        self.members.iter().map(|m| (m.id.clone(), if m.instance.is_some() { m.interest } else { KindSet::default() })).collect()
    }

    /// Hands what survives the chain to `tail` from now on.
    pub fn set_tail(&mut self, tail: Box<dyn Tail>) {
        self.tail = Some(tail);
    }

    /// The kinds the plugins and the tail need: what the engine must record.
    pub fn wanted(&self) -> KindSet {
        self.tail.as_ref().map_or(KindSet::default(), |t| t.interest()).union(self.wanted_by_any())
    }

    /// Failures so far.
    pub fn failures(&self) -> &[PluginError] {
        &self.report.failures
    }

    /// Runs one batch of events through the chain and flushes the output. The events are
    /// written into each plugin's memory from here, without copies of their own.
    pub fn handle(&mut self, events: &[Event]) {
        let wanted = self.wanted();
        self.report.events += events.len() as u64;
        let live: Vec<&Event> = events.iter().filter(|e| wanted.contains(e.kind.index())).collect();
        self.addrs.learn(&live);
        self.run_batch(live);
    }

    /// [`Chain::handle`] for a batch the caller is done with.
    pub fn handle_owned(&mut self, events: Vec<Event>) {
        self.handle(&events);
    }

    /// The kinds some live plugin asked for: events of other kinds are never seen by anyone.
    fn wanted_by_any(&self) -> KindSet {
        self.members.iter().filter(|m| m.instance.is_some()).fold(KindSet::default(), |acc, m| acc.union(m.interest))
    }

    fn run_batch(&mut self, mut live: Vec<&Event>) {
        if self.report.aborted {
            return;
        }
        let mut subset: Vec<&Event> = Vec::new();
        for i in 0..self.members.len() {
            if live.is_empty() || self.report.aborted {
                break;
            }
            let m = &mut self.members[i];
            let Some(inst) = m.instance.as_mut() else { continue };
            let interest = m.interest;
            let wanted: Vec<bool> = live.iter().map(|e| interest.contains(e.kind.index())).collect();
            let n = wanted.iter().filter(|w| **w).count();
            if n == 0 {
                continue;
            }
            self.report.calls += 1;
            let result = if n == live.len() {
                inst.on_events(&live, &self.addrs)
            } else {
                subset.clear();
                subset.extend(live.iter().zip(&wanted).filter(|(_, w)| **w).map(|(e, _)| *e));
                inst.on_events(&subset, &self.addrs)
            };
            match result {
                Ok(verdicts) => {
                    // Walk the plugin's verdicts alongside the events it was shown; the rest keep.
                    let mut v = verdicts.into_iter();
                    let mut w = wanted.iter();
                    live.retain(|_| !(*w.next().unwrap_or(&false) && matches!(v.next(), Some(wit::Verdict::Drop))));
                }
                Err(e) => self.disable(i, e),
            }
        }
        self.flush();
        if let (Some(tail), false) = (self.tail.as_mut(), live.is_empty() || self.report.aborted) {
            tail.events(&live);
        }
    }

    /// Calls every live plugin's `finish`, flushes the output, and reports.
    pub fn finish(mut self) -> ChainReport {
        if !self.report.aborted {
            for i in 0..self.members.len() {
                if self.report.aborted {
                    break;
                }
                let Some(inst) = self.members[i].instance.as_mut() else { continue };
                match inst.finish() {
                    Ok(wit::RunOutcome::Pass) => {}
                    Ok(wit::RunOutcome::Fail) => self.report.failed_checks.push(self.members[i].id.clone()),
                    Err(e) => self.disable(i, e),
                }
            }
        }
        self.flush();
        self.report.output_error = self.output.error().or_else(|| self.routed.iter().find_map(Output::error));
        if let Some(tail) = self.tail.as_mut() {
            tail.finish();
        }
        // Drop the stores (and their memories) before reporting.
        self.members.clear();
        std::mem::take(&mut self.report)
    }

    /// Receives batches until the sending side is gone (coalescing queued batches up to
    /// [`COALESCE_EVENTS`] events per call), then finishes.
    pub fn run(mut self, rx: Receiver) -> ChainReport {
        loop {
            let mut batch = Vec::with_capacity(COALESCE_EVENTS);
            if !rx.recv_into(&mut batch, COALESCE_EVENTS) {
                break;
            }
            self.handle_owned(batch);
            if self.report.aborted {
                break;
            }
        }
        // Closing the receiver turns further sends into no-ops (abort), never a block.
        drop(rx);
        self.finish()
    }

    /// [`Chain::run`] on a thread of its own.
    pub fn spawn(self, rx: Receiver) -> std::io::Result<ChainThread> {
        let handle = std::thread::Builder::new().name("httptrace-plugins".into()).spawn(move || {
            yield_to_the_engine();
            self.run(rx)
        })?;
        Ok(ChainThread { handle })
    }

    fn disable(&mut self, i: usize, e: PluginError) {
        self.members[i].instance = None;
        self.failed(e);
    }

    fn failed(&mut self, e: PluginError) {
        if self.opts.report_failures {
            let verb = if self.opts.on_error == OnError::Abort { "failed, run aborted" } else { "disabled" };
            eprintln!("httptrace: plugin {} {verb}: {}", e.plugin(), e.detail());
        }
        if self.opts.on_error == OnError::Abort {
            self.report.aborted = true;
        }
        self.report.failures.push(e);
    }
}

/// Lowers the calling thread's scheduling priority (nice +10, Linux): plugin work is background
/// work, so when the cores are contended the engine's threads, whose timestamps are the
/// product, run first. The chain cannot starve: when its queue fills, the engine waits for it.
/// (`SCHED_IDLE` measured a little better on R1 but would let any other busy process on the
/// machine stall the chain, and with it the run.)
fn yield_to_the_engine() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on the calling thread's own id; no memory is passed.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// A chain running on its own thread.
pub struct ChainThread {
    handle: JoinHandle<ChainReport>,
}

impl ChainThread {
    /// Waits for the chain to drain and finish (the sender side must be dropped first).
    pub fn join(self) -> ChainReport {
        self.handle.join().unwrap_or_else(|_| ChainReport {
            failures: vec![PluginError::new(
                PluginId::bundled("(chain)"),
                super::ErrorKind::Contract { message: "the plugin thread panicked".into() },
            )],
            ..ChainReport::default()
        })
    }
}
