//! The hand-off between the engine and the plugin chain: a bounded queue of finished requests'
//! event batches, read by one consumer thread.
//!
//! A wake-up per request (a futex call on each side and two context switches) cost more than
//! the plugins' work on fast loopback requests, so the consumer is not woken for every batch:
//!
//! - while requests keep finishing, the consumer picks up everything queued every
//!   [`PICKUP_INTERVAL`] on its own timer, and producers never wake it;
//! - a producer wakes it at once when the queue is half full, or when the consumer has gone to
//!   sleep for good (no batch for [`IDLE_BEFORE_SLEEP`]): a lone request, or the first one of a
//!   run, is handed over immediately;
//! - the queue is bounded: a client waits for room *before* it starts a request
//!   ([`Sender::wait_for_room`], asynchronously, outside any measured phase); a send never
//!   waits unless the queue holds twice its capacity (senders that did not wait first). Events
//!   are never dropped; when the receiver is gone, sends are no-ops.
//!
//! So a request's events reach the chain at most [`PICKUP_INTERVAL`] after its `request-done`,
//! always whole and in order; the timestamps were taken at the source long before.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::event::Event;

/// How often a consumer that was recently busy looks for queued batches without being woken.
pub const PICKUP_INTERVAL: Duration = Duration::from_millis(1);

/// How long the consumer keeps polling on its timer after the last batch before it sleeps
/// until a producer wakes it.
pub const IDLE_BEFORE_SLEEP: Duration = Duration::from_millis(20);

struct State {
    queue: VecDeque<Vec<Event>>,
    senders: usize,
    receiver_alive: bool,
    /// The consumer sleeps until woken (not on its timer): the next send must wake it.
    consumer_asleep: bool,
    /// A producer has notified the consumer, which has not taken anything out since: further
    /// sends need not notify again (each notify is a `futex` call).
    consumer_notified: bool,
    /// Producers waiting for room.
    producers_waiting: usize,
    /// [`Sender::end`] was called: the receiver sees the end once the queue is empty, and
    /// later batches are dropped.
    ended: bool,
}

struct Shared {
    state: Mutex<State>,
    consumer: Condvar,
    producers: Condvar,
    /// Wakes [`Sender::wait_for_room`] after the consumer took batches out.
    room: tokio::sync::Notify,
    capacity: usize,
    /// The receiver is gone: read without the lock before every request ([`Sender::is_closed`]).
    closed: std::sync::atomic::AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves the queue consistent (plain pushes and pops).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The sending side; cloning adds a sender, the receiver sees the end when all are dropped.
pub struct Sender {
    shared: Arc<Shared>,
}

/// The receiving side (one consumer).
pub struct Receiver {
    shared: Arc<Shared>,
}

/// A queue holding at most `capacity` batches (requests).
pub fn channel(capacity: usize) -> (Sender, Receiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::with_capacity(capacity.max(1)),
            senders: 1,
            receiver_alive: true,
            consumer_asleep: false,
            consumer_notified: false,
            producers_waiting: 0,
            ended: false,
        }),
        consumer: Condvar::new(),
        producers: Condvar::new(),
        room: tokio::sync::Notify::new(),
        capacity: capacity.max(1),
        closed: std::sync::atomic::AtomicBool::new(false),
    });
    (Sender { shared: shared.clone() }, Receiver { shared })
}

impl Sender {
    /// Whether the receiver is gone (the consumer stopped): further batches go nowhere, so
    /// producers should stop starting requests.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether the queue has room for another batch (or nobody reads it any more).
    pub fn has_room(&self) -> bool {
        let st = self.shared.lock();
        st.queue.len() < self.shared.capacity || !st.receiver_alive || st.ended
    }

    /// Ends the stream for every sender (an interrupted run abandoning its requests in
    /// flight): the receiver gets what is queued, then the end; batches sent later are dropped
    /// and [`is_closed`](Sender::is_closed) turns true, so producers stop starting requests.
    pub fn end(&self) {
        Sender::end_shared(&self.shared);
    }

    fn end_shared(shared: &Shared) {
        let mut st = shared.lock();
        st.ended = true;
        shared.closed.store(true, std::sync::atomic::Ordering::Release);
        drop(st);
        shared.consumer.notify_one();
        shared.producers.notify_all();
        shared.room.notify_waiters();
    }

    /// A handle that can [`end`](Ender::end) the stream without being a sender (holding it
    /// does not keep the receiver waiting).
    pub fn ender(&self) -> Ender {
        Ender { shared: self.shared.clone() }
    }

    /// Waits, without blocking the thread, until the queue has room for another batch.
    pub async fn wait_for_room(&self) {
        loop {
            // Created before the check, so a wake-up between the check and the await counts.
            let notified = self.shared.room.notified();
            if self.has_room() {
                return;
            }
            notified.await;
        }
    }

    /// Queues one request's events. Returns at once unless the queue holds twice its capacity
    /// (callers that did not [`wait_for_room`](Sender::wait_for_room) first); then it waits,
    /// running `wait` around the blocking part (e.g. `tokio::task::block_in_place`).
    pub fn send(&self, batch: Vec<Event>, wait: impl FnOnce(&mut dyn FnMut())) {
        let shared = &*self.shared;
        let hard_limit = 2 * shared.capacity;
        let mut st = shared.lock();
        if st.queue.len() >= hard_limit && st.receiver_alive && !st.ended {
            drop(st);
            let mut slot = None;
            wait(&mut || {
                let mut st = shared.lock();
                st.producers_waiting += 1;
                while st.queue.len() >= hard_limit && st.receiver_alive && !st.ended {
                    st = shared.producers.wait(st).unwrap_or_else(|p| p.into_inner());
                }
                st.producers_waiting -= 1;
                slot = Some(st);
            });
            st = slot.unwrap_or_else(|| shared.lock());
        }
        if !st.receiver_alive || st.ended {
            return;
        }
        st.queue.push_back(batch);
        let wake = !st.consumer_notified && (st.consumer_asleep || st.queue.len() * 2 >= shared.capacity);
        if wake {
            st.consumer_asleep = false;
            st.consumer_notified = true;
        }
        drop(st);
        if wake {
            shared.consumer.notify_one();
        }
    }
}

/// Ends a channel's stream from outside its senders (see [`Sender::ender`]).
#[derive(Clone)]
pub struct Ender {
    shared: Arc<Shared>,
}

impl Ender {
    /// As [`Sender::end`].
    pub fn end(&self) {
        Sender::end_shared(&self.shared);
    }
}

impl Clone for Sender {
    fn clone(&self) -> Sender {
        self.shared.lock().senders += 1;
        Sender { shared: self.shared.clone() }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.senders -= 1;
        let last = st.senders == 0;
        drop(st);
        if last {
            self.shared.consumer.notify_one();
        }
    }
}

impl Receiver {
    /// Waits for queued batches and appends whole ones to `out`, at least one and then more
    /// while `out` stays under `max_events`. Returns `false` when every sender is gone and the
    /// queue is empty.
    pub fn recv_into(&self, out: &mut Vec<Event>, max_events: usize) -> bool {
        let shared = &*self.shared;
        let mut st = shared.lock();
        let idle_since = Instant::now();
        loop {
            if let Some(first) = st.queue.pop_front() {
                st.consumer_notified = false;
                let was_full = st.queue.len() + 1 >= shared.capacity;
                // Take the batches out under the lock, copy their events after it.
                let mut events = out.len() + first.len();
                let mut taken = vec![first];
                while events < max_events {
                    match st.queue.pop_front() {
                        Some(more) => {
                            events += more.len();
                            taken.push(more);
                        }
                        None => break,
                    }
                }
                let wake_producers = st.producers_waiting > 0;
                drop(st);
                for batch in taken {
                    out.extend(batch);
                }
                if wake_producers {
                    shared.producers.notify_all();
                }
                if was_full {
                    shared.room.notify_waiters();
                }
                return true;
            }
            if st.senders == 0 || st.ended {
                return false;
            }
            if idle_since.elapsed() < IDLE_BEFORE_SLEEP {
                st = shared.consumer.wait_timeout(st, PICKUP_INTERVAL).unwrap_or_else(|p| p.into_inner()).0;
            } else {
                st.consumer_asleep = true;
                st = shared.consumer.wait(st).unwrap_or_else(|p| p.into_inner());
                st.consumer_asleep = false;
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.receiver_alive = false;
        self.shared.closed.store(true, std::sync::atomic::Ordering::Release);
        st.queue.clear();
        drop(st);
        self.shared.producers.notify_all();
        self.shared.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;

    fn batch(request: u64) -> Vec<Event> {
        vec![Event { request, hop: 0, conn: None, at_ns: 0, kind: EventKind::WroteHeaders { clock: Default::default() } }]
    }

    fn no_wait(f: &mut dyn FnMut()) {
        f()
    }

    #[test]
    fn delivers_everything_in_order_then_ends() {
        let (tx, rx) = channel(4);
        let producer = std::thread::spawn(move || {
            for i in 1..=1000 {
                tx.send(batch(i), no_wait);
            }
        });
        let mut seen = Vec::new();
        let mut out = Vec::new();
        while rx.recv_into(&mut out, 16) {
            assert!(out.len() <= 16, "a pick-up took {} events", out.len());
            seen.extend(out.drain(..).map(|e| e.request));
        }
        producer.join().unwrap();
        assert_eq!(seen, (1..=1000).collect::<Vec<_>>());
    }

    #[test]
    fn ending_delivers_what_is_queued_then_the_end_while_senders_live() {
        let (tx, rx) = channel(8);
        let other = tx.clone();
        tx.send(batch(1), no_wait);
        tx.send(batch(2), no_wait);
        assert!(!other.is_closed());
        other.end();
        assert!(tx.is_closed(), "every sender sees it");
        tx.send(batch(3), no_wait);
        let mut out = Vec::new();
        assert!(rx.recv_into(&mut out, 16));
        assert_eq!(out.iter().map(|e| e.request).collect::<Vec<_>>(), [1, 2]);
        out.clear();
        assert!(!rx.recv_into(&mut out, 16), "the end, though two senders are alive");
        assert!(out.is_empty());
        drop((tx, other));
    }

    #[test]
    fn a_lone_batch_is_handed_over_at_once_to_a_sleeping_consumer() {
        let (tx, rx) = channel(64);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = done_tx.send((rx.recv_into(&mut out, 256), out.len(), Instant::now()));
        });
        // Let the consumer fall asleep for good (past its timer), then send one batch.
        std::thread::sleep(IDLE_BEFORE_SLEEP * 3);
        let sent = Instant::now();
        tx.send(batch(1), no_wait);
        let (got, n, at) = done_rx.recv_timeout(Duration::from_secs(10)).expect("the sleeping consumer was never woken");
        assert!(got && n == 1);
        assert!(at >= sent);
        drop(tx);
    }

    #[test]
    fn a_client_waits_for_room_before_sending_without_blocking_its_thread() {
        let (tx, rx) = channel(2);
        tx.send(batch(1), no_wait);
        tx.send(batch(2), no_wait);
        assert!(!tx.has_room());
        let consumer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let mut out = Vec::new();
            assert!(rx.recv_into(&mut out, 256));
            (rx, out.len())
        });
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), tx.wait_for_room()).await.expect("never woken after the consumer made room")
        });
        assert!(tx.has_room());
        let (_rx, taken) = consumer.join().unwrap();
        assert_eq!(taken, 2);
    }

    #[test]
    fn past_twice_the_capacity_a_send_waits_and_a_dropped_receiver_releases_it() {
        let (tx, rx) = channel(2);
        for i in 1..=4 {
            tx.send(batch(i), |_| panic!("send {i} waited below twice the capacity"));
        }
        let waited = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = waited.clone();
        let producer = std::thread::spawn(move || {
            tx.send(batch(5), |f| {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                f()
            })
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(waited.load(std::sync::atomic::Ordering::SeqCst), "a send past twice the capacity did not wait");
        drop(rx);
        producer.join().unwrap();
    }
}
