;; An inert WASI preview1 "adapter" for plugins: the preview1 functions a Go (wasip1) or C
;; (wasi-libc) core module imports, answered inside the component with no WASI 0.2 imports at
;; all — the same sandbox the host grants anyway, stated in the component itself.
;;
;; - no arguments, no environment, no preopened directories (fd_prestat_get: EBADF);
;; - fd_write reports everything written and drops it (stdout/stderr go nowhere);
;; - clocks: a counter that advances 1 µs per read and by the timeout of each poll_oneoff clock;
;; - random_get: a fixed xorshift64 stream (deterministic; nothing here needs secrecy);
;; - poll_oneoff: every subscription fires at once; proc_exit traps.
;;
;; Why not wasmtime's preview1 reactor adapter: it allocates its state through the main module's
;; cabi_realloc on the first WASI call, which Go makes on its system stack during runtime start;
;; a Go //go:wasmexport cannot run there (runtime.badsystemstack, then endless recursion).
(module
  (import "env" "memory" (memory 0))
  (global $clock (mut i64) (i64.const 0))
  (global $rng (mut i64) (i64.const 0x2545f4914f6cdd1d))

  (func (export "sched_yield") (result i32) (i32.const 0))
  (func (export "proc_exit") (param i32) (unreachable))
  (func (export "args_sizes_get") (param i32 i32) (result i32)
    (i32.store (local.get 0) (i32.const 0))
    (i32.store (local.get 1) (i32.const 0))
    (i32.const 0))
  (func (export "args_get") (param i32 i32) (result i32) (i32.const 0))
  (func (export "environ_sizes_get") (param i32 i32) (result i32)
    (i32.store (local.get 0) (i32.const 0))
    (i32.store (local.get 1) (i32.const 0))
    (i32.const 0))
  (func (export "environ_get") (param i32 i32) (result i32) (i32.const 0))

  (func (export "clock_time_get") (param $id i32) (param $precision i64) (param $out i32) (result i32)
    (global.set $clock (i64.add (global.get $clock) (i64.const 1000)))
    (i64.store (local.get $out) (global.get $clock))
    (i32.const 0))
  (func (export "clock_res_get") (param i32 i32) (result i32)
    (i64.store (local.get 1) (i64.const 1000))
    (i32.const 0))

  ;; fd_write(fd, iovs, iovs_len, nwritten): sum of the iovec lengths, all "written".
  (func (export "fd_write") (param $fd i32) (param $iovs i32) (param $n i32) (param $out i32) (result i32)
    (local $total i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $total (i32.add (local.get $total) (i32.load offset=4 (local.get $iovs))))
        (local.set $iovs (i32.add (local.get $iovs) (i32.const 8)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (i32.store (local.get $out) (local.get $total))
    (i32.const 0))

  (func (export "random_get") (param $buf i32) (param $len i32) (result i32)
    (local $x i64)
    (local.set $x (global.get $rng))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $len)))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
        (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
        (i32.store8 (local.get $buf) (i32.wrap_i64 (local.get $x)))
        (local.set $buf (i32.add (local.get $buf) (i32.const 1)))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (br $next)))
    (global.set $rng (local.get $x))
    (i32.const 0))

  ;; poll_oneoff(in: subscription[48 B], out: event[32 B], n, nevents): all fire now.
  (func (export "poll_oneoff") (param $in i32) (param $out i32) (param $n i32) (param $nevents i32) (result i32)
    (i32.store (local.get $nevents) (local.get $n))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (i64.store (local.get $out) (i64.load (local.get $in)))               ;; userdata
        (i32.store16 offset=8 (local.get $out) (i32.const 0))                 ;; errno
        (i32.store8 offset=10 (local.get $out) (i32.load8_u offset=8 (local.get $in))) ;; type
        (i64.store offset=16 (local.get $out) (i64.const 0))                  ;; nbytes
        (i32.store16 offset=24 (local.get $out) (i32.const 0))                ;; flags
        (if (i32.eqz (i32.load8_u offset=8 (local.get $in)))                  ;; a clock: time passes
          (then (global.set $clock (i64.add (global.get $clock) (i64.load offset=24 (local.get $in))))))
        (local.set $in (i32.add (local.get $in) (i32.const 48)))
        (local.set $out (i32.add (local.get $out) (i32.const 32)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (i32.const 0))

  (func (export "fd_close") (param i32) (result i32) (i32.const 0))
  ;; stdin/stdout/stderr are character devices with no rights; other descriptors don't exist.
  (func (export "fd_fdstat_get") (param $fd i32) (param $buf i32) (result i32)
    (if (i32.ge_u (local.get $fd) (i32.const 3)) (then (return (i32.const 8))))
    (i32.store8 (local.get $buf) (i32.const 2))
    (i32.store16 offset=2 (local.get $buf) (i32.const 0))
    (i64.store offset=8 (local.get $buf) (i64.const 0))
    (i64.store offset=16 (local.get $buf) (i64.const 0))
    (i32.const 0))
  (func (export "fd_fdstat_set_flags") (param i32 i32) (result i32) (i32.const 0))
  (func (export "fd_prestat_get") (param i32 i32) (result i32) (i32.const 8))
  (func (export "fd_prestat_dir_name") (param i32 i32 i32) (result i32) (i32.const 8))
)
