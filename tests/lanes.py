#!/usr/bin/env python3
"""Prints the exact names of the end-to-end tests that take a lane, one per line.

A test takes a lane when its body says `crate::lanes::timing()` (its numbers must not include
another test's load) or `crate::lanes::load()` (it loads the machine). `scripts/test.sh` runs
the end-to-end binary twice: every other test with more threads than cores (they mostly wait
on servers and subprocesses), then these, two at a time, on a machine nothing else loads.

Reads the binary's `--list --format terse` output on stdin, and fails naming the test when a
laned function found in tests/tests/*.rs is not a test of that list (a renamed module, a
helper that took a lane), so the two runs always cover every test exactly once.
"""

import pathlib
import re
import sys

here = pathlib.Path(__file__).resolve().parent
listed = {line.rsplit(": ", 1)[0] for line in sys.stdin.read().splitlines() if line.endswith(": test")}
if not listed:
    sys.exit("tests/lanes.py: no test names on stdin (pipe `e2e --list --format terse` in)")
laned = []
for path in sorted((here / "tests").glob("*.rs")):
    current = None
    for line in path.read_text().splitlines():
        m = re.match(r"(?:pub\s+)?(?:async\s+)?fn\s+(\w+)", line)
        if m:
            current = m.group(1)
        if re.search(r"crate::lanes::(timing|load)\(\)", line):
            name = f"{path.stem}::{current}"
            if name not in listed:
                sys.exit(f"tests/lanes.py: {path.name}: `{current}` takes a lane but {name} is not a test")
            laned.append(name)
print("\n".join(laned))
