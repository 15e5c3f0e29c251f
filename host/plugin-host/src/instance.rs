//! One running plugin: its `Store` (one per plugin for the whole run) and instance, with each
//! call under a deadline, and failures turned into typed errors.

use std::marker::PhantomData;
use std::sync::Arc;

use wasmtime::component::{Func, TypedFunc};
use wasmtime::Store;

use super::convert::AddrText;
use super::error::{Call, ErrorKind, PluginError, PluginId};
use super::host::bindings::httptrace::plugin::types as wit;
use super::host::HostState;
use super::load::{first_error_line, LoadedPlugin};
use super::lower::{Abi, CompactBatch, EventList, NotUtf8, V0_1_0, V0_2_0, V0_3_0, V0_4_0, V0_5_0, V0_6_0, V0_7_0};
use super::output::Output;
use super::runtime::deadline_ticks;
use super::version::Version;
use super::{Limits, Verbosity};
use httptrace::event::{Event, KindSet};

/// Settings each instance is created with.
#[derive(Clone)]
pub(crate) struct InstanceSettings {
    pub limits: Limits,
    pub output: Output,
    pub color: bool,
    pub verbosity: Verbosity,
}

/// `init` of version `V`: the configuration pairs in, the interest (or a refusal) out.
type InitFunc<V> = TypedFunc<(Vec<(String, String)>,), (Result<Vec<<V as Abi>::EventType>, String>,)>;
/// `finish`: the run's outcome (or a failure message).
type FinishFunc = TypedFunc<(), (Result<wit::RunOutcome, String>,)>;

pub(crate) struct Instance {
    id: PluginId,
    store: Store<HostState>,
    /// The contract version the plugin was built for: the layout its events are written in.
    version: Version,
    // `finish` and the verdicts use the newest bindings' types for every version: component
    // types are structural and these have not changed since 0.1.0. `init` answers with its
    // version's `event-type` (0.3.0 added cases), so it is typed per version, as the events are.
    /// `init`, type-checked as its version's ([`InitFunc`]).
    init: Func,
    finish: FinishFunc,
    /// `on-events`, type-checked as taking an [`EventList`] of `version` (called through it,
    /// see [`Instance::on_events`]).
    on_events: Func,
    /// `on-batch`, if the plugin exports it, type-checked as taking a [`CompactBatch`] of
    /// `version`: then called instead of `on-events`.
    on_batch: Option<Func>,
    ticks: u64,
    limits: Limits,
}

/// Type-checks `init` as answering with version `V`'s event types, and `on-events` (and
/// `on-batch`) as taking its events.
fn check_event_funcs<V: Abi>(store: &Store<HostState>, init: Func, on_events: Func, on_batch: Option<Func>) -> wasmtime::Result<()> {
    init.typed::<(Vec<(String, String)>,), (Result<Vec<V::EventType>, String>,)>(store)?;
    on_events.typed::<(EventList<'static, V>,), (Vec<wit::Verdict>,)>(store)?;
    if let Some(f) = on_batch {
        f.typed::<(CompactBatch<'static, V>,), (Vec<wit::Verdict>,)>(store)
            .map_err(|e| e.context("its `on-batch` is not the one of httptrace:plugin/compact-plugin"))?;
    }
    Ok(())
}

impl Instance {
    /// Instantiates a loaded plugin in a store of its own.
    pub(crate) fn new(loaded: &LoadedPlugin, s: &InstanceSettings) -> Result<Instance, PluginError> {
        let engine = loaded.pre.engine();
        let name: Arc<str> = loaded.id.name.as_str().into();
        let state = HostState::new(name, s.output.clone(), s.color, s.verbosity, s.limits.memory, s.limits.output_per_call);
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_trap();
        let ticks = deadline_ticks(s.limits.timeout);
        store.set_epoch_deadline(ticks);
        let limits = s.limits.clone();
        let version = loaded.version;
        let started = loaded.pre.instantiate(&mut store).and_then(|instance| {
            let init = instance.get_func(&mut store, "init").ok_or_else(|| wasmtime::Error::msg("the component exports no `init`"))?;
            let finish: FinishFunc = instance.get_typed_func(&mut store, "finish")?;
            let on_events =
                instance.get_func(&mut store, "on-events").ok_or_else(|| wasmtime::Error::msg("the component exports no `on-events`"))?;
            let on_batch = instance.get_func(&mut store, "on-batch");
            match version {
                Version::V0_1_0 => check_event_funcs::<V0_1_0>(&store, init, on_events, on_batch)?,
                Version::V0_2_0 => check_event_funcs::<V0_2_0>(&store, init, on_events, on_batch)?,
                Version::V0_3_0 => check_event_funcs::<V0_3_0>(&store, init, on_events, on_batch)?,
                Version::V0_4_0 => check_event_funcs::<V0_4_0>(&store, init, on_events, on_batch)?,
                Version::V0_5_0 => check_event_funcs::<V0_5_0>(&store, init, on_events, on_batch)?,
                Version::V0_6_0 => check_event_funcs::<V0_6_0>(&store, init, on_events, on_batch)?,
                Version::V0_7_0 => check_event_funcs::<V0_7_0>(&store, init, on_events, on_batch)?,
            }
            Ok((init, finish, on_events, on_batch))
        });
        match started {
            Ok((init, finish, on_events, on_batch)) => {
                Ok(Instance { id: loaded.id.clone(), store, version, init, finish, on_events, on_batch, ticks, limits })
            }
            Err(e) => {
                let kind = classify(&mut store, &limits, Call::Instantiate, e);
                Err(PluginError::new(loaded.id.clone(), kind))
            }
        }
    }

    /// Calls `init`: `Ok(Ok(interest))`, `Ok(Err(message))` for a refused configuration, or a
    /// failure.
    pub(crate) fn init(&mut self, config: &[(String, String)]) -> Result<Result<KindSet, String>, PluginError> {
        match self.version {
            Version::V0_1_0 => self.init_as::<V0_1_0>(config),
            Version::V0_2_0 => self.init_as::<V0_2_0>(config),
            Version::V0_3_0 => self.init_as::<V0_3_0>(config),
            Version::V0_4_0 => self.init_as::<V0_4_0>(config),
            Version::V0_5_0 => self.init_as::<V0_5_0>(config),
            Version::V0_6_0 => self.init_as::<V0_6_0>(config),
            Version::V0_7_0 => self.init_as::<V0_7_0>(config),
        }
    }

    fn init_as<V: Abi>(&mut self, config: &[(String, String)]) -> Result<Result<KindSet, String>, PluginError> {
        self.before_call();
        // `Instance::new` type-checked `init` as version `V`'s.
        let r = self
            .init
            .typed::<(Vec<(String, String)>,), (Result<Vec<V::EventType>, String>,)>(&self.store)
            .and_then(|init: InitFunc<V>| init.call(&mut self.store, (config.to_vec(),)).map(|(r,)| r));
        match self.after_call(Call::Init, r)? {
            Ok(kinds) => {
                let mut interest = KindSet::default();
                for k in kinds {
                    interest.insert(V::type_index(k));
                }
                Ok(Ok(interest))
            }
            Err(message) => Ok(Err(message)),
        }
    }

    /// Hands a batch over: `on-batch` in the compact form ([`CompactBatch`]) if the plugin has
    /// it, else `on-events` ([`EventList`]), writing the events straight into the plugin's
    /// memory; checks there is one verdict per event.
    pub(crate) fn on_events(&mut self, events: &[&Event], addrs: &AddrText) -> Result<Vec<wit::Verdict>, PluginError> {
        match self.version {
            Version::V0_1_0 => self.on_events_as::<V0_1_0>(events, addrs),
            Version::V0_2_0 => self.on_events_as::<V0_2_0>(events, addrs),
            Version::V0_3_0 => self.on_events_as::<V0_3_0>(events, addrs),
            Version::V0_4_0 => self.on_events_as::<V0_4_0>(events, addrs),
            Version::V0_5_0 => self.on_events_as::<V0_5_0>(events, addrs),
            Version::V0_6_0 => self.on_events_as::<V0_6_0>(events, addrs),
            Version::V0_7_0 => self.on_events_as::<V0_7_0>(events, addrs),
        }
    }

    fn on_events_as<V: Abi>(&mut self, events: &[&Event], addrs: &AddrText) -> Result<Vec<wit::Verdict>, PluginError> {
        let Some(on_batch) = self.on_batch else { return self.on_events_plain_as::<V>(events, addrs) };
        self.before_call();
        // SAFETY: `Instance::new` type-checked this function with these parameter and result
        // types, for this version.
        let func = unsafe { TypedFunc::<(CompactBatch<'_, V>,), (Vec<wit::Verdict>,)>::new_unchecked(on_batch) };
        let r = func.call(&mut self.store, (CompactBatch { events, addrs, version: PhantomData },)).map(|(v,)| v);
        if r.as_ref().is_err_and(|e| e.is::<NotUtf8>()) {
            // A component lifted with another string encoding: nothing reached it; use the
            // plain form from now on.
            self.on_batch = None;
            return self.on_events_plain_as::<V>(events, addrs);
        }
        self.check_verdicts(r, events.len())
    }

    /// Calls `on-events` (every plugin has it, even those with `on-batch`).
    #[cfg(test)]
    pub(crate) fn on_events_plain(&mut self, events: &[&Event], addrs: &AddrText) -> Result<Vec<wit::Verdict>, PluginError> {
        match self.version {
            Version::V0_1_0 => self.on_events_plain_as::<V0_1_0>(events, addrs),
            Version::V0_2_0 => self.on_events_plain_as::<V0_2_0>(events, addrs),
            Version::V0_3_0 => self.on_events_plain_as::<V0_3_0>(events, addrs),
            Version::V0_4_0 => self.on_events_plain_as::<V0_4_0>(events, addrs),
            Version::V0_5_0 => self.on_events_plain_as::<V0_5_0>(events, addrs),
            Version::V0_6_0 => self.on_events_plain_as::<V0_6_0>(events, addrs),
            Version::V0_7_0 => self.on_events_plain_as::<V0_7_0>(events, addrs),
        }
    }

    fn on_events_plain_as<V: Abi>(&mut self, events: &[&Event], addrs: &AddrText) -> Result<Vec<wit::Verdict>, PluginError> {
        self.before_call();
        // SAFETY: `Instance::new` type-checked this function with these parameter and result
        // types, for this version.
        let func = unsafe { TypedFunc::<(EventList<'_, V>,), (Vec<wit::Verdict>,)>::new_unchecked(self.on_events) };
        let r = func.call(&mut self.store, (EventList { events, addrs, version: PhantomData },)).map(|(v,)| v);
        self.check_verdicts(r, events.len())
    }

    /// Whether batches go to `on-batch` (the compact form).
    #[cfg(test)]
    pub(crate) fn compact(&self) -> bool {
        self.on_batch.is_some()
    }

    /// `on-batch` through the compact bindings' own lowering, to check the compact writer against.
    #[cfg(test)]
    pub(crate) fn on_batch_bindings(
        &mut self,
        batch: &super::host::compact_bindings::httptrace::plugin::compact::Batch,
    ) -> Result<Vec<wit::Verdict>, PluginError> {
        let len = batch.events.len();
        let f = self.on_batch.expect("a plugin with on-batch");
        let func =
            f.typed::<(&super::host::compact_bindings::httptrace::plugin::compact::Batch,), (Vec<wit::Verdict>,)>(&self.store).unwrap();
        self.before_call();
        let r = func.call(&mut self.store, (batch,)).map(|(v,)| v);
        self.check_verdicts(r, len)
    }

    /// [`Instance::on_events`] through the bindings' own lowering, to check it against.
    #[cfg(test)]
    pub(crate) fn on_events_bindings(&mut self, events: &[wit::Event]) -> Result<Vec<wit::Verdict>, PluginError> {
        self.before_call();
        let f = self.on_events.typed::<(&[wit::Event],), (Vec<wit::Verdict>,)>(&self.store).unwrap();
        let r = f.call(&mut self.store, (events,)).map(|(v,)| v);
        self.check_verdicts(r, events.len())
    }

    fn check_verdicts(&mut self, r: wasmtime::Result<Vec<wit::Verdict>>, events: usize) -> Result<Vec<wit::Verdict>, PluginError> {
        let verdicts = self.after_call(Call::OnEvents, r)?;
        if verdicts.len() != events {
            let message = format!("on-events returned {} verdicts for {events} events", verdicts.len());
            return Err(self.error(ErrorKind::Contract { message }));
        }
        Ok(verdicts)
    }

    /// Calls `finish`.
    pub(crate) fn finish(&mut self) -> Result<wit::RunOutcome, PluginError> {
        self.before_call();
        let finish = self.finish;
        let r = finish.call(&mut self.store, ()).map(|(r,)| r);
        self.after_call(Call::Finish, r)?.map_err(|message| self.error(ErrorKind::Finish { message }))
    }

    fn before_call(&mut self) {
        self.store.set_epoch_deadline(self.ticks);
        let d = self.store.data_mut();
        d.emitted = 0;
        d.stderr.clear();
    }

    fn after_call<T>(&mut self, call: Call, r: wasmtime::Result<T>) -> Result<T, PluginError> {
        r.map_err(|e| {
            let kind = classify(&mut self.store, &self.limits, call, e);
            self.error(kind)
        })
    }

    fn error(&self, kind: ErrorKind) -> PluginError {
        PluginError::new(self.id.clone(), kind)
    }
}

/// Names a failed call: the time limit, the memory cap, the output cap, or a plain trap.
fn classify(store: &mut Store<HostState>, limits: &Limits, call: Call, e: wasmtime::Error) -> ErrorKind {
    let state = store.data();
    if state.emit_exceeded {
        return ErrorKind::Output { call, limit: limits.output_per_call };
    }
    if state.limiter.exceeded {
        return ErrorKind::Memory { call, limit: limits.memory };
    }
    let mut message = match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => return ErrorKind::Timeout { call, limit: limits.timeout },
        Some(t) => t.to_string().trim_start_matches("wasm trap: ").to_string(),
        None => first_error_line(&e),
    };
    if let Some(said) = state.stderr.summary() {
        message = format!("{message} (its stderr: {said})");
    }
    ErrorKind::Trap { call, message }
}
