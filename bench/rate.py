"""Open-loop schedule lateness: how late `--rate` starts each request.

Runs `httptrace -n N --rate R -p ndjson` against `httptrace serve` on loopback and reads each
request's `request-start` stamp: a request's clock starts at its scheduled time, so that stamp
is how late it started. Prints p50/p90/p99/max in µs and how many started more than 1 ms late,
for each rate given (default 200 and 1000/s).

Usage: python3 bench/rate.py [RATE...]
"""
import json
import subprocess
import sys

from measure import BIN, start_server


def pct(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


def main():
    rates = sys.argv[1:] or ["200", "1000"]
    server, http = start_server()
    try:
        print("| rate/s | requests | p50 µs | p90 µs | p99 µs | max µs | > 1 ms late |")
        print("|---|---|---|---|---|---|---|")
        for rate in rates:
            n = int(float(rate) * 3)
            out = subprocess.run(
                [BIN, "-q", "-n", str(n), "--rate", rate, "-p", "ndjson", http + "/"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=True,
            ).stdout
            late = sorted(
                e["at_ns"] / 1e3 for e in map(json.loads, out.splitlines()) if e["event"] == "request-start"
            )
            over = sum(1 for v in late if v > 1000)
            print(f"| {rate} | {len(late)} | {pct(late, 50):.0f} | {pct(late, 90):.0f} | {pct(late, 99):.0f} "
                  f"| {late[-1]:.0f} | {over} |")
    finally:
        server.terminate()


if __name__ == "__main__":
    sys.exit(main())
