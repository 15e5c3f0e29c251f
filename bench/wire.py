"""Wire truth: httptrace's stamps against a loopback packet capture of the same run.

For each run, tcpdump captures loopback traffic to `httptrace serve` (nanosecond stamps) while
`httptrace -n N -c C -p ndjson` makes the requests. Each request is matched to its connection
(got-conn's local port) and, in order on that connection, to the segment that carried its last
request byte and the first segment of its response. The error of httptrace's
`wrote-request`, `got-first-response-byte` and `wait` (first response byte − request written)
against the wire is printed as p50/p99/max in µs, for each `--kernel-stamps` setting (`all`:
receive and transmit; `receive`, the load-mode default; `off`: httptrace's own stamps), for:
  -c 1, -c 32, and -c 32 with a CPU hog pinned to the client's core (client and hog on CPU 0,
  server on CPU 1);
and for three protocols:
  http/1.1   plain: on each connection, request segments and response segments alternate;
  tls        HTTP/1.1 over TLS 1.3: the same, except that a connection's first request is left
             out (its segments mix with the handshake's and the server's session tickets, which
             follow the client's Finished); the rest are paired from the connection's end;
  h2c        HTTP/2 with prior knowledge: the capture keeps whole segments, each direction's
             bytes are put back in order and cut into frames; a request is its stream's last
             client frame (END_STREAM) and its first response byte the stream's first server
             frame; streams are matched to traced requests in the order their HEADERS were
             written (stream ids rise in that order).

The trace's stamps are mapped to wall-clock time with each request's `wall_unix_ns` (read with
its origin when the request started); the capture's are the kernel's wall clock, so both are
on one clock up to that one reading's error (tens of ns).

Usage: python3 bench/wire.py [-n N] [http/1.1] [tls] [h2c]   (all three by default; needs
tcpdump and taskset; run as root)
"""
import json
import os
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

from measure import BIN, start_server


def read_pcap(path, payload=False):
    """(ts_ns, src_port, dst_port, payload_len[, payload bytes]) of each TCP segment in a
    loopback capture."""
    out = []
    with open(path, "rb") as f:
        head = f.read(24)
        magic = struct.unpack("<I", head[:4])[0]
        if magic == 0xA1B23C4D:
            scale, endian = 1, "<"
        elif magic == 0xA1B2C3D4:
            scale, endian = 1000, "<"
        else:
            raise SystemExit(f"{path}: not a little-endian pcap file (magic {magic:#x})")
        linktype = struct.unpack(endian + "I", head[20:24])[0]
        link_len = {1: 14, 113: 16, 276: 20}.get(linktype)
        if link_len is None:
            raise SystemExit(f"{path}: link type {linktype} not handled")
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            sec, frac, incl, _ = struct.unpack(endian + "IIII", rec)
            data = f.read(incl)
            ip = data[link_len:]
            if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
                continue
            ihl = (ip[0] & 15) * 4
            total = struct.unpack(">H", ip[2:4])[0]
            tcp = ip[ihl:]
            sport, dport = struct.unpack(">HH", tcp[:4])
            thl = (tcp[12] >> 4) * 4
            seg = (sec * 1_000_000_000 + frac * scale, sport, dport, total - ihl - thl)
            out.append(seg + (bytes(tcp[thl:thl + seg[3]]),) if payload else seg)
    return out


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


PROTOCOLS = {"http/1.1": ["--http1.1"], "tls": ["--http1.1", "-k"], "h2c": ["--http2-prior-knowledge"]}


def h2_frames(chunks):
    """The frames of one direction of an HTTP/2 connection: (type, flags, stream, ts of the
    segment with the frame's first byte, ts of the segment with its last byte). `chunks`:
    (ts, payload) in capture order (loopback keeps TCP's order)."""
    data, at = bytearray(), []  # at[i]: the capture time of byte i
    for ts, chunk in chunks:
        data += chunk
        at.extend([ts] * len(chunk))
    i = 24 if data[:3] == b"PRI" else 0  # the client's connection preface
    frames = []
    while i + 9 <= len(data):
        length = int.from_bytes(data[i:i + 3], "big")
        end = i + 9 + length
        if end > len(data):
            break
        stream = int.from_bytes(data[i + 5:i + 9], "big") & 0x7FFFFFFF
        frames.append((data[i + 3], data[i + 4], stream, at[i], at[end - 1]))
        i = end
    return frames


def h2_pairs(segs, port):
    """Per client port: [(last request byte ts, first response byte ts)] in stream-id order."""
    up, down = {}, {}
    for ts, sp, dp, ln, payload in segs:
        if ln > 0 and dp == port:
            up.setdefault(sp, []).append((ts, payload))
        elif ln > 0 and sp == port:
            down.setdefault(dp, []).append((ts, payload))
    pairs = {}
    for lport, chunks in up.items():
        sent = {}
        for kind, flags, stream, _, last in h2_frames(chunks):
            # HEADERS (1) or DATA (0) ending the stream: the request's last byte.
            if stream and kind in (0, 1) and flags & 1:
                sent[stream] = last
        first = {}
        for kind, _, stream, start, _ in h2_frames(down.get(lport, [])):
            if stream and kind in (0, 1) and stream not in first:
                first[stream] = start
        pairs[lport] = [(sent[s], first[s]) for s in sorted(sent) if s in first]
    return pairs


def run(url, port, n, c, kernel, hog, proto="http/1.1"):
    cap = tempfile.NamedTemporaryFile(suffix=".pcap", delete=False).name
    snap = "0" if proto == "h2c" else "96"
    dump = subprocess.Popen(
        ["tcpdump", "-i", "lo", "-w", cap, "-s", snap, "--time-stamp-precision=nano", "-B", "65536", "--immediate-mode",
         f"tcp port {port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    hog_proc = None
    if hog:
        hog_proc = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", "while True: pass"])
    cmd = ["taskset", "-c", "0", BIN, "-q", "-n", str(n), "-c", str(c), *PROTOCOLS[proto], "--kernel-stamps", kernel,
           "-p", "ndjson", url]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=True).stdout
    if hog_proc:
        hog_proc.kill()
    time.sleep(1.5)
    dump.send_signal(signal.SIGINT)
    dump.wait()
    segs = read_pcap(cap, payload=proto == "h2c")
    os.unlink(cap)

    reqs = {}
    for e in map(json.loads, out.splitlines()):
        r = reqs.setdefault(e["request"], {})
        k = e["event"]
        if k == "request-start":
            r["wall0"] = e["wall_unix_ns"] - e["at_ns"]
        elif k == "got-conn":
            r["lport"] = int(e["local_addr"].rsplit(":", 1)[1])
        elif k in ("wrote-headers", "wrote-request", "got-first-response-byte") and k not in r:
            r[k] = e["at_ns"]
    by_conn = {}
    for r in reqs.values():
        if {"wall0", "lport", "wrote-headers", "wrote-request", "got-first-response-byte"} <= r.keys():
            by_conn.setdefault(r["lport"], []).append(r)
    wrote_err, first_err, wait_err = [], [], []

    def compare(r, req_ts, resp_ts):
        wrote_err.append(abs(r["wall0"] + r["wrote-request"] - req_ts) / 1e3)
        first = r["wall0"] + r["got-first-response-byte"]
        wait = r["got-first-response-byte"] - r["wrote-request"]
        first_err.append(abs(first - resp_ts) / 1e3)
        wait_err.append(abs(wait - (resp_ts - req_ts)) / 1e3)

    if proto == "h2c":
        wire_pairs = h2_pairs(segs, port)
        for lport, rs in by_conn.items():
            # Stream ids rise in the order the requests' HEADERS were written.
            rs.sort(key=lambda r: r["wall0"] + r["wrote-headers"])
            pairs = wire_pairs.get(lport, [])
            if len(pairs) != len(rs):
                if os.environ.get("WIRE_DEBUG"):
                    print(f"connection :{lport}: {len(pairs)} streams on the wire, {len(rs)} traced", file=sys.stderr)
                continue
            for r, (req_ts, resp_ts) in zip(rs, pairs):
                compare(r, req_ts, resp_ts)
        return wrote_err, first_err, wait_err, len(reqs)
    # Per connection: request segments (client → server with payload) and response segments.
    wire = {}
    for ts, sp, dp, ln in segs:
        if ln <= 0:
            continue
        if dp == port:
            wire.setdefault(sp, []).append(("req", ts))
        elif sp == port:
            wire.setdefault(dp, []).append(("resp", ts))
    for lport, rs in by_conn.items():
        rs.sort(key=lambda r: r["wall0"] + r["wrote-request"])
        # Pair each request segment with the first response segment after it.
        pairs, last_req = [], None
        for kind, ts in wire.get(lport, []):
            if kind == "req":
                last_req = ts
            elif last_req is not None:
                pairs.append((last_req, ts))
                last_req = None
        if proto == "tls":
            # The handshake's flights and the server's tickets come first: pair from the end,
            # the connection's first request left out.
            rs, pairs = rs[1:], pairs[len(pairs) - (len(rs) - 1):] if len(rs) > 1 else []
        if len(pairs) != len(rs):
            if os.environ.get("WIRE_DEBUG"):
                print(f"connection :{lport}: {len(pairs)} request/response pairs on the wire, {len(rs)} traced", file=sys.stderr)
            continue  # a request split over segments, or a capture drop: leave the connection out
        for r, (req_ts, resp_ts) in zip(rs, pairs):
            compare(r, req_ts, resp_ts)
    return wrote_err, first_err, wait_err, len(reqs)


def main():
    n = int(sys.argv[sys.argv.index("-n") + 1]) if "-n" in sys.argv else 3000
    for tool in ("tcpdump", "taskset"):
        if not shutil.which(tool):
            raise SystemExit(f"bench/wire.py needs {tool} (Debian: apt-get install {'tcpdump' if tool == 'tcpdump' else 'util-linux'})")
    protos = [a for a in sys.argv[1:] if a in PROTOCOLS] or list(PROTOCOLS)
    server, http, https = start_server(prefix=["taskset", "-c", "1"], tls=True)
    try:
        print("| protocol | run | stamps | requests matched | wrote-request p50/p99/max µs | first byte p50/p99/max µs "
              "| wait p50/p99/max µs |")
        print("|---|---|---|---|---|---|---|")
        for proto in protos:
            base = https if proto == "tls" else http
            port = int(base.rsplit(":", 1)[1])
            for label, c, hog in (("-c 1", 1, False), ("-c 32", 32, False), ("-c 32, CPU hog beside the client", 32, True)):
                for kernel in ("all", "receive", "off"):
                    wrote, first, wait, total = run(base + "/", port, n, c, kernel, hog, proto)
                    if not first:
                        print(f"| {proto} | {label} | {kernel} | 0 of {total} | - | - | - |")
                        continue
                    cells = ["/".join(f"{pct(v, p):.0f}" for p in (50, 99, 100)) for v in (wrote, first, wait)]
                    print(f"| {proto} | {label} | {kernel} | {len(first)} of {total} | {' | '.join(cells)} |", flush=True)
    finally:
        server.terminate()


if __name__ == "__main__":
    sys.exit(main())
