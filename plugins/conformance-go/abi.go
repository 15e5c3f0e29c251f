// Hand-written canonical-ABI glue for the world `plugin` of httptrace:plugin@0.7.0 (wit/plugin.wit).
// `wit-bindgen go` would generate this, but its runtime package comes from the Go module proxy,
// which is out of reach here; the world is small, so the glue is written out by hand.
//
// Memory layouts (wasm32, canonical ABI; the same numbers are checked against the C bindings'
// structs in docs/plugins/go.md):
//
//	event (size 240, align 8): request u64 @0, hop u32 @8, conn option<u64> @16, at-ns u64 @32,
//	  kind variant @40 (tag u8 @40, payload @48)
//	request-start payload: method string @0, url string @8, wall-unix-ns u64 @16,
//	  post-data option<string> @24 (string @28; since 0.3.0)
//	tls-handshake-done payload: key-exchange-group option<string> @76 (string @80; since 0.2.0)
//	proxy-connect-done payload: proxy string @0, status option<u16> @8, error option<trace-error> @12
//	  (since 0.3.0)
//	quic-handshake-done payload: error option<trace-error> @36 (since 0.4.0)
//	wrote-headers and got-first-response-byte payload: stamp-clock enum u8 @0 (since 0.5.0)
//	wrote-request payload: body-bytes u64 @0, error option<trace-error> @8, clock enum u8 @36
//	  (since 0.5.0)
//	proxy option<string> (since 0.6.0): dns-start @8 (string @12), dns-done @40 (@44),
//	  connect-start @16 (@20), connect-done @48 (@52)
//	request-done payload:  url string @0, status option<u16> @8 (value @10),
//	  error option<trace-error> @12, timings @40 (total f64 @96), marks @104, hops @168,
//	  client-lag-ns option<u64> @176 (since 0.3.0)
//	hop-summary (size 168, align 8; the elements of request-done's hops): bytes @144
//	  (request-body u64 @144, response-headers u64 @152, response-body u64 @160; since 0.7.0)
//	string / list: (ptr u32, len u32); tuple<string, string>: 16 bytes
//	result<T, string> return area: tag u8 @0, payload @4 (ok: list (ptr, len) or enum u8; err: string)
package main

import "unsafe"

// ---- imports: interface httptrace:plugin/host@0.7.0 ----

//go:wasmimport httptrace:plugin/host@0.7.0 emit
func hostEmit(ptr unsafe.Pointer, n uint32)

//go:wasmimport httptrace:plugin/host@0.7.0 log
func hostLog(level uint32, ptr unsafe.Pointer, n uint32)

// Emit writes text to the run's output exactly as given.
func Emit(text string) {
	if len(text) > 0 {
		hostEmit(unsafe.Pointer(unsafe.StringData(text)), uint32(len(text)))
	}
}

// Log writes a diagnostic line (level 0 trace … 4 error).
func Log(level uint32, msg string) {
	hostLog(level, unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
}

// ---- what the plugin sees ----

// Event is the part of a WIT `event` this plugin reads.
type Event struct {
	Request uint64
	Hop     uint32
	Kind    int    // index of the event-kind case (= event-type value)
	URL     string // request-start and request-done
	// request-done only:
	HasStatus bool
	Status    uint16
	HasError  bool
	TotalMs   float64
	// The bytes its hops moved, summed: request body, response headers, response body (0.7.0).
	Bytes [3]uint64
	// tls-handshake-done only:
	HasGroup bool
	Group    string
	// request-start only:
	HasPostData bool
	PostData    string
	// proxy-connect-done and quic-handshake-done: HasError as for request-done.
	// wrote-headers, wrote-request and got-first-response-byte: the stamp-clock case (0
	// engine, 1 kernel); -1 for other kinds.
	Clock int
	// dns-start, dns-done, connect-start and connect-done: the proxy, when it is the proxy's.
	HasProxy bool
	Proxy    string
}

// Verdict values (WIT enum `verdict`).
const (
	Keep uint8 = 0
	Drop uint8 = 1
)

const (
	kindRequestStart         = 0
	kindDNSStart             = 2
	kindDNSDone              = 3
	kindConnectStart         = 4
	kindConnectDone          = 5
	kindTLSHandshakeDone     = 7
	kindWroteHeaders         = 10
	kindWroteRequest         = 14
	kindGotFirstResponseByte = 15
	kindRequestDone          = 20
	kindProxyConnectDone     = 22
	kindQUICHandshakeDone    = 24
)

// ---- memory for the host: cabi_realloc ----

// The host calls cabi_realloc between export calls to place their arguments (lists, strings).
// They live on the Go heap, kept reachable here (Go's GC does not move objects) until the call
// that reads them has returned. Only the host calls it: the preview1 imports of the Go runtime
// are answered by the inert adapter of tools/componentize, which allocates nothing (wasmtime's
// adapter would call this during runtime start, on Go's system stack, where it cannot run).
var callArgs [][]byte

//go:wasmexport cabi_realloc
func cabiRealloc(old unsafe.Pointer, oldSize, align, newSize uint32) unsafe.Pointer {
	if old != nil && newSize <= oldSize {
		return old
	}
	buf := make([]byte, newSize+align)
	callArgs = append(callArgs, buf)
	start := uintptr(unsafe.Pointer(&buf[0]))
	p := unsafe.Pointer(&buf[((start+uintptr(align)-1)&^(uintptr(align)-1))-start])
	if old != nil {
		copy(unsafe.Slice((*byte)(p), oldSize), unsafe.Slice((*byte)(old), oldSize))
	}
	return p
}

// ---- reading guest memory ----

func u8(p uintptr) uint8    { return *(*uint8)(unsafe.Pointer(p)) }
func u16(p uintptr) uint16  { return *(*uint16)(unsafe.Pointer(p)) }
func u32(p uintptr) uint32  { return *(*uint32)(unsafe.Pointer(p)) }
func u64(p uintptr) uint64  { return *(*uint64)(unsafe.Pointer(p)) }
func f64(p uintptr) float64 { return *(*float64)(unsafe.Pointer(p)) }
func str(p uintptr) string {
	return string(unsafe.Slice((*byte)(unsafe.Pointer(uintptr(u32(p)))), u32(p+4)))
}
func put32(p uintptr, v uint32) { *(*uint32)(unsafe.Pointer(p)) = v }

// The canonical ABI hands pointers as i32; wasm32 pointers fit.
func addr(p unsafe.Pointer) uintptr { return uintptr(p) }

// A call's return area and returned values stay reachable until the next call.
var (
	retArea  [3]uint32
	retKeep  []byte
	retKinds []byte
)

// leave releases the arguments the host allocated for this call.
func leave() { callArgs = nil }

// ---- exports ----

//go:wasmexport init
func exportInit(config unsafe.Pointer, n uint32) unsafe.Pointer {
	defer leave()
	pairs := make([][2]string, n)
	for i := range pairs {
		p := addr(config) + uintptr(i)*16
		pairs[i] = [2]string{str(p), str(p + 8)}
	}
	ret := addr(unsafe.Pointer(&retArea))
	kinds, err := Init(pairs)
	if err != "" {
		retKeep = []byte(err)
		*(*uint8)(unsafe.Pointer(ret)) = 1
		put32(ret+4, uint32(addr(unsafe.Pointer(unsafe.SliceData(retKeep)))))
		put32(ret+8, uint32(len(retKeep)))
	} else {
		retKinds = kinds
		*(*uint8)(unsafe.Pointer(ret)) = 0
		put32(ret+4, uint32(addr(unsafe.Pointer(unsafe.SliceData(retKinds)))))
		put32(ret+8, uint32(len(retKinds)))
	}
	return unsafe.Pointer(&retArea)
}

//go:wasmexport on-events
func exportOnEvents(events unsafe.Pointer, n uint32) unsafe.Pointer {
	defer leave()
	evs := make([]Event, n)
	for i := range evs {
		p := addr(events) + uintptr(i)*240
		ev := &evs[i]
		ev.Request, ev.Hop, ev.Kind = u64(p), u32(p+8), int(u8(p+40))
		payload := p + 48
		ev.Clock = -1
		switch ev.Kind {
		case kindWroteHeaders, kindGotFirstResponseByte:
			ev.Clock = int(u8(payload))
		case kindWroteRequest:
			ev.Clock = int(u8(payload + 36))
		case kindRequestStart:
			ev.URL = str(payload + 8)
			if u8(payload+24) == 1 {
				ev.HasPostData, ev.PostData = true, str(payload+28)
			}
		case kindDNSStart, kindDNSDone, kindConnectStart, kindConnectDone:
			at := proxyOffset(ev.Kind)
			if u8(payload+at) == 1 {
				ev.HasProxy, ev.Proxy = true, str(payload+at+4)
			}
		case kindProxyConnectDone:
			ev.HasError = u8(payload+12) == 1
		case kindQUICHandshakeDone:
			ev.HasError = u8(payload+36) == 1
		case kindTLSHandshakeDone:
			if u8(payload+76) == 1 {
				ev.HasGroup, ev.Group = true, str(payload+80)
			}
		case kindRequestDone:
			ev.URL = str(payload)
			ev.HasStatus, ev.Status = u8(payload+8) == 1, u16(payload+10)
			ev.HasError = u8(payload+12) == 1
			ev.TotalMs = f64(payload + 96)
			hops, nHops := uintptr(u32(payload+168)), u32(payload+172)
			for h := uintptr(0); h < uintptr(nHops); h++ {
				hop := hops + h*168
				ev.Bytes[0] += u64(hop + 144)
				ev.Bytes[1] += u64(hop + 152)
				ev.Bytes[2] += u64(hop + 160)
			}
		}
	}
	retKeep = OnEvents(evs)
	put32(addr(unsafe.Pointer(&retArea)), uint32(addr(unsafe.Pointer(unsafe.SliceData(retKeep)))))
	put32(addr(unsafe.Pointer(&retArea))+4, uint32(len(retKeep)))
	return unsafe.Pointer(&retArea)
}

//go:wasmexport finish
func exportFinish() unsafe.Pointer {
	defer leave()
	ret := addr(unsafe.Pointer(&retArea))
	*(*uint8)(unsafe.Pointer(ret)) = 0 // ok
	*(*uint8)(unsafe.Pointer(ret + 4)) = Finish()
	return unsafe.Pointer(&retArea)
}

// proxyOffset is where the `proxy` option of a dns-*/connect-* payload is (0.6.0).
func proxyOffset(kind int) uintptr {
	switch kind {
	case kindDNSStart:
		return 8
	case kindDNSDone:
		return 40
	case kindConnectStart:
		return 16
	default: // kindConnectDone
		return 48
	}
}
