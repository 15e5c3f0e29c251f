//! The precompiled-component cache on disk.
//!
//! Key: sha256 of the component's bytes plus a digest of
//! [`wasmtime::Engine::precompile_compatibility_hash`] (the wasmtime version, compiler settings
//! and CPU features), so an artefact is only ever loaded by an engine that can run it. Files are
//! written to a temporary name and renamed into place, so concurrent runs never see half a file.
//! A file that fails to load (corrupt, truncated) is recompiled and replaced. A process about to
//! compile takes an advisory lock on `HASH-ENGINETAG.lock` first, so concurrent runs that miss
//! together compile once: the others wait for the artefact (at most [`LOCK_WAIT`]) and load it.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Where the cache lives unless told otherwise: `$HTTPTRACE_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/httptrace`, else `~/.cache/httptrace`; `None` if none of them is set.
pub fn default_cache_dir() -> Option<PathBuf> {
    let nonempty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    nonempty("HTTPTRACE_CACHE_DIR")
        .or_else(|| nonempty("XDG_CACHE_HOME").map(|d| d.join("httptrace")))
        .or_else(|| nonempty("HOME").map(|h| h.join(".cache").join("httptrace")))
}

/// What the cache directory holds ([`Runtime::cache_usage`](crate::Runtime::cache_usage)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheUsage {
    /// The directory.
    pub dir: PathBuf,
    /// Precompiled components this engine can load, and their bytes.
    pub current: (u64, u64),
    /// Precompiled components for another engine (an older httptrace or wasmtime, other CPU
    /// features), which this one never loads, and their bytes.
    pub stale: (u64, u64),
}

/// How a component was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadOrigin {
    /// Deserialised from a precompiled file in the cache.
    Cached(PathBuf),
    /// Compiled now and written to the cache.
    CompiledAndCached(PathBuf),
    /// Compiled now; not cached (no cache directory, or it could not be written).
    Compiled,
}

/// Counters of cache use, for tests and `HTTPTRACE_LOG=debug`.
#[derive(Debug, Default)]
pub struct CacheStats {
    hits: AtomicU64,
    compiled: AtomicU64,
}

impl CacheStats {
    /// Components loaded from the cache.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Components compiled.
    pub fn compiled(&self) -> u64 {
        self.compiled.load(Ordering::Relaxed)
    }
}

/// A cache directory bound to one engine configuration.
pub(crate) struct Cache {
    dir: PathBuf,
    engine_tag: String,
}

/// A held compile lock. Dropping it deletes the lock file, then closes it (which unlocks): a
/// process already waiting on the old file gets the lock and finds the artefact; one that comes
/// later finds the artefact first, or makes a new lock file and checks again under it.
pub(crate) struct CompileLock {
    file: std::fs::File,
    path: PathBuf,
}

impl Drop for CompileLock {
    fn drop(&mut self) {
        // Only the file this lock is on: one that waited on a file its holder deleted must not
        // delete the next process's lock file at the same path.
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let id = |m: std::fs::Metadata| (m.dev(), m.ino());
            if let (Ok(ours), Ok(there)) = (self.file.metadata(), std::fs::metadata(&self.path)) {
                if id(ours) == id(there) {
                    let _ = std::fs::remove_file(&self.path);
                }
            }
        }
    }
}

/// Feeds `Hash` output into sha256.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        0
    }
}

impl Cache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> Cache {
        let mut h = ShaHasher(Sha256::new());
        "httptrace-cwasm-v1".hash(&mut h);
        engine.precompile_compatibility_hash().hash(&mut h);
        let engine_tag = hex(&h.0.finalize()[..8]);
        Cache { dir, engine_tag }
    }

    /// The file a component with these bytes is cached in.
    pub(crate) fn path_for(&self, bytes: &[u8]) -> PathBuf {
        self.dir.join(format!("{}-{}.cwasm", hex(&Sha256::digest(bytes)), self.engine_tag))
    }

    /// The cached component, if there is a loadable one.
    pub(crate) fn get(&self, engine: &Engine, path: &Path) -> Option<Component> {
        // Read into memory rather than `deserialize_file`: that maps the file, and anyone
        // truncating it while we run would crash us with SIGBUS.
        let bytes = std::fs::read(path).ok()?;
        // SAFETY: the file was written by `put` below (Engine::precompile_component output) for
        // an engine with the same compatibility hash, in a directory the user owns; wasmtime
        // checks its header and engine settings again before using it.
        unsafe { Component::deserialize(engine, &bytes) }.ok()
    }

    /// Takes the compile lock of the artefact at `path` (its `.lock` sibling), waiting at most
    /// [`LOCK_WAIT`] for another process that holds it. `None` if the lock file cannot be made
    /// (a read-only directory) or the wait ran out: the caller compiles without it, as before
    /// there were locks.
    pub(crate) fn lock_for(&self, path: &Path) -> Option<CompileLock> {
        std::fs::create_dir_all(&self.dir).ok()?;
        let path = path.with_extension("lock");
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).ok()?;
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => return Some(CompileLock { file, path }),
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(_) => return None,
            }
        }
    }

    /// Writes a precompiled artefact atomically (temp file, then rename).
    pub(crate) fn put(&self, path: &Path, serialized: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(serialized)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

impl Cache {
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether `name` is an artefact of this cache's engine (`HASH-ENGINETAG.cwasm`), of
    /// another engine, or no artefact at all.
    fn classify(&self, name: &str) -> Option<bool> {
        let stem = name.strip_suffix(".cwasm")?;
        let (hash, tag) = stem.split_once('-')?;
        (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then(|| tag == self.engine_tag)
    }

    /// The artefacts in the directory: path, whether this engine can load it, size (a missing
    /// directory has none). Files that are not artefacts are not listed.
    fn artefacts(&self) -> std::io::Result<Vec<(PathBuf, bool, u64)>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry?;
            if let Some(current) = entry.file_name().to_str().and_then(|n| self.classify(n)) {
                out.push((entry.path(), current, entry.metadata()?.len()));
            }
        }
        Ok(out)
    }

    /// Counts the artefacts in the directory.
    pub(crate) fn usage(&self) -> std::io::Result<CacheUsage> {
        let mut usage = CacheUsage { dir: self.dir.clone(), ..CacheUsage::default() };
        for (_, current, size) in self.artefacts()? {
            let slot = if current { &mut usage.current } else { &mut usage.stale };
            slot.0 += 1;
            slot.1 += size;
        }
        Ok(usage)
    }

    /// Deletes the artefacts of other engines (`all`: every artefact); returns how many files
    /// and bytes were removed. Files that are not artefacts are left alone.
    pub(crate) fn remove(&self, all: bool) -> std::io::Result<(u64, u64)> {
        let mut removed = (0, 0);
        for (path, current, size) in self.artefacts()? {
            if all || !current {
                std::fs::remove_file(&path)?;
                removed.0 += 1;
                removed.1 += size;
            }
        }
        // Compile locks left by processes that were killed while compiling (empty files, not
        // counted): another build's, and this build's that no process holds.
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".lock")) else { continue };
            let Some(current) = self.classify(&format!("{stem}.cwasm")) else { continue };
            let unheld = || std::fs::File::open(entry.path()).is_ok_and(|f| f.try_lock().is_ok());
            if all || !current || unheld() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(removed)
    }
}

/// How long a process waits for another one's compile of the same component before it compiles
/// it too: far longer than any compile (a Python component takes ~11 s on a small machine), and
/// still an end if the other process is stuck (a lock is released when its holder exits).
pub(crate) const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// How long a compile runs before it says so on stderr (a big component takes seconds).
pub(crate) const SLOW_COMPILE_NOTICE: std::time::Duration = std::time::Duration::from_secs(1);

/// Loads a component through the cache: deserialise if cached, else compile, cache, and load
/// the artefact just written (deserialising is ~0.1 ms, so this costs nothing extra).
/// A compile that outlasts [`SLOW_COMPILE_NOTICE`] prints `notice` once on stderr (a
/// component built from Python compiles for ~11 s on a small machine; silence looks like a hang).
pub(crate) fn load(
    engine: &Engine,
    cache: Option<&Cache>,
    stats: &CacheStats,
    bytes: &[u8],
    notice: Option<String>,
) -> wasmtime::Result<(Component, LoadOrigin)> {
    let path = cache.map(|c| c.path_for(bytes));
    if let (Some(c), Some(p)) = (cache, &path) {
        if let Some(component) = c.get(engine, p) {
            stats.hits.fetch_add(1, Ordering::Relaxed);
            return Ok((component, LoadOrigin::Cached(p.clone())));
        }
    }
    let _notice = notice.map(|text| SlowNotice::start(text, SLOW_COMPILE_NOTICE));
    // Held until the artefact is in place (or this compile failed); released on drop.
    let _lock = match (cache, &path) {
        (Some(c), Some(p)) => match c.lock_for(p) {
            Some(lock) => {
                // Whoever held the lock before us may have written the artefact meanwhile.
                if let Some(component) = c.get(engine, p) {
                    stats.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok((component, LoadOrigin::Cached(p.clone())));
                }
                Some(lock)
            }
            None => None,
        },
        _ => None,
    };
    let serialized = engine.precompile_component(bytes)?;
    stats.compiled.fetch_add(1, Ordering::Relaxed);
    // SAFETY: `serialized` was produced just now by this engine.
    let component = unsafe { Component::deserialize(engine, &serialized)? };
    let origin = match (cache, path) {
        (Some(c), Some(p)) if c.put(&p, &serialized).is_ok() => LoadOrigin::CompiledAndCached(p),
        _ => LoadOrigin::Compiled,
    };
    Ok((component, origin))
}

/// Prints a line on stderr if it is still alive after a delay.
struct SlowNotice {
    done: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SlowNotice {
    fn start(text: String, after: std::time::Duration) -> SlowNotice {
        let (done, rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("httptrace-compile-notice".into())
            .spawn(move || {
                if rx.recv_timeout(after) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                    eprintln!("{text}");
                }
            })
            .ok();
        SlowNotice { done: Some(done), thread }
    }
}

impl Drop for SlowNotice {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
