//! Shared helpers of the `plugins_*` tests: the CLI binary, guest plugin files, a server that
//! outlives each test, library chains, and synthetic components made from WIT text.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use httptrace::trace::{ChannelSink, MemorySink, Sink};
use httptrace::{Client, ClientOptions, Event, RequestSpec};
use httptrace_cli::serve::ServeHandle;
use httptrace_plugin_host::{
    Chain, ChainOptions, ChainReport, MemoryOutput, Output, PluginSource, PluginSpec, Runtime, RuntimeOptions, Verbosity,
};

/// The local target server, started once per test binary on a runtime of its own.
pub fn server() -> &'static ServeHandle {
    static SERVER: OnceLock<ServeHandle> = OnceLock::new();
    SERVER.get_or_init(|| serve_on_own_runtime(httptrace_cli::serve::ServeOptions::default()))
}

/// `httptrace serve` with `opts`, on a runtime of its own that runs for the rest of the test
/// binary.
pub fn serve_on_own_runtime(opts: httptrace_cli::serve::ServeOptions) -> ServeHandle {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            tx.send(httptrace_cli::serve::start(opts).await.expect("starting httptrace serve")).expect("send handle");
            std::future::pending::<()>().await
        })
    });
    rx.recv().expect("server started")
}

/// `http://127.0.0.1:PORT{path}` on the local server.
pub fn http(path: &str) -> String {
    format!("http://{}{path}", server().http_addr)
}

/// A built guest component (`GUEST_DIR/NAME.wasm`; cargo's `_` spelling accepted too).
pub fn guest(name: &str) -> PathBuf {
    let dir =
        std::env::var_os("HTTPTRACE_TEST_GUEST_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(httptrace_test_guests::GUEST_DIR));
    for n in [name.to_string(), name.replace('-', "_")] {
        let p = dir.join(format!("{n}.wasm"));
        if p.is_file() {
            return p;
        }
    }
    panic!("guest plugin {name} not found in {}", dir.display());
}

/// A cache directory shared by the tests of this build, so bundled plugins compile once.
pub fn shared_cache() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent().and_then(Path::parent).expect("target dir").join("plugin-test-cache")
}

/// One CLI run.
#[derive(Debug)]
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// stdout (plugin output).
    pub stdout: String,
    /// stderr (diagnostics).
    pub stderr: String,
}

impl Run {
    /// stderr lines that are not plugin `log` lines.
    pub fn diagnostics(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| !l.starts_with("httptrace: [plugin ")).collect()
    }
}

/// The environment's proxy variables: cleared for every run (a test sets those it tests).
pub const PROXY_VARS: [&str; 8] =
    ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"];

/// `httptrace ARGS` with the shared cache (unless `env` sets another), no colour, and the
/// environment's proxy and OpenTelemetry variables cleared (a test sets those it tests).
pub fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(std::path::PathBuf::from(env!("CARGO_BIN_EXE_httptrace")));
    cmd.args(args).env("HTTPTRACE_CACHE_DIR", shared_cache()).env_remove("HTTPTRACE_LOG").env("NO_COLOR", "1");
    for v in PROXY_VARS {
        cmd.env_remove(v);
    }
    // OpenTelemetry's variables turn export on.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("OTEL_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs `httptrace ARGS` (see [`command`]). Its stderr leaves out the notice of a plugin's
/// slow first compile (`httptrace: plugin NAME: compiling ... (first use...`): whether one
/// comes depends on which test compiled the plugin into the shared cache first and on how busy
/// the machine is, not on what a test checks.
pub fn cli(args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = command(args, env).output().expect("running httptrace");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let notice =
        |l: &str| l.starts_with("httptrace: plugin ") && l.contains(" of WebAssembly for this machine (first use") && l.ends_with("...");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: stderr.split_inclusive('\n').filter(|l| !notice(l.trim_end_matches('\n'))).collect(),
    }
}

/// A plugin runtime on the shared cache, quiet.
pub fn runtime() -> Runtime {
    Runtime::new(RuntimeOptions { cache_dir: Some(shared_cache()), verbosity: Verbosity::Error, bundled: httptrace_cli::bundled::BUNDLED })
        .expect("runtime")
}

/// A spec from `--plugin` syntax and config pairs.
pub fn spec(plugin: &str, config: &[(&str, &str)]) -> PluginSpec {
    let source = if Path::new(plugin).is_absolute() { PluginSource::File(plugin.into()) } else { PluginSource::parse(plugin) };
    PluginSpec { source, config: config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
}

/// Records every batch and forwards it to the chain: what the engine recorded, and what the
/// plugins were given, are the same events.
pub struct Tee(pub MemorySink, pub ChannelSink);

impl Sink for Tee {
    fn request_events(&self, events: Vec<Event>) {
        self.0.request_events(events.clone());
        self.1.request_events(events);
    }

    fn room(&self) -> Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>> {
        self.1.room()
    }

    fn is_closed(&self) -> bool {
        self.1.is_closed()
    }
}

/// Runs `requests` (sequentially, one client) through the chain `specs`; returns the chain's
/// output, its report, and every event the engine recorded.
pub fn run_chain(
    specs: &[PluginSpec],
    opts: ChainOptions,
    client: ClientOptions,
    requests: &[RequestSpec],
) -> (String, ChainReport, Vec<Event>) {
    let rt = runtime();
    let (output, text): (Output, MemoryOutput) = Output::memory();
    let chain = Chain::start(&rt, specs, output, opts).expect("chain starts");
    let (sink, rx) = ChannelSink::new(4);
    let thread = chain.spawn(rx).expect("chain thread");
    let memory = MemorySink::new();
    let tokio_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    tokio_rt.block_on(async {
        let client = Client::new(client, Arc::new(Tee(memory.clone(), sink))).expect("client");
        for r in requests {
            client.execute(r).await;
        }
    });
    drop(tokio_rt);
    let report = thread.join();
    (text.text(), report, memory.events())
}

/// A component built from WIT text with a dummy core module (its functions trap if called):
/// for checks that look only at a component's type.
pub fn synth_component(wit: &str) -> Vec<u8> {
    dummy(wit, false)
}

/// The dummy core module of WIT text's `plugin` world (what `cargo build --target
/// wasm32-wasip1` gives without `wasm-tools component new`).
pub fn synth_core_module(wit: &str) -> Vec<u8> {
    dummy(wit, true)
}

/// `componentize dummy` (tools/componentize, built by `scripts/build-guests.sh`).
fn dummy(wit: &str, core: bool) -> Vec<u8> {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/release/componentize");
    assert!(tool.is_file(), "{} was not built: run `scripts/build-guests.sh` first", tool.display());
    let dir = tempfile::tempdir().expect("temp dir");
    let (file, out) = (dir.path().join("plugin.wit"), dir.path().join("out.wasm"));
    std::fs::write(&file, wit).expect("write WIT");
    let mut cmd = Command::new(&tool);
    cmd.arg("--wit").arg(&file).arg("dummy").arg("-o").arg(&out);
    if core {
        cmd.arg("--core");
    }
    let done = cmd.output().expect("run componentize");
    assert!(done.status.success(), "componentize dummy failed: {}", String::from_utf8_lossy(&done.stderr));
    std::fs::read(&out).expect("componentize's output")
}

/// The real `wit/plugin.wit`.
pub fn plugin_wit() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit/plugin.wit");
    std::fs::read_to_string(p).expect("wit/plugin.wit")
}

/// Writes `bytes` to `dir/name`.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

/// NDJSON lines parsed as events.
pub fn parse_ndjson(text: &str) -> Vec<Event> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// A listener nobody serves: a request (or a plugin's connection) would show up as a pending
/// connection, so [`Silent::assert_untouched`] proves nothing reached it.
pub struct Silent {
    listener: std::net::TcpListener,
    /// `127.0.0.1:PORT`.
    pub addr: std::net::SocketAddr,
}

impl Silent {
    /// Binds a free port on loopback.
    pub fn new() -> Silent {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local_addr");
        Silent { listener, addr }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Panics if anyone connected.
    pub fn assert_untouched(&self, what: &str) {
        match self.listener.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Ok((_, peer)) => panic!("{what}: a connection from {peer} reached the listener"),
            Err(e) => panic!("{what}: accept: {e}"),
        }
    }
}

/// Like [`cli`], and also the child's peak resident set size in bytes (from `wait4`).
pub fn cli_measured(args: &[&str], env: &[(&str, &str)]) -> (Run, u64) {
    use std::io::Read;
    let mut cmd = command(args, env);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawning httptrace");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value; wait4 fills it for our own child, which
    // `Child` has not waited for (it never will: it is dropped unwaited below).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to locals; pid is our child.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        assert_eq!(std::io::Error::last_os_error().kind(), std::io::ErrorKind::Interrupted, "wait4 failed");
    }
    drop(child);
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    let run = Run { code, stdout: out.join().expect("stdout thread"), stderr: err.join().expect("stderr thread") };
    // Linux reports ru_maxrss in KiB.
    (run, usage.ru_maxrss as u64 * 1024)
}

/// Runs `-p PLUGIN [--plugin-config C]… -p ndjson EXTRA… URL` against the local server and
/// checks the misbehaving plugin was contained: exit 90, exactly one diagnostic line on stderr
/// naming the plugin and its file, saying ` disabled: ` and `needle`; ndjson after it printed
/// the whole request (request-start … request-done, status 200). Returns the run.
pub fn assert_contained(plugin: &str, config: &[&str], extra: &[&str], env: &[(&str, &str)], needle: &str) -> Run {
    let path = guest(plugin);
    let mut args = vec!["-p", path.to_str().unwrap()];
    for c in config {
        args.extend(["--plugin-config", c]);
    }
    args.extend(["-p", "ndjson"]);
    args.extend_from_slice(extra);
    let url = http("/");
    args.push(&url);
    let run = cli(&args, env);
    assert_eq!(run.code, 90, "{plugin}: {}", run.stderr.chars().take(2000).collect::<String>());
    let diag = run.diagnostics();
    assert_eq!(diag.len(), 1, "{plugin}: {diag:?}");
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    assert!(diag[0].starts_with(&format!("httptrace: plugin {name} ({}) disabled: ", path.display())), "{plugin}: {diag:?}");
    assert!(diag[0].contains(needle), "{plugin}: {needle:?} not in {diag:?}");
    let json: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with('{')).collect();
    let events = parse_ndjson(&json.join("\n"));
    assert_eq!(events.first().map(|e| e.kind.name()), Some("request-start"), "{plugin}: {json:?}");
    match events.last().map(|e| &e.kind) {
        Some(httptrace::EventKind::RequestDone { status: Some(200), error: None, .. }) => {}
        other => panic!("{plugin}: the request did not end well: {other:?}"),
    }
    run
}

/// Runs `script` of `tests/node-checks` (installed by `scripts/test.sh` with `npm ci`; `package`
/// is the npm package it needs) with `input` on stdin; fails the test with its stderr, under
/// `what`, unless it exits 0.
pub fn node_check(script: &str, package: &str, input: &str, what: &str) {
    node_run(script, &[], package, input, what);
}

/// Runs `script` of `tests/node-checks` with `args` and `input` on stdin as [`node_check`] does;
/// returns its standard output.
pub fn node_run(script: &str, args: &[&str], package: &str, input: &str, what: &str) -> String {
    use std::io::Write;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node-checks");
    assert!(
        dir.join("node_modules").join(package).is_dir(),
        "{package} is not installed: run `npm ci` in {} (scripts/test.sh does)",
        dir.display()
    );
    let mut node = Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run node");
    let mut stdin = node.stdin.take().unwrap();
    let shown: String = input.chars().take(4000).collect();
    let input = input.to_string();
    // Written from a thread: the script may print before it has read everything.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let done = node.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(done.status.success(), "{what}:\n{}\n{shown}", String::from_utf8_lossy(&done.stderr));
    String::from_utf8(done.stdout).expect("UTF-8 from node")
}

/// Imports `text` (`kind` "har" or "trace") with the DevTools bundled in Debian's chromium
/// (`tests/node-checks/devtools-import.js`): what its Network panel's HAR import or its
/// Performance panel's trace engine made of it. Fails the test if DevTools rejected it or its
/// page threw.
pub fn devtools_import(kind: &str, text: &str) -> serde_json::Value {
    let out = node_run("devtools-import.js", &[kind], "playwright-core", text, &format!("DevTools rejected the {kind}"));
    let result: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("devtools-import.js printed no JSON ({e}): {out}"));
    assert_eq!(result["pageErrors"], serde_json::json!([]), "DevTools' page threw on the {kind}");
    result
}

/// Reads from `conn` up to the end of a request's head (its blank line): the bytes read, or
/// `None` if the connection ended or failed first.
pub fn read_head(conn: &mut impl std::io::Read) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    Some(head)
}

/// A bare HTTP/1.1 server on loopback that reads each request's head and answers it with
/// `answer` (whole bytes, so a test controls every header), then closes; its URL and how many
/// requests it answered.
pub fn canned_server(answer: Vec<u8>) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let _ = read_head(&mut s);
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = s.write_all(&answer);
        }
    });
    (url, count)
}
