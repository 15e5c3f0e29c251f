#!/usr/bin/env python3
"""A/B: alternates commands N times and prints each one's median wall time and CPU time (user +
system of the child), and the wall-time ratio to the first command. For comparing two builds,
or httptrace with oha, on a machine whose speed drifts: only runs alternated in one batch are
comparable.

    bench/ab.py 15 "old=/tmp/httptrace-old -q -n 40000 -c 32 -p stats URL" \\
                   "new=target/release/httptrace -q -n 40000 -c 32 -p stats URL" \\
                   "oha=target/bench-tools/bin/oha --no-tui -n 40000 -c 32 URL"
"""
import resource
import shlex
import statistics
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 3 or not sys.argv[1].isdigit():
        sys.exit(__doc__)
    runs = int(sys.argv[1])
    configs = []
    for arg in sys.argv[2:]:
        label, sep, cmd = arg.partition("=")
        if not sep or not cmd:
            sys.exit(f"ab.py: '{arg}': expected LABEL=COMMAND")
        configs.append((label, shlex.split(cmd)))
    wall = {label: [] for label, _ in configs}
    cpu = {label: [] for label, _ in configs}
    for _ in range(runs):
        for label, cmd in configs:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            wall[label].append((time.perf_counter() - t) * 1e3)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[label].append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1e3)
    base = statistics.median(wall[configs[0][0]])
    for label, _ in configs:
        w = statistics.median(wall[label])
        print(f"{label:12} wall {w:8.1f} ms (min {min(wall[label]):8.1f})  cpu {statistics.median(cpu[label]):8.1f} ms  "
              f"wall ÷ {configs[0][0]} {w / base:.3f}")


if __name__ == "__main__":
    main()
