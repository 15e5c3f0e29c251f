"""The httptrace conformance plugin in Python, built into a component by componentize-py.

Behaviour (the same in every language, see docs/plugins/python.md): interest = every kind;
verdict `drop` for the kind named by `drop` (default `wrote-header-field`), `keep` otherwise; at
finish, emit the `conformance v7` report and return `pass`. Config: `drop`, `label`, `mode`
(`conformance`, or `hosts`: a per-host summary, `host <host[:port]> <requests> <mean total ms>`);
a repeated key's last value wins.

WIT in Python (module `wit_world`, generated at build time): the world's exports are methods of
a class `WitWorld`; `result` errors are raised as `Err(value)`; variants are one dataclass per
case (`EventKind_RequestDone(value=...)`); enums are `Enum`s; records are dataclasses with
snake_case fields; `option<T>` is `Optional[T]`.
"""

from collections import Counter
from typing import List, Tuple, get_args
from urllib.parse import urlsplit

import wit_world
from componentize_py_types import Err
from wit_world.imports import types
from wit_world.imports.host import emit

KINDS = [
    "request-start", "get-conn", "dns-start", "dns-done", "connect-start", "connect-done",
    "tls-handshake-start", "tls-handshake-done", "got-conn", "wrote-header-field", "wrote-headers",
    "wait-100-continue", "got-100-continue", "got-1xx-response", "wrote-request",
    "got-first-response-byte", "response-headers", "response-done", "put-idle-conn", "redirect",
    "request-done", "proxy-connect-start", "proxy-connect-done", "quic-handshake-start",
    "quic-handshake-done",
]
# The variant's case classes and the enum's members are in WIT order, like KINDS.
KIND_OF_CLASS = dict(zip(get_args(types.EventKind), KINDS))
ALL_TYPES = list(types.EventType)


class State:
    """What the plugin remembers between calls."""

    def __init__(self) -> None:
        self.label, self.drop, self.mode = "-", "wrote-header-field", "conformance"
        self.total = self.dropped = self.requests = self.errors = 0
        self.kinds: Counter = Counter()
        self.statuses: Counter = Counter()
        self.groups: Counter = Counter()  # key-exchange group -> tls-handshake-done events
        self.post_data = 0  # UTF-8 bytes of request-start post-data
        self.tunnels_ok = self.tunnels_failed = 0  # proxy-connect-done without / with error
        self.quic_ok = self.quic_failed = 0  # quic-handshake-done without / with error
        self.kernel_stamped = self.engine_stamped = 0  # by the clock that stamped them
        self.proxied = self.proxied_bytes = 0  # dns-*/connect-* naming a proxy; the names' UTF-8 bytes
        self.bytes = [0, 0, 0]  # request-done hops' bytes: request body, response headers, response body
        self.host_of: dict = {}  # request id -> host of its first hop
        self.per_host: dict = {}  # host -> [requests, sum of total ms]


PROXIED_KINDS = (types.EventKind_DnsStart, types.EventKind_DnsDone, types.EventKind_ConnectStart, types.EventKind_ConnectDone)

# componentize-py makes a new WitWorld object for every call: state lives at module level.
st = State()


class WitWorld(wit_world.WitWorld):
    def init(self, config: List[Tuple[str, str]]) -> List[types.EventType]:
        global st
        st = s = State()
        for key, value in config:
            if key == "drop":
                if value not in KINDS:
                    raise Err(f"unknown event kind '{value}'")
                s.drop = value
            elif key == "label":
                s.label = value
            elif key == "mode":
                if value not in ("conformance", "hosts"):
                    raise Err(f"unknown mode '{value}'")
                s.mode = value
            else:
                raise Err(f"unknown config key '{key}'")
        return ALL_TYPES

    def on_events(self, events: List[types.Event]) -> List[types.Verdict]:
        s = st
        verdicts = []
        for ev in events:
            kind = KIND_OF_CLASS[type(ev.kind)]
            s.total += 1
            s.kinds[kind] += 1
            # The proxy a lookup or connect names (0.6.0).
            if isinstance(ev.kind, PROXIED_KINDS) and ev.kind.value.proxy is not None:
                s.proxied += 1
                s.proxied_bytes += len(ev.kind.value.proxy.encode())
            # wrote-headers and got-first-response-byte carry the clock itself; wrote-request
            # has it as a field.
            clock = None
            if isinstance(ev.kind, (types.EventKind_WroteHeaders, types.EventKind_GotFirstResponseByte)):
                clock = ev.kind.value
            elif isinstance(ev.kind, types.EventKind_WroteRequest):
                clock = ev.kind.value.clock
            if clock == types.StampClock.KERNEL:
                s.kernel_stamped += 1
            elif clock == types.StampClock.ENGINE:
                s.engine_stamped += 1
            if isinstance(ev.kind, types.EventKind_RequestStart):
                if ev.hop == 0:
                    parts = urlsplit(ev.kind.value.url)
                    s.host_of[ev.request] = parts.netloc.rpartition("@")[2]
                if ev.kind.value.post_data is not None:
                    s.post_data += len(ev.kind.value.post_data.encode())
            elif isinstance(ev.kind, types.EventKind_ProxyConnectDone):
                if ev.kind.value.error is None:
                    s.tunnels_ok += 1
                else:
                    s.tunnels_failed += 1
            elif isinstance(ev.kind, types.EventKind_QuicHandshakeDone):
                if ev.kind.value.error is None:
                    s.quic_ok += 1
                else:
                    s.quic_failed += 1
            elif isinstance(ev.kind, types.EventKind_TlsHandshakeDone):
                if ev.kind.value.key_exchange_group is not None:
                    s.groups[ev.kind.value.key_exchange_group] += 1
            elif isinstance(ev.kind, types.EventKind_RequestDone):
                done = ev.kind.value
                s.requests += 1
                if done.status is not None:
                    s.statuses[done.status] += 1
                if done.error is not None:
                    s.errors += 1
                # The bytes each hop moved (0.7.0).
                for hop in done.hops:
                    s.bytes[0] += hop.bytes.request_body
                    s.bytes[1] += hop.bytes.response_headers
                    s.bytes[2] += hop.bytes.response_body
                host = s.host_of.pop(ev.request, "?")
                n_sum = s.per_host.setdefault(host, [0, 0.0])
                n_sum[0] += 1
                n_sum[1] += done.timings.total
            if kind == s.drop:
                s.dropped += 1
                verdicts.append(types.Verdict.DROP)
            else:
                verdicts.append(types.Verdict.KEEP)
        return verdicts

    def finish(self) -> types.RunOutcome:
        s = st
        if s.mode == "hosts":
            lines = [
                f"host {host} {n} {total / n:.3f}\n"
                for host, (n, total) in sorted(s.per_host.items(), key=lambda kv: kv[0].encode())
            ]
        else:
            lines = [
                "conformance v7\n",
                f"label {s.label}\n",
                f"events {s.total}\n",
                f"dropped {s.dropped}\n",
                *(f"kind {k} {s.kinds[k]}\n" for k in sorted(s.kinds, key=str.encode)),
                f"requests {s.requests}\n",
                *(f"status {code} {s.statuses[code]}\n" for code in sorted(s.statuses)),
                f"errors {s.errors}\n",
                *(f"tls-group {g} {s.groups[g]}\n" for g in sorted(s.groups, key=str.encode)),
                f"post-data {s.post_data}\n",
                f"tunnels {s.tunnels_ok} {s.tunnels_failed}\n",
                f"quic {s.quic_ok} {s.quic_failed}\n",
                f"clocks {s.kernel_stamped} {s.engine_stamped}\n",
                f"proxied {s.proxied} {s.proxied_bytes}\n",
                f"bytes {s.bytes[0]} {s.bytes[1]} {s.bytes[2]}\n",
            ]
        emit("".join(lines))
        return types.RunOutcome.PASS
