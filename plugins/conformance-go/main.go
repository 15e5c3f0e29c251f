// The httptrace conformance plugin in Go (GOOS=wasip1, -buildmode=c-shared, glue in abi.go).
//
// Behaviour (the same in every language, see docs/plugins/go.md): interest = every kind; verdict
// `drop` for the kind named by `drop` (default `wrote-header-field`), `keep` otherwise; at finish,
// emit the `conformance v7` report and return `pass`. Config: `drop`, `label`, `mode`
// (`conformance`, or `csv`: a CSV line `request,url,status,total_ms` per finished request, after
// a header line); a repeated key's last value wins.
package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

func main() {} // required by -buildmode=c-shared; the host calls the exports instead

// Kinds are the event kind names in WIT order (index = event-type value).
var Kinds = []string{
	"request-start", "get-conn", "dns-start", "dns-done", "connect-start", "connect-done",
	"tls-handshake-start", "tls-handshake-done", "got-conn", "wrote-header-field", "wrote-headers",
	"wait-100-continue", "got-100-continue", "got-1xx-response", "wrote-request",
	"got-first-response-byte", "response-headers", "response-done", "put-idle-conn", "redirect",
	"request-done", "proxy-connect-start", "proxy-connect-done", "quic-handshake-start",
	"quic-handshake-done",
}

var st struct {
	label, mode                    string
	drop                           int
	total, dropped, requests, errs uint64
	kinds                          [25]uint64
	postData, tunnelsOK, tunnelsErr uint64 // UTF-8 bytes of post-data; proxy-connect-done by outcome
	quicOK, quicErr                uint64 // quic-handshake-done by outcome
	stamped                        [2]uint64 // wrote-headers, wrote-request, got-first-response-byte: kernel, engine
	proxied                        [2]uint64 // dns-*/connect-* naming a proxy; the names' UTF-8 bytes
	bytes                          [3]uint64 // request-done hops' bytes: request body, response headers, response body
	statuses                       map[uint16]uint64
	groups                         map[string]uint64 // key-exchange group -> tls-handshake-done events
	csvHeaderDone                  bool
}

// Init reads the configuration; it returns the kinds wanted, or an error message.
func Init(config [][2]string) ([]byte, string) {
	st.label, st.mode, st.drop = "-", "conformance", 9 // wrote-header-field
	st.statuses = map[uint16]uint64{}
	st.groups = map[string]uint64{}
	for _, kv := range config {
		key, value := kv[0], kv[1]
		switch key {
		case "drop":
			i := indexOf(Kinds, value)
			if i < 0 {
				return nil, fmt.Sprintf("unknown event kind '%s'", value)
			}
			st.drop = i
		case "label":
			st.label = value
		case "mode":
			if value != "conformance" && value != "csv" {
				return nil, fmt.Sprintf("unknown mode '%s'", value)
			}
			st.mode = value
		default:
			return nil, fmt.Sprintf("unknown config key '%s'", key)
		}
	}
	all := make([]byte, len(Kinds))
	for i := range all {
		all[i] = byte(i)
	}
	return all, ""
}

// OnEvents counts a batch and returns one verdict per event.
func OnEvents(events []Event) []byte {
	verdicts := make([]byte, len(events))
	var rows bytes.Buffer
	w := csv.NewWriter(&rows)
	for i, ev := range events {
		st.total++
		st.kinds[ev.Kind]++
		if ev.Kind == kindRequestStart && ev.HasPostData {
			st.postData += uint64(len(ev.PostData))
		}
		if ev.Kind == kindProxyConnectDone {
			if ev.HasError {
				st.tunnelsErr++
			} else {
				st.tunnelsOK++
			}
		}
		if ev.HasProxy {
			st.proxied[0]++
			st.proxied[1] += uint64(len(ev.Proxy))
		}
		switch ev.Clock {
		case 1:
			st.stamped[0]++
		case 0:
			st.stamped[1]++
		}
		if ev.Kind == kindQUICHandshakeDone {
			if ev.HasError {
				st.quicErr++
			} else {
				st.quicOK++
			}
		}
		if ev.Kind == kindTLSHandshakeDone && ev.HasGroup {
			st.groups[ev.Group]++
		}
		if ev.Kind == kindRequestDone {
			st.requests++
			if ev.HasStatus {
				st.statuses[ev.Status]++
			}
			if ev.HasError {
				st.errs++
			}
			for i, n := range ev.Bytes {
				st.bytes[i] += n
			}
			if st.mode == "csv" {
				if !st.csvHeaderDone {
					w.Write([]string{"request", "url", "status", "total_ms"})
					st.csvHeaderDone = true
				}
				status := ""
				if ev.HasStatus {
					status = strconv.Itoa(int(ev.Status))
				}
				w.Write([]string{strconv.FormatUint(ev.Request, 10), ev.URL, status, strconv.FormatFloat(ev.TotalMs, 'f', -1, 64)})
			}
		}
		if ev.Kind == st.drop {
			st.dropped++
			verdicts[i] = Drop
		} else {
			verdicts[i] = Keep
		}
	}
	w.Flush()
	Emit(rows.String())
	return verdicts
}

// Finish prints the report and returns the run outcome (0 = pass).
func Finish() uint8 {
	if st.mode == "csv" {
		if !st.csvHeaderDone {
			Emit("request,url,status,total_ms\n")
		}
		return 0
	}
	var b strings.Builder
	fmt.Fprintf(&b, "conformance v7\nlabel %s\nevents %d\ndropped %d\n", st.label, st.total, st.dropped)
	names := []string{}
	for i, n := range st.kinds {
		if n > 0 {
			names = append(names, Kinds[i])
		}
	}
	sort.Strings(names) // byte order
	for _, name := range names {
		fmt.Fprintf(&b, "kind %s %d\n", name, st.kinds[indexOf(Kinds, name)])
	}
	fmt.Fprintf(&b, "requests %d\n", st.requests)
	codes := []int{}
	for code := range st.statuses {
		codes = append(codes, int(code))
	}
	sort.Ints(codes)
	for _, code := range codes {
		fmt.Fprintf(&b, "status %d %d\n", code, st.statuses[uint16(code)])
	}
	fmt.Fprintf(&b, "errors %d\n", st.errs)
	groups := []string{}
	for g := range st.groups {
		groups = append(groups, g)
	}
	sort.Strings(groups) // byte order
	for _, g := range groups {
		fmt.Fprintf(&b, "tls-group %s %d\n", g, st.groups[g])
	}
	fmt.Fprintf(&b, "post-data %d\ntunnels %d %d\n", st.postData, st.tunnelsOK, st.tunnelsErr)
	fmt.Fprintf(&b, "quic %d %d\n", st.quicOK, st.quicErr)
	fmt.Fprintf(&b, "clocks %d %d\n", st.stamped[0], st.stamped[1])
	fmt.Fprintf(&b, "proxied %d %d\n", st.proxied[0], st.proxied[1])
	fmt.Fprintf(&b, "bytes %d %d %d\n", st.bytes[0], st.bytes[1], st.bytes[2])
	Emit(b.String())
	return 0
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}
