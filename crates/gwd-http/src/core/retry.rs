//! The retry loop: one request, as many attempts as it safely takes.
//!
//! | an attempt failed with | request handed back? | next |
//! |---|---|---|
//! | connect failure or timeout | always | the next server, while attempts < `max_connect_attempts` |
//! | refused before sending (tunnel closing, GOAWAY, REFUSED_STREAM, write refused) | yes | the same server on a fresh connection (another tunnel), while refusals < `max_refusals` |
//! | a reused connection closed before any answer | when the body was untouched | the same server on a fresh connection, once, idempotent methods only |
//! | anything else (sent, answered badly, timed out) | no | stop: the request may have been processed |
//!
//! A request that reached a server is never sent again unless the server
//! proved it unprocessed; a non-idempotent request is never retried after
//! it was written.

use super::outcome::Outcome;
use crate::upstream::{
    Attempt, OutRequest, ServerRef, Upstream, UpstreamError, UpstreamErrorKind, UpstreamResponse,
};

/// How far the loop may go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Attempts in all when connects fail (HAProxy's `retries` plus one).
    pub max_connect_attempts: usize,
    /// Attempts in all when the request keeps being refused unsent.
    pub max_refusals: usize,
}

/// What the loop tells whoever keeps the books.
pub(crate) trait AttemptObserver {
    /// An attempt starts on `server`; `retries` attempts failed before it.
    fn attempt(&mut self, server: ServerRef, retries: u32);
    /// The attempt on `server` failed.
    fn failed(
        &mut self,
        server: ServerRef,
        error: &UpstreamError,
        report: &crate::upstream::SendReport,
    );
}

/// Why the loop gave up.
#[derive(Debug)]
pub(crate) enum RetryFailure {
    /// The backend offered no server.
    NoServer,
    /// The last attempt failed; `exhausted` when it was refused too often.
    Failed {
        server: ServerRef,
        error: UpstreamError,
        exhausted: bool,
    },
}

impl RetryFailure {
    /// The final outcome; `is_tunnel` says whether a server is an
    /// `rhttp@` one.
    pub fn outcome(&self, is_tunnel: impl Fn(ServerRef) -> bool) -> Outcome {
        match self {
            RetryFailure::NoServer => Outcome::NoServer,
            RetryFailure::Failed {
                server,
                error,
                exhausted,
            } => Outcome::of_upstream(error, is_tunnel(*server), *exhausted),
        }
    }
}

/// Sends `req` through `upstream`, choosing servers with `choose`, until
/// one answers or the policy says stop.
pub(crate) async fn send_with_retries<U: Upstream>(
    upstream: &U,
    mut choose: impl FnMut() -> Option<ServerRef>,
    first_request: bool,
    policy: RetryPolicy,
    observer: &mut impl AttemptObserver,
    mut req: OutRequest,
) -> Result<(ServerRef, UpstreamResponse), RetryFailure> {
    let mut connect_failures = 0usize;
    let mut refusals = 0usize;
    let mut stale_retried = false;
    let mut retries = 0u32;
    // `Some`: the next attempt stays on this server with a fresh connection.
    let mut again: Option<ServerRef> = None;
    loop {
        let (server, fresh) = match again.take() {
            Some(s) => (s, true),
            None => match choose() {
                Some(s) => (s, false),
                None => return Err(RetryFailure::NoServer),
            },
        };
        observer.attempt(server, retries);
        let attempt = Attempt {
            server,
            fresh,
            first_request,
        };
        let failure = match upstream.send(attempt, req).await {
            Ok(resp) => return Ok((server, resp)),
            Err(f) => f,
        };
        observer.failed(server, &failure.error, &failure.report);
        retries += 1;
        let give_up = |error, exhausted| RetryFailure::Failed {
            server,
            error,
            exhausted,
        };
        let Some(back) = failure.request else {
            return Err(give_up(failure.error, false));
        };
        match failure.error.kind() {
            UpstreamErrorKind::ConnectFailed | UpstreamErrorKind::ConnectTimeout => {
                connect_failures += 1;
                if connect_failures >= policy.max_connect_attempts {
                    return Err(give_up(failure.error, false));
                }
            }
            UpstreamErrorKind::Refused => {
                refusals += 1;
                if refusals >= policy.max_refusals {
                    return Err(give_up(failure.error, true));
                }
                again = Some(server);
            }
            UpstreamErrorKind::ClosedBeforeResponse if !stale_retried && back.is_idempotent() => {
                stale_retried = true;
                again = Some(server);
            }
            _ => return Err(give_up(failure.error, false)),
        }
        req = back;
    }
}

#[cfg(test)]
mod tests {
    //! The loop driven by a scripted upstream: no sockets, no clock.

    use std::cell::RefCell;
    use std::collections::VecDeque;

    use gwd_head::{Fields, Method, RequestHead, ResponseHead, StatusCode, Version};

    use super::*;
    use crate::upstream::{ResponseBody, SendReport, UpstreamFailure};

    /// What the scripted upstream does on its next call.
    #[derive(Debug, Clone, Copy)]
    enum Script {
        Answer(u16),
        /// Fails with this kind; hands the request back when `true`.
        Fail(UpstreamErrorKind, bool),
    }

    #[derive(Default)]
    struct Scripted {
        script: RefCell<VecDeque<Script>>,
        /// Every attempt seen: server, fresh.
        seen: RefCell<Vec<(usize, bool)>>,
    }

    impl Scripted {
        fn new(steps: &[Script]) -> Scripted {
            Scripted {
                script: RefCell::new(steps.iter().copied().collect()),
                seen: RefCell::default(),
            }
        }
    }

    impl Upstream for Scripted {
        fn send(
            &self,
            attempt: Attempt,
            request: OutRequest,
        ) -> impl Future<Output = Result<UpstreamResponse, UpstreamFailure>> + Send {
            self.seen
                .borrow_mut()
                .push((attempt.server.server, attempt.fresh));
            let step = self
                .script
                .borrow_mut()
                .pop_front()
                .expect("a scripted step");
            let out = match step {
                Script::Answer(code) => Ok(UpstreamResponse {
                    head: ResponseHead::new(StatusCode::from_u16(code).unwrap()),
                    body: ResponseBody::Empty,
                    report: SendReport::default(),
                }),
                Script::Fail(kind, back) => Err(UpstreamFailure::new(
                    UpstreamError::new(kind),
                    back.then_some(request),
                )),
            };
            std::future::ready(out)
        }
    }

    #[derive(Default)]
    struct Books {
        attempts: Vec<(usize, u32)>,
        failures: Vec<(usize, UpstreamErrorKind)>,
    }

    impl AttemptObserver for Books {
        fn attempt(&mut self, server: ServerRef, retries: u32) {
            self.attempts.push((server.server, retries));
        }
        fn failed(&mut self, server: ServerRef, error: &UpstreamError, _: &SendReport) {
            self.failures.push((server.server, error.kind()));
        }
    }

    fn request(method: Method) -> OutRequest {
        OutRequest {
            head: RequestHead {
                method,
                uri: "/".parse().unwrap(),
                version: Version::HTTP_11,
                fields: Fields::new(),
            },
            body: None,
            codings: None,
            upgrade: false,
            tls: false,
            body_server: None,
        }
    }

    /// Round-robin over `n` servers of backend 0.
    fn round_robin(n: usize) -> impl FnMut() -> Option<ServerRef> {
        let mut next = 0;
        move || {
            if n == 0 {
                return None;
            }
            let s = next % n;
            next += 1;
            Some(ServerRef {
                backend: 0,
                server: s,
            })
        }
    }

    const POLICY: RetryPolicy = RetryPolicy {
        max_connect_attempts: 3,
        max_refusals: 3,
    };

    fn run(
        up: &Scripted,
        servers: usize,
        method: Method,
        policy: RetryPolicy,
    ) -> (Result<(usize, u16), RetryFailure>, Books) {
        let mut books = Books::default();
        let r = futures_lite_block_on(send_with_retries(
            up,
            round_robin(servers),
            false,
            policy,
            &mut books,
            request(method),
        ));
        (
            r.map(|(s, resp)| (s.server, resp.head.status.as_u16())),
            books,
        )
    }

    /// The scripted upstream is always ready: one poll runs the loop.
    fn futures_lite_block_on<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("the scripted upstream never waits"),
        }
    }

    use UpstreamErrorKind as K;

    #[test]
    fn connect_failures_move_to_the_next_server() {
        let up = Scripted::new(&[Script::Fail(K::ConnectFailed, true), Script::Answer(200)]);
        let (r, books) = run(&up, 3, Method::POST, POLICY);
        assert_eq!(r.unwrap(), (1, 200));
        assert_eq!(*up.seen.borrow(), [(0, false), (1, false)]);
        assert_eq!(books.attempts, [(0, 0), (1, 1)]);
        assert_eq!(books.failures, [(0, K::ConnectFailed)]);
    }

    #[test]
    fn connect_failures_stop_at_the_policy() {
        let up = Scripted::new(&[
            Script::Fail(K::ConnectTimeout, true),
            Script::Fail(K::ConnectFailed, true),
        ]);
        let policy = RetryPolicy {
            max_connect_attempts: 2,
            ..POLICY
        };
        let (r, _) = run(&up, 5, Method::GET, policy);
        match r {
            Err(f @ RetryFailure::Failed { server, .. }) => {
                assert_eq!(server.server, 1, "the last server tried");
                assert_eq!(f.outcome(|_| false), Outcome::ConnectFailed);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_stale_pooled_connection_is_retried_once_fresh_on_the_same_server() {
        let up = Scripted::new(&[
            Script::Fail(K::ClosedBeforeResponse, true),
            Script::Answer(200),
        ]);
        let (r, _) = run(&up, 3, Method::GET, POLICY);
        assert_eq!(r.unwrap(), (0, 200));
        assert_eq!(*up.seen.borrow(), [(0, false), (0, true)]);

        // Twice in a row: the second is final.
        let up = Scripted::new(&[
            Script::Fail(K::ClosedBeforeResponse, true),
            Script::Fail(K::ClosedBeforeResponse, true),
        ]);
        let (r, _) = run(&up, 3, Method::GET, POLICY);
        assert_eq!(r.unwrap_err().outcome(|_| false), Outcome::BadResponse);
    }

    #[test]
    fn a_sent_non_idempotent_request_is_never_retried() {
        // Even handed back, a POST whose connection died after it was
        // written may have been processed.
        let up = Scripted::new(&[Script::Fail(K::ClosedBeforeResponse, true)]);
        let (r, books) = run(&up, 3, Method::POST, POLICY);
        assert_eq!(r.unwrap_err().outcome(|_| false), Outcome::BadResponse);
        assert_eq!(books.attempts.len(), 1);
        // Not handed back (the body was read): no retry for any method.
        let up = Scripted::new(&[Script::Fail(K::ClosedBeforeResponse, false)]);
        let (r, books) = run(&up, 3, Method::GET, POLICY);
        assert!(r.is_err());
        assert_eq!(books.attempts.len(), 1);
    }

    #[test]
    fn refused_unsent_requests_are_offered_again_then_given_up() {
        // A tunnel closing under the request: the same server (another
        // tunnel) takes it.
        let up = Scripted::new(&[Script::Fail(K::Refused, true), Script::Answer(201)]);
        let (r, _) = run(&up, 1, Method::POST, POLICY);
        assert_eq!(r.unwrap(), (0, 201));
        assert_eq!(*up.seen.borrow(), [(0, false), (0, true)]);

        let up = Scripted::new(&[
            Script::Fail(K::Refused, true),
            Script::Fail(K::Refused, true),
            Script::Fail(K::Refused, true),
        ]);
        let (r, books) = run(&up, 1, Method::POST, POLICY);
        assert_eq!(
            r.unwrap_err().outcome(|_| true),
            Outcome::KeptRefusing { tunnel: true }
        );
        assert_eq!(books.attempts.len(), 3);
    }

    #[test]
    fn timeouts_and_bad_responses_are_final() {
        for (kind, outcome) in [
            (K::ResponseTimeout, Outcome::ResponseTimeout),
            (K::BadResponse, Outcome::BadResponse),
        ] {
            let up = Scripted::new(&[Script::Fail(kind, false)]);
            let (r, books) = run(&up, 3, Method::GET, POLICY);
            assert_eq!(r.unwrap_err().outcome(|_| false), outcome);
            assert_eq!(books.attempts.len(), 1);
        }
        // Through a tunnel, a failure after sending is a tunnel failure.
        let up = Scripted::new(&[Script::Fail(K::BadResponse, false)]);
        let (r, _) = run(&up, 1, Method::GET, POLICY);
        assert_eq!(r.unwrap_err().outcome(|_| true), Outcome::TunnelFailed);
    }

    #[test]
    fn client_body_failures_are_blamed_on_the_client_and_not_retried() {
        let up = Scripted::new(&[Script::Fail(K::RequestBodyTimeout, false)]);
        let (r, _) = run(&up, 3, Method::POST, POLICY);
        assert_eq!(
            r.unwrap_err().outcome(|_| false),
            Outcome::RequestBodyTimeout
        );
    }

    #[test]
    fn no_server_and_no_tunnel() {
        let up = Scripted::new(&[]);
        let (r, _) = run(&up, 0, Method::GET, POLICY);
        assert_eq!(r.unwrap_err().outcome(|_| false), Outcome::NoServer);

        let up = Scripted::new(&[Script::Fail(K::NoTunnel, false)]);
        let (r, books) = run(&up, 1, Method::GET, POLICY);
        assert_eq!(r.unwrap_err().outcome(|_| true), Outcome::NoTunnel);
        assert_eq!(books.failures, [(0, K::NoTunnel)]);
    }
}
