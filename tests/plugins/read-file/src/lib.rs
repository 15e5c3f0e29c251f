//! Test plugin: in its first `on-events` call, tries to read files of the host (`path=FILE`,
//! repeatable, default `/etc/passwd`), list `/` and `.`, and create a file. Whatever it gets
//! is emitted as `LEAK …` lines (a sandbox escape the tests look for); when everything is
//! refused, it panics with a count of the refusals and the first error, e.g. `denied: 2 reads,
//! 2 lists, 1 write (first: read /etc/passwd: …)`, so the host names it and disables it.

use httptrace_guest::{emit, Config, Event, Plugin, Verdict};

struct ReadFile {
    paths: Vec<String>,
}

impl Plugin for ReadFile {
    fn init(config: &Config) -> Result<Self, String> {
        config.unknown_keys(&["path"])?;
        let mut paths: Vec<String> = config.all("path").map(str::to_string).collect();
        if paths.is_empty() {
            paths.push("/etc/passwd".into());
        }
        Ok(ReadFile { paths })
    }

    fn on_events(&mut self, evs: &[Event]) -> Vec<Verdict> {
        let mut denied = Vec::new();
        let mut counts = [0usize; 3];
        let mut leaked = false;
        for p in &self.paths {
            match std::fs::read(p) {
                Ok(bytes) => {
                    emit(&format!("LEAK read {p}: {}\n", String::from_utf8_lossy(&bytes)));
                    leaked = true;
                }
                Err(e) => {
                    counts[0] += 1;
                    denied.push(format!("read {p}: {e}"));
                }
            }
        }
        for dir in ["/", "."] {
            match std::fs::read_dir(dir) {
                Ok(entries) => {
                    let names: Vec<String> = entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
                    emit(&format!("LEAK list {dir}: {}\n", names.join(" ")));
                    leaked = true;
                }
                Err(e) => {
                    counts[1] += 1;
                    denied.push(format!("list {dir}: {e}"));
                }
            }
        }
        match std::fs::write("/tmp/httptrace-read-file-was-here", b"owned") {
            Ok(()) => {
                emit("LEAK wrote /tmp/httptrace-read-file-was-here\n");
                leaked = true;
            }
            Err(e) => {
                counts[2] += 1;
                denied.push(format!("write /tmp: {e}"));
            }
        }
        if !leaked {
            panic!("denied: {} reads, {} lists, {} write (first: {})", counts[0], counts[1], counts[2], denied[0]);
        }
        vec![Verdict::Keep; evs.len()]
    }
}

httptrace_guest::export_plugin!(ReadFile);
