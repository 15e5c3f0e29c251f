"""R2, R3 and R5 of the performance table, measured in one run as ratios.

R2: `httptrace -n 20000 -c 32 -p stats` requests/s ÷ `oha -n 20000 -c 32` on the same URL
    (HTTP/1.1 keep-alive, whole-process wall time for both); and ÷ `wrk -t 2 -c 32 -d 1s`
    (the fastest load generator; its own requests/s figure), when wrk is installed.
R3: one request's whole-process wall time, warm plugin cache, default chain ÷ `curl -w`.
R5: peak RSS of a 100k-request run ÷ a 10k-request run, with `stats`.
R2-proxy: the R2 run through tinyproxy (HTTP forwarding) and microsocks (SOCKS5), when they
    are installed, ÷ direct, requests/s.
R2-h3: `httptrace --http3-only -n 10000 -c 32 -p stats` requests/s against `serve --h3-port`
    ÷ `oha --http-version 3` (oha built with its `http3` feature: target/bench-tools-h3), and
    ÷ httptrace's own HTTP/2 run on the same server's TLS port.
R2-otlp: the R2 run with OTLP export on (`--otlp` to a local rotel collector that discards what
    it receives) ÷ the same run without, requests/s; and with spans sampled at 1 %
    (`OTEL_TRACES_SAMPLER=traceidratio`), metrics in full.
"""
import os
import re
import shutil
import resource
import statistics
import subprocess
import sys
import time

BIN = "target/release/httptrace"
OHA = "target/bench-tools/bin/oha"


def start_server(prefix=(), tls=False):
    """`httptrace serve` on free ports: the process and its http:// base URL (and, with `tls`,
    its https:// one too)."""
    p = subprocess.Popen([*prefix, BIN, "serve", "--port", "0", "--tls-port", "0"], stdout=subprocess.PIPE, text=True)
    http = https = None
    for line in p.stdout:
        m = re.match(r"(https?://\S+)", line)
        if m and m.group(1).startswith("http://") and http is None:
            http = m.group(1)
        if m and m.group(1).startswith("https://") and https is None:
            https = m.group(1)
        if line.startswith("certificate:"):
            break
    return (p, http, https) if tls else (p, http)


def wall(cmd, env=None):
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True, env=env)
    took = time.perf_counter() - t
    if "otlp" in p.stderr:
        # Export that lost data would not be export measured: say so.
        print(p.stderr.strip(), file=sys.stderr)
    return took


ROTEL = os.environ.get("HTTPTRACE_ROTEL", "target/tools/rotel-0.0.1a15/rotel/rotel-agent")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_rotel():
    """A local rotel collector that accepts OTLP/HTTP and discards it (the `blackhole` exporter),
    or None when rotel is not installed (`scripts/test.sh` installs it)."""
    import socket
    if not os.path.exists(ROTEL):
        return None, None
    grpc, http = free_port(), free_port()
    p = subprocess.Popen([ROTEL, "start", "--otlp-grpc-endpoint", f"127.0.0.1:{grpc}", "--otlp-http-endpoint",
                          f"127.0.0.1:{http}", "--exporter", "blackhole", "--pid-file", f"/tmp/rotel-bench-{os.getpid()}.pid"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", http), timeout=0.1).close()
            return p, f"http://127.0.0.1:{http}"
        except OSError:
            time.sleep(0.02)
    p.kill()
    return None, None


def peak_rss_kb(cmd):
    """Peak RSS of one child, measured in a forked helper so earlier children do not count."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        os.write(w, str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss).encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    return int(os.read(r, 64).decode())


def start_proxy(kind):
    """tinyproxy or microsocks on a free loopback port (Debian's packages), or None."""
    import tempfile
    import socket
    exe = shutil.which(kind) or (f"/usr/bin/{kind}" if os.path.exists(f"/usr/bin/{kind}") else None)
    if not exe:
        return None, None
    port = free_port()
    if kind == "tinyproxy":
        d = tempfile.mkdtemp()
        conf = os.path.join(d, "tinyproxy.conf")
        with open(conf, "w") as f:
            f.write(f"Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 200\nAllow 127.0.0.1\nDisableViaHeader Yes\nLogLevel Critical\n")
        cmd, url = [exe, "-d", "-c", conf], f"http://127.0.0.1:{port}"
    else:
        cmd, url = [exe, "-i", "127.0.0.1", "-p", str(port)], f"socks5h://127.0.0.1:{port}"
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return p, url
        except OSError:
            time.sleep(0.02)
    p.kill()
    return None, None


OHA_H3 = "target/bench-tools-h3/bin/oha"


def measure_h3():
    """R2-h3's rows: ours over HTTP/3 ÷ oha over HTTP/3, and ÷ ours over HTTP/2."""
    p = subprocess.Popen([BIN, "serve", "--port", "0", "--tls-port", "0", "--h3-port", "0"], stdout=subprocess.PIPE, text=True)
    tls = h3 = None
    for line in p.stdout:
        m = re.match(r"(https://\S+)\s+\((HTTP/\d)", line)
        if m and m.group(2) == "HTTP/2":
            tls = m.group(1) + "/"
        elif m and m.group(2) == "HTTP/3":
            h3 = m.group(1) + "/"
        if line.startswith("certificate:"):
            break
    rows = []
    try:
        n, c = "10000", "32"
        subprocess.run([BIN, "-q", "-k", "--http3-only", "-n", "100", "-p", "stats", h3], stdout=subprocess.DEVNULL, check=True)
        ours3, ours2, oha3 = [], [], []
        for _ in range(5):
            ours3.append(int(n) / wall([BIN, "-q", "-k", "--http3-only", "-n", n, "-c", c, "-p", "stats", h3]))
            ours2.append(int(n) / wall([BIN, "-q", "-k", "-n", n, "-c", c, "-p", "stats", tls]))
            if os.path.exists(OHA_H3):
                oha3.append(int(n) / wall([OHA_H3, "--no-tui", "--insecure", "--http-version", "3", "-n", n, "-c", c, h3]))
        m3, m2 = statistics.median(ours3), statistics.median(ours2)
        if oha3:
            o = statistics.median(oha3)
            rows.append(f"| R2-h3 httptrace ÷ oha req/s, -n {n} -c {c}, HTTP/3 | {m3/o:.2f} ({m3:.0f} vs {o:.0f} req/s) | ≥ 1.0 |")
        rows.append(f"| R2-h3 httptrace HTTP/3 ÷ HTTP/2 req/s, same server, -n {n} -c {c} | {m3/m2:.2f} ({m3:.0f} vs {m2:.0f} req/s) | (reported) |")
    finally:
        p.terminate()
    return rows


def main():
    server, http = start_server()
    url = http + "/"
    try:
        # Warm the plugin cache and the server.
        subprocess.run([BIN, "-q", "-n", "100", "-p", "stats", url], stdout=subprocess.DEVNULL, check=True)
        subprocess.run([BIN, url], stdout=subprocess.DEVNULL, check=True)

        n, c = "20000", "32"
        ours, theirs, wrk, otlp, sampled = [], [], [], [], []
        collector, endpoint = start_rotel()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        # Alternating runs, medians: a shared VM's noise moves single runs by 10-20 %.
        for _ in range(9):
            ours.append(int(n) / wall([BIN, "-q", "-n", n, "-c", c, "-p", "stats", url], env))
            if endpoint:
                otlp.append(int(n) / wall([BIN, "-q", "-n", n, "-c", c, "-p", "stats", "--otlp", endpoint, url], env))
                ratio = dict(env, OTEL_TRACES_SAMPLER="traceidratio", OTEL_TRACES_SAMPLER_ARG="0.01")
                sampled.append(int(n) / wall([BIN, "-q", "-n", n, "-c", c, "-p", "stats", "--otlp", endpoint, url], ratio))
            theirs.append(int(n) / wall([OHA, "--no-tui", "-n", n, "-c", c, url]))
            if shutil.which("wrk"):
                out = subprocess.run(["wrk", "-t", "2", "-c", c, "-d", "1s", url], stdout=subprocess.PIPE, text=True, check=True).stdout
                wrk.append(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)))
        r2 = statistics.median(ours) / statistics.median(theirs)

        # Through proxies: 10,000 requests (tinyproxy makes a connection per forwarded request).
        proxied = {}
        for kind in ("tinyproxy", "microsocks"):
            proc, proxy = start_proxy(kind)
            if not proc:
                continue
            direct, through = [], []
            for _ in range(3):
                direct.append(10000 / wall([BIN, "-q", "-n", "10000", "-c", c, "-p", "stats", url], env))
                through.append(10000 / wall([BIN, "-q", "-n", "10000", "-c", c, "-p", "stats", "-x", proxy, url], env))
            proc.terminate()
            proxied[kind] = (statistics.median(through), statistics.median(direct))

        one, curl = [], []
        for _ in range(30):
            one.append(wall([BIN, url]))
            curl.append(wall(["curl", "-s", "-o", "/dev/null", "-w", "%{time_total}", url]))
        r3 = statistics.median(one) / statistics.median(curl)

        h3_rows = measure_h3()
        rss10 = peak_rss_kb([BIN, "-q", "-n", "10000", "-c", c, "-p", "stats", url])
        rss100 = peak_rss_kb([BIN, "-q", "-n", "100000", "-c", c, "-p", "stats", url])
        r5 = rss100 / rss10
    finally:
        server.terminate()
        if collector:
            collector.terminate()

    print("| figure | value | target |")
    print("|---|---|---|")
    print(f"| R2 httptrace ÷ oha req/s, -n {n} -c {c}, HTTP/1.1 | {r2:.2f} ({statistics.median(ours):.0f} vs {statistics.median(theirs):.0f} req/s) | ≥ 1.0 |")
    if wrk:
        r2w = statistics.median(ours) / statistics.median(wrk)
        print(f"| R2 httptrace ÷ wrk req/s, -c {c}, HTTP/1.1 | {r2w:.2f} ({statistics.median(ours):.0f} vs {statistics.median(wrk):.0f} req/s) | ≥ 1.0 |")
    for kind, (through, direct) in proxied.items():
        print(f"| R2-proxy through {kind} ÷ direct, -n 10000 -c {c}, http:// | {through/direct:.2f} ({through:.0f} vs {direct:.0f} req/s) | (reported) |")
    if otlp:
        m = statistics.median(ours)
        print(f"| R2-otlp with export ÷ without, -n {n} -c {c}, every span | {statistics.median(otlp)/m:.3f} ({statistics.median(otlp):.0f} vs {m:.0f} req/s) | ≥ 0.95 |")
        print(f"| R2-otlp with export ÷ without, spans sampled 1 % | {statistics.median(sampled)/m:.3f} ({statistics.median(sampled):.0f} vs {m:.0f} req/s) | ≥ 0.95 |")
    for row in h3_rows:
        print(row)
    print(f"| R3 one request, warm cache ÷ curl, whole process | {r3:.2f} ({statistics.median(one)*1e3:.1f} ms vs {statistics.median(curl)*1e3:.1f} ms) | ≤ 1.5 |")
    print(f"| R5 peak RSS 100k ÷ 10k requests, stats | {r5:.2f} ({rss100/1024:.1f} MiB vs {rss10/1024:.1f} MiB) | ≤ 1.1 |")


if __name__ == "__main__":
    sys.exit(main())
