// The httptrace conformance plugin in C, on the `wit-bindgen c` bindings in bindings/.
//
// Behaviour (the same in every language, see docs/plugins/c.md): interest = every kind; verdict
// `drop` for the kind named by `drop` (default `wrote-header-field`), `keep` otherwise; at finish,
// emit the `conformance v7` report and return `pass`. Config: `drop`, `label`, `mode`
// (`conformance`, or `status`: counts final statuses by class); a repeated key's last value wins.
//
// Ownership (canonical ABI, as the bindings expect): arguments belong to us and are freed with
// the generated *_free functions; returned lists and error strings are malloc'd and freed by the
// generated post-return functions.

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/plugin.h"

// The layouts plugins/conformance-go/abi.go reads by hand (docs/plugins/go.md), checked against
// wit-bindgen's structs whenever this plugin builds.
#include <stddef.h>
typedef httptrace_plugin_types_event_t ev_t;
typedef httptrace_plugin_types_event_kind_t kind_t;
#define AT(type, field, at) _Static_assert(offsetof(type, field) == (at), #type "." #field " @" #at)
_Static_assert(sizeof(ev_t) == 240, "event: 240 bytes");
AT(ev_t, hop, 8);
AT(ev_t, conn, 16);
AT(ev_t, at_ns, 32);
AT(ev_t, kind, 40);
AT(kind_t, val, 8);  // payload @48
AT(httptrace_plugin_types_request_start_t, url, 8);
AT(httptrace_plugin_types_request_start_t, post_data, 24);
AT(httptrace_plugin_types_tls_handshake_done_t, key_exchange_group, 76);
AT(httptrace_plugin_types_proxy_connect_done_t, error, 12);
AT(httptrace_plugin_types_quic_handshake_done_t, error, 36);
AT(httptrace_plugin_types_wrote_request_t, clock, 36);
AT(httptrace_plugin_types_dns_start_t, proxy, 8);
AT(httptrace_plugin_types_dns_done_t, proxy, 40);
AT(httptrace_plugin_types_connect_start_t, proxy, 16);
AT(httptrace_plugin_types_connect_done_t, proxy, 48);
AT(httptrace_plugin_types_request_done_t, status, 8);
AT(httptrace_plugin_types_request_done_t, error, 12);
AT(httptrace_plugin_types_request_done_t, timings, 40);
AT(httptrace_plugin_types_request_done_t, hops, 168);
_Static_assert(sizeof(httptrace_plugin_types_hop_summary_t) == 168, "hop-summary: 168 bytes");
AT(httptrace_plugin_types_hop_summary_t, bytes, 144);

#define KINDS 25
static const char *const KIND_NAMES[KINDS] = {
    "request-start", "get-conn", "dns-start", "dns-done", "connect-start", "connect-done",
    "tls-handshake-start", "tls-handshake-done", "got-conn", "wrote-header-field", "wrote-headers",
    "wait-100-continue", "got-100-continue", "got-1xx-response", "wrote-request",
    "got-first-response-byte", "response-headers", "response-done", "put-idle-conn", "redirect",
    "request-done", "proxy-connect-start", "proxy-connect-done", "quic-handshake-start",
    "quic-handshake-done",
};

static struct {
  plugin_string_t label;     // our own copy (may hold any bytes)
  int status_mode;           // mode=status
  int drop;                  // kind index to drop
  uint64_t total, dropped, requests, errors;
  uint64_t kinds[KINDS];
  uint64_t statuses[65536];  // by status code (u16)
  uint64_t no_status;        // request-done without a status
  struct group { plugin_string_t name; uint64_t n; } *groups;  // key-exchange groups seen
  size_t n_groups;
  uint64_t post_data;                 // UTF-8 bytes of request-start post-data
  uint64_t tunnels_ok, tunnels_failed;  // proxy-connect-done without / with error
  uint64_t quic_ok, quic_failed;        // quic-handshake-done without / with error
  uint64_t stamped[2];                  // wrote-headers, wrote-request, got-first-response-byte: kernel, engine
  uint64_t proxied[2];                  // dns-*/connect-* naming a proxy; the names' UTF-8 bytes
  uint64_t bytes[3];                    // request-done hops' bytes: request body, response headers, response body
} st;

// Counts one tls-handshake-done naming `name` (copied).
static void count_group(const plugin_string_t *name) {
  for (size_t i = 0; i < st.n_groups; i++)
    if (st.groups[i].name.len == name->len && memcmp(st.groups[i].name.ptr, name->ptr, name->len) == 0) {
      st.groups[i].n++;
      return;
    }
  st.groups = realloc(st.groups, (st.n_groups + 1) * sizeof st.groups[0]);
  plugin_string_dup_n(&st.groups[st.n_groups].name, (const char *) name->ptr, name->len);
  st.groups[st.n_groups].n = 1;
  st.n_groups++;
}

// Byte order of two names (a shorter prefix first).
static int by_group(const void *a, const void *b) {
  const plugin_string_t *x = &((const struct group *) a)->name, *y = &((const struct group *) b)->name;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->ptr, y->ptr, n);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

// Is `s` (not NUL-terminated) equal to the C string `c`?
static int eq(const plugin_string_t *s, const char *c) {
  return s->len == strlen(c) && memcmp(s->ptr, c, s->len) == 0;
}

static char *cstr(const plugin_string_t *s) {
  char *c = malloc(s->len + 1);
  memcpy(c, s->ptr, s->len);
  c[s->len] = 0;
  return c;
}

// Sets *err to "<what> '<value>'" and returns false.
static bool fail(plugin_string_t *err, const char *what, const plugin_string_t *value) {
  char *v = cstr(value);
  size_t n = strlen(what) + value->len + 4;
  char *msg = malloc(n);
  snprintf(msg, n, "%s '%s'", what, v);
  free(v);
  plugin_string_dup(err, msg);
  free(msg);
  return false;
}

bool exports_plugin_init(plugin_list_tuple2_string_string_t *config, plugin_list_event_type_t *ret, plugin_string_t *err) {
  memset(&st, 0, sizeof st);
  st.drop = HTTPTRACE_PLUGIN_TYPES_EVENT_KIND_WROTE_HEADER_FIELD;
  plugin_string_dup(&st.label, "-");
  bool ok = true;
  for (size_t i = 0; ok && i < config->len; i++) {
    plugin_string_t *key = &config->ptr[i].f0, *value = &config->ptr[i].f1;
    if (eq(key, "drop")) {
      int found = -1;
      for (int k = 0; k < KINDS; k++) if (eq(value, KIND_NAMES[k])) found = k;
      if (found < 0) ok = fail(err, "unknown event kind", value);
      else st.drop = found;
    } else if (eq(key, "label")) {
      plugin_string_free(&st.label);
      plugin_string_dup_n(&st.label, (const char *) value->ptr, value->len);
    } else if (eq(key, "mode")) {
      if (eq(value, "conformance")) st.status_mode = 0;
      else if (eq(value, "status")) st.status_mode = 1;
      else ok = fail(err, "unknown mode", value);
    } else {
      ok = fail(err, "unknown config key", key);
    }
  }
  plugin_list_tuple2_string_string_free(config);
  if (!ok) return false;
  ret->len = KINDS;
  ret->ptr = malloc(KINDS * sizeof(plugin_event_type_t));
  for (int k = 0; k < KINDS; k++) ret->ptr[k] = (plugin_event_type_t) k;
  return true;
}

void exports_plugin_on_events(plugin_list_event_t *events, plugin_list_verdict_t *ret) {
  ret->len = events->len;
  ret->ptr = events->len ? malloc(events->len) : NULL;  // freed by the post-return function
  for (size_t i = 0; i < events->len; i++) {
    httptrace_plugin_types_event_kind_t *kind = &events->ptr[i].kind;
    st.total++;
    st.kinds[kind->tag]++;
    if (kind->tag == HTTPTRACE_PLUGIN_TYPES_EVENT_KIND_REQUEST_START) {
      httptrace_plugin_types_request_start_t *start = &kind->val.request_start;
      if (start->post_data.is_some) st.post_data += start->post_data.val.len;
    }
    if (kind->tag == HTTPTRACE_PLUGIN_TYPES_EVENT_KIND_PROXY_CONNECT_DONE) {
      if (kind->val.proxy_connect_done.error.is_some) st.tunnels_failed++;
      else st.tunnels_ok++;
    }
    // The proxy a lookup or connect names (0.6.0).
    const plugin_option_string_t *proxy = NULL;
    if (kind->tag == HTTPTRACE_PLUGIN_TYPES_EVENT_KIND_DNS_START) proxy = &kind->val.dns_start.proxy;
    if (kind->tag == HTTPTRACE_PLUGIN_TYPES_EVENT_KIND_DNS_DONE) proxy = &kind->val.dns_done.proxy;
    if (kind->tag == HTTPTRACE_PLUGIN_TYPES_EVENT_KIND_CONNECT_START) proxy = &kind->val.connect_start.proxy;
    if (kind->tag == HTTPTRACE_PLUGIN_TYPES_EVENT_KIND_CONNECT_DONE) proxy = &kind->val.connect_done.proxy;
    if (proxy && proxy->is_some) {
      st.proxied[0]++;
      st.proxied[1] += proxy->val.len;
    }
    // The clock that stamped it: the case's payload, or wrote-request's field.
    int clock = -1;
    if (kind->tag == HTTPTRACE_PLUGIN_TYPES_EVENT_KIND_WROTE_HEADERS) clock = kind->val.wrote_headers;
    if (kind->tag == HTTPTRACE_PLUGIN_TYPES_EVENT_KIND_GOT_FIRST_RESPONSE_BYTE) clock = kind->val.got_first_response_byte;
    if (kind->tag == HTTPTRACE_PLUGIN_TYPES_EVENT_KIND_WROTE_REQUEST) clock = kind->val.wrote_request.clock;
    if (clock == HTTPTRACE_PLUGIN_TYPES_STAMP_CLOCK_KERNEL) st.stamped[0]++;
    if (clock == HTTPTRACE_PLUGIN_TYPES_STAMP_CLOCK_ENGINE) st.stamped[1]++;
    if (kind->tag == HTTPTRACE_PLUGIN_TYPES_EVENT_KIND_QUIC_HANDSHAKE_DONE) {
      if (kind->val.quic_handshake_done.error.is_some) st.quic_failed++;
      else st.quic_ok++;
    }
    if (kind->tag == HTTPTRACE_PLUGIN_TYPES_EVENT_KIND_TLS_HANDSHAKE_DONE) {
      httptrace_plugin_types_tls_handshake_done_t *tls = &kind->val.tls_handshake_done;
      if (tls->key_exchange_group.is_some) count_group(&tls->key_exchange_group.val);
    }
    if (kind->tag == HTTPTRACE_PLUGIN_TYPES_EVENT_KIND_REQUEST_DONE) {
      httptrace_plugin_types_request_done_t *done = &kind->val.request_done;
      st.requests++;
      if (done->status.is_some) st.statuses[done->status.val]++;
      else st.no_status++;
      if (done->error.is_some) st.errors++;
      // The bytes each hop moved (0.7.0).
      for (size_t h = 0; h < done->hops.len; h++) {
        const httptrace_plugin_types_byte_counts_t *b = &done->hops.ptr[h].bytes;
        st.bytes[0] += b->request_body;
        st.bytes[1] += b->response_headers;
        st.bytes[2] += b->response_body;
      }
    }
    if (kind->tag == st.drop) {
      st.dropped++;
      ret->ptr[i] = HTTPTRACE_PLUGIN_TYPES_VERDICT_DROP;
    } else {
      ret->ptr[i] = HTTPTRACE_PLUGIN_TYPES_VERDICT_KEEP;
    }
  }
  plugin_list_event_free(events);
}

// A growing output buffer.
static char *out;
static size_t out_len, out_cap;

static void put(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void put(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (out_len + n + 1 > out_cap) {
    out_cap = (out_len + n + 1) * 2;
    out = realloc(out, out_cap);
  }
  va_start(ap, fmt);
  vsnprintf(out + out_len, n + 1, fmt, ap);
  va_end(ap);
  out_len += n;
}

static void put_bytes(const plugin_string_t *s) {
  if (out_len + s->len + 1 > out_cap) {
    out_cap = (out_len + s->len + 1) * 2;
    out = realloc(out, out_cap);
  }
  memcpy(out + out_len, s->ptr, s->len);
  out_len += s->len;
}

static int by_name(const void *a, const void *b) {
  return strcmp(KIND_NAMES[*(const int *) a], KIND_NAMES[*(const int *) b]);
}

bool exports_plugin_finish(plugin_run_outcome_t *ret, plugin_string_t *err) {
  (void) err;
  out_len = 0;
  if (st.status_mode) {
    // Final statuses by class: `status 2xx <n>`, ..., then `status none <n>`.
    for (int class = 1; class <= 9; class++) {
      uint64_t n = 0;
      for (int code = class * 100; code < class * 100 + 100; code++) n += st.statuses[code];
      if (n) put("status %dxx %llu\n", class, (unsigned long long) n);
    }
    if (st.no_status) put("status none %llu\n", (unsigned long long) st.no_status);
  } else {
    put("conformance v7\nlabel ");
    put_bytes(&st.label);
    put("\nevents %llu\ndropped %llu\n", (unsigned long long) st.total, (unsigned long long) st.dropped);
    int order[KINDS];
    for (int k = 0; k < KINDS; k++) order[k] = k;
    qsort(order, KINDS, sizeof order[0], by_name);  // strcmp = byte order
    for (int i = 0; i < KINDS; i++)
      if (st.kinds[order[i]]) put("kind %s %llu\n", KIND_NAMES[order[i]], (unsigned long long) st.kinds[order[i]]);
    put("requests %llu\n", (unsigned long long) st.requests);
    for (int code = 0; code < 65536; code++)
      if (st.statuses[code]) put("status %d %llu\n", code, (unsigned long long) st.statuses[code]);
    put("errors %llu\n", (unsigned long long) st.errors);
    qsort(st.groups, st.n_groups, sizeof st.groups[0], by_group);
    for (size_t i = 0; i < st.n_groups; i++) {
      put("tls-group ");
      put_bytes(&st.groups[i].name);
      put(" %llu\n", (unsigned long long) st.groups[i].n);
    }
    put("post-data %llu\ntunnels %llu %llu\n", (unsigned long long) st.post_data, (unsigned long long) st.tunnels_ok,
        (unsigned long long) st.tunnels_failed);
    put("quic %llu %llu\n", (unsigned long long) st.quic_ok, (unsigned long long) st.quic_failed);
    put("clocks %llu %llu\n", (unsigned long long) st.stamped[0], (unsigned long long) st.stamped[1]);
    put("proxied %llu %llu\n", (unsigned long long) st.proxied[0], (unsigned long long) st.proxied[1]);
    put("bytes %llu %llu %llu\n", (unsigned long long) st.bytes[0], (unsigned long long) st.bytes[1],
        (unsigned long long) st.bytes[2]);
  }
  plugin_string_t text = { (uint8_t *) out, out_len };
  httptrace_plugin_host_emit(&text);
  *ret = HTTPTRACE_PLUGIN_TYPES_RUN_OUTCOME_PASS;
  return true;
}

// The bindings are generated with --no-object-file (no binary checked in): the WIT type
// information is embedded afterwards by `componentize new`, so the symbol that would pull in
// plugin_component_type.o is defined here, empty.
void __component_type_object_force_link_plugin(void) {}
