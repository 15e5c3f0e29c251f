// The httptrace conformance plugin in JavaScript, built into a component by componentize-js.
//
// Behaviour (the same in every language, see docs/plugins/javascript.md): interest = every kind;
// verdict `drop` for the kind named by `drop` (default `wrote-header-field`), `keep` otherwise;
// at finish, emit the `conformance v7` report and return `pass`. Config: `drop`, `label`,
// `mode` (`conformance`, or `slow`: print `SLOW <ms> <url>` for each request whose total time
// exceeds `threshold`, default `200ms`); a repeated key's last value wins.
//
// WIT in JS: the interface import is a module named by its WIT name; exports are named ES
// exports in camelCase (`on-events` → `onEvents`); variants are `{ tag, val }` with the WIT case
// name as tag, enums are their WIT case-name strings, records are objects with camelCase
// fields, `option<T>` is the value or `undefined`; a `result` export returns the ok value and
// throws (a string) for the error.

import { emit } from 'httptrace:plugin/host@0.7.0';

const KINDS = [
  'request-start', 'get-conn', 'dns-start', 'dns-done', 'connect-start', 'connect-done',
  'tls-handshake-start', 'tls-handshake-done', 'got-conn', 'wrote-header-field', 'wrote-headers',
  'wait-100-continue', 'got-100-continue', 'got-1xx-response', 'wrote-request',
  'got-first-response-byte', 'response-headers', 'response-done', 'put-idle-conn', 'redirect',
  'request-done', 'proxy-connect-start', 'proxy-connect-done', 'quic-handshake-start',
  'quic-handshake-done',
];

let st;

/** `200ms`, `0.5s` or a bare number of milliseconds → milliseconds. */
function parseThreshold(text) {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text);
  if (!m) throw `bad threshold '${text}' (want e.g. 200ms or 1.5s)`;
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

/** The kinds that name a proxy when the lookup or connect is the proxy's own (0.6.0). */
const PROXIED_KINDS = new Set(['dns-start', 'dns-done', 'connect-start', 'connect-done']);

export function init(config) {
  st = {
    label: '-', drop: 'wrote-header-field', mode: 'conformance', threshold: 200,
    total: 0, dropped: 0, kinds: new Map(), requests: 0, statuses: new Map(), errors: 0, groups: new Map(),
    postData: 0, tunnelsOk: 0, tunnelsFailed: 0, quicOk: 0, quicFailed: 0, kernelStamped: 0, engineStamped: 0,
    proxied: 0, proxiedBytes: 0, bytes: [0n, 0n, 0n],
  };
  for (const [key, value] of config) {
    if (key === 'drop') {
      if (!KINDS.includes(value)) throw `unknown event kind '${value}'`;
      st.drop = value;
    } else if (key === 'label') {
      st.label = value;
    } else if (key === 'mode') {
      if (value !== 'conformance' && value !== 'slow') throw `unknown mode '${value}'`;
      st.mode = value;
    } else if (key === 'threshold') {
      st.threshold = parseThreshold(value);
    } else {
      throw `unknown config key '${key}'`;
    }
  }
  return KINDS;
}

export function onEvents(events) {
  let slow = '';
  const verdicts = events.map(({ kind: { tag, val } }) => {
    st.total += 1;
    st.kinds.set(tag, (st.kinds.get(tag) ?? 0) + 1);
    if (tag === 'tls-handshake-done' && val.keyExchangeGroup !== undefined) {
      st.groups.set(val.keyExchangeGroup, (st.groups.get(val.keyExchangeGroup) ?? 0) + 1);
    }
    if (tag === 'request-start' && val.postData !== undefined) st.postData += utf8Length(val.postData);
    if (tag === 'proxy-connect-done') {
      if (val.error !== undefined) st.tunnelsFailed += 1;
      else st.tunnelsOk += 1;
    }
    if (tag === 'quic-handshake-done') {
      if (val.error !== undefined) st.quicFailed += 1;
      else st.quicOk += 1;
    }
    // The proxy a lookup or connect names (0.6.0).
    if (PROXIED_KINDS.has(tag) && val.proxy !== undefined) {
      st.proxied += 1;
      st.proxiedBytes += utf8Length(val.proxy);
    }
    // The clock that stamped it (an enum: its case name).
    const clock = tag === 'wrote-headers' || tag === 'got-first-response-byte' ? val : tag === 'wrote-request' ? val.clock : undefined;
    if (clock === 'kernel') st.kernelStamped += 1;
    else if (clock === 'engine') st.engineStamped += 1;
    if (tag === 'request-done') {
      st.requests += 1;
      if (val.status !== undefined) st.statuses.set(val.status, (st.statuses.get(val.status) ?? 0) + 1);
      if (val.error !== undefined) st.errors += 1;
      // The bytes each hop moved (0.7.0; u64: BigInt).
      for (const { bytes } of val.hops) {
        st.bytes[0] += bytes.requestBody;
        st.bytes[1] += bytes.responseHeaders;
        st.bytes[2] += bytes.responseBody;
      }
      if (st.mode === 'slow' && val.timings.total > st.threshold) {
        slow += `SLOW ${val.timings.total.toFixed(3)} ${val.url}\n`;
      }
    }
    if (tag === st.drop) {
      st.dropped += 1;
      return 'drop';
    }
    return 'keep';
  });
  if (slow) emit(slow);
  return verdicts;
}

/** The UTF-8 length of a string. */
function utf8Length(s) {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0);
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}

// Byte order of the UTF-8 names; the kind names are ASCII, so UTF-16 order is the same.
const byBytes = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

export function finish() {
  if (st.mode !== 'conformance') return 'pass';
  let out = `conformance v7\nlabel ${st.label}\nevents ${st.total}\ndropped ${st.dropped}\n`;
  for (const kind of [...st.kinds.keys()].sort(byBytes)) out += `kind ${kind} ${st.kinds.get(kind)}\n`;
  out += `requests ${st.requests}\n`;
  for (const code of [...st.statuses.keys()].sort((a, b) => a - b)) out += `status ${code} ${st.statuses.get(code)}\n`;
  out += `errors ${st.errors}\n`;
  // Group names are ASCII: UTF-16 order is byte order.
  for (const group of [...st.groups.keys()].sort(byBytes)) out += `tls-group ${group} ${st.groups.get(group)}\n`;
  out += `post-data ${st.postData}\ntunnels ${st.tunnelsOk} ${st.tunnelsFailed}\n`;
  out += `quic ${st.quicOk} ${st.quicFailed}\n`;
  out += `clocks ${st.kernelStamped} ${st.engineStamped}\n`;
  out += `proxied ${st.proxied} ${st.proxiedBytes}\n`;
  out += `bytes ${st.bytes[0]} ${st.bytes[1]} ${st.bytes[2]}\n`;
  emit(out);
  return 'pass';
}
