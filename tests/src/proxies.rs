//! Real proxies on loopback (Debian's packages, installed by `scripts/test.sh`): tinyproxy as
//! the HTTP forwarding and `CONNECT` proxy, microsocks as the SOCKS5 proxy, Dante's danted for
//! SOCKS4 and SOCKS4a.

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::nginx::free_addr;

/// A running proxy process; stopped when dropped.
pub struct ProxyProcess {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its configuration and log directory.
    pub dir: tempfile::TempDir,
}

impl ProxyProcess {
    /// tinyproxy on a free loopback port; with `auth`, it wants Basic credentials (407).
    pub fn tinyproxy(auth: Option<(&str, &str)>) -> ProxyProcess {
        let dir = tempfile::tempdir().unwrap();
        let addr = free_addr();
        let basic = auth.map(|(u, p)| format!("BasicAuth {u} {p}\n")).unwrap_or_default();
        // No ConnectPort line: CONNECT to every port (the test servers' are random).
        let conf = format!(
            "Port {}\nListen 127.0.0.1\nTimeout 30\nMaxClients 200\nAllow 127.0.0.1\nDisableViaHeader Yes\n\
             LogLevel Connect\nLogFile \"{}\"\n{basic}",
            addr.port(),
            dir.path().join("tinyproxy.log").display()
        );
        let path = dir.path().join("tinyproxy.conf");
        std::fs::write(&path, conf).unwrap();
        let mut cmd = Command::new(binary("tinyproxy"));
        cmd.arg("-d").arg("-c").arg(&path);
        start(cmd, addr, dir)
    }

    /// microsocks on a free loopback port; with `auth`, it wants a username and password.
    pub fn microsocks(auth: Option<(&str, &str)>) -> ProxyProcess {
        let dir = tempfile::tempdir().unwrap();
        let addr = free_addr();
        let mut cmd = Command::new(binary("microsocks"));
        cmd.args(["-i", "127.0.0.1", "-p", &addr.port().to_string()]);
        if let Some((u, p)) = auth {
            cmd.args(["-u", u, "-P", p]);
        }
        start(cmd, addr, dir)
    }

    /// Dante's `danted` on a free loopback port: SOCKS4, SOCKS4a and SOCKS5, no authentication.
    pub fn danted() -> ProxyProcess {
        let dir = tempfile::tempdir().unwrap();
        let addr = free_addr();
        let conf = format!(
            "logoutput: {log}\ninternal: 127.0.0.1 port = {port}\nexternal: 127.0.0.1\nsocksmethod: none\nclientmethod: none\n\
             user.privileged: root\nuser.unprivileged: nobody\n\
             client pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 log: connect }}\n\
             socks pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 log: connect }}\n",
            log = dir.path().join("danted.log").display(),
            port = addr.port()
        );
        let path = dir.path().join("danted.conf");
        std::fs::write(&path, conf).unwrap();
        let mut cmd = Command::new(binary("danted"));
        cmd.arg("-f").arg(&path).arg("-p").arg(dir.path().join("danted.pid"));
        start(cmd, addr, dir)
    }

    /// `SCHEME://127.0.0.1:PORT`.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    /// What the proxy logged so far (tinyproxy: each request line; danted: each connection).
    pub fn log(&self) -> String {
        ["tinyproxy.log", "danted.log"].iter().filter_map(|f| std::fs::read_to_string(self.dir.path().join(f)).ok()).collect()
    }
}

fn binary(name: &str) -> String {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin"] {
        let p = format!("{dir}/{name}");
        if std::path::Path::new(&p).exists() {
            return p;
        }
    }
    panic!("{name} is not installed: scripts/test.sh installs it (Debian: apt-get install {name})")
}

/// Any other server process started with `cmd`, once it listens on `addr`; stopped when
/// dropped, as the proxies are.
pub fn listening(cmd: Command, addr: SocketAddr, dir: tempfile::TempDir) -> ProxyProcess {
    start(cmd, addr, dir)
}

fn start(mut cmd: Command, addr: SocketAddr, dir: tempfile::TempDir) -> ProxyProcess {
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("starting the proxy");
    let mut p = ProxyProcess { child, addr, dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        if let Ok(Some(status)) = p.child.try_wait() {
            panic!("{cmd:?} exited ({status}) before listening on {addr}");
        }
        assert!(Instant::now() < deadline, "{cmd:?} did not listen on {addr} within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    p
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        // SIGTERM first: danted's mother process then stops its children too.
        // SAFETY: kill(2) on our own child's pid; no memory is passed.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
