//! A route that is not a lookup in the served set (the other is the
//! private audience page, `stats_route.rs`): a request to the WebSub hub's
//! path (`[websub] path`), whose body must be read before it can be
//! answered. Every other request is answered at once by
//! [`super::handler::respond`]; this one goes to
//! [`crate::websub::Hub::accept`], within the same rate limit (a
//! subscription request costs one request) and with its access-log line.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Request, Response};

use super::handler::{self, Body};
use super::rate_limit::{Admission, Client, RateLimiter};
use super::state::State;
use crate::websub::Hub;

/// A response now, or one that needs the request's body first.
pub(crate) enum Answer<T> {
    Now(Option<T>),
    Later(Pin<Box<dyn Future<Output = T> + Send>>),
}

impl<T: Unpin> Future for Answer<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.get_mut() {
            Answer::Now(value) => match value.take() {
                Some(value) => Poll::Ready(value),
                None => Poll::Pending,
            },
            Answer::Later(future) => future.as_mut().poll(cx),
        }
    }
}

/// The hub, when `request` is for it.
pub(crate) fn hub_for<B>(state: &State, request: &Request<B>) -> Option<Arc<Hub>> {
    let hub = state.hub()?;
    (request.uri().path() == hub.path()).then(|| hub.clone())
}

/// Answers a request to the hub, within the rate limit, and logs it.
pub(crate) async fn answer(
    state: Arc<State>,
    hub: Arc<Hub>,
    limiter: Option<Arc<RateLimiter>>,
    request: Request<Incoming>,
    peer: SocketAddr,
    client: IpAddr,
    started: Instant,
) -> Response<Body> {
    let mut head = Request::new(());
    *head.method_mut() = request.method().clone();
    *head.uri_mut() = request.uri().clone();
    *head.version_mut() = request.version();
    let response = match &limiter {
        None => hub.accept(request).await,
        Some(limiter) => {
            let client_bucket = Client::from(client);
            match limiter.admit(client_bucket, started) {
                Admission::Admit => {
                    limiter.charge(client_bucket, false, started);
                    hub.accept(request).await
                }
                Admission::Refuse { retry_after_secs } => {
                    handler::too_many_requests(retry_after_secs, head.method())
                }
            }
        }
    };
    let mut response = response;
    super::security::add_nosniff(response.headers_mut());
    super::access_log::record(&state, peer, client, &head, &response, started);
    response
}
