//! The request body: bytes known in advance, optionally held back until the server answers
//! `100 Continue` (or a second passes, as curl does).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::oneshot;

/// How long to wait for `100 Continue` before sending the body anyway (curl's default).
pub const EXPECT_CONTINUE_TIMEOUT: Duration = Duration::from_secs(1);

/// Opens the gate of an [`ReqBody`] when the server says `100 Continue`.
#[derive(Clone, Default)]
pub struct ContinueSignal(Arc<Mutex<Option<oneshot::Sender<()>>>>);

impl ContinueSignal {
    /// Releases the body.
    pub fn fire(&self) {
        if let Some(tx) = self.0.lock().unwrap().take() {
            let _ = tx.send(());
        }
    }
}

type Gate = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A request body of known bytes.
pub struct ReqBody {
    data: Option<Bytes>,
    gate: Option<Gate>,
}

impl ReqBody {
    /// A body sent at once.
    pub fn new(data: Bytes) -> ReqBody {
        ReqBody { data: (!data.is_empty()).then_some(data), gate: None }
    }

    /// A body held until `100 Continue` or [`EXPECT_CONTINUE_TIMEOUT`].
    pub fn gated(data: Bytes) -> (ReqBody, ContinueSignal) {
        let (tx, rx) = oneshot::channel();
        let signal = ContinueSignal(Arc::new(Mutex::new(Some(tx))));
        let gate: Gate = Box::pin(async move {
            let _ = tokio::time::timeout(EXPECT_CONTINUE_TIMEOUT, rx).await;
        });
        (ReqBody { data: (!data.is_empty()).then_some(data), gate: Some(gate) }, signal)
    }
}

impl http_body::Body for ReqBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.data.is_none() {
            return Poll::Ready(None);
        }
        if let Some(gate) = self.gate.as_mut() {
            if gate.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.gate = None;
        }
        Poll::Ready(self.data.take().map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}
