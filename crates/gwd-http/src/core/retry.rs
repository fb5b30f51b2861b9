//! The retry loop: one request, as many attempts as it safely takes.
//!
//! | an attempt failed with | request handed back? | next |
//! |---|---|---|
//! | connect failure or timeout | always | another server on the retries `option redispatch` names (when one is usable), else the same one, while attempts < `max_connect_attempts` |
//! | refused before sending (tunnel closing, GOAWAY, REFUSED_STREAM, write refused) | yes | the same server on a fresh connection (another tunnel), while refusals < `max_refusals` |
//! | a reused connection closed before any answer | when the body was untouched | the same server on a fresh connection, once, idempotent methods only |
//! | `retry-on` after sending: no answer (`empty-response`), an invalid one (`junk-response`), none in time (`response-timeout`), a listed status (`503`, ...) | replayable requests only: idempotent, no body, a copy kept | another server on the retries `option redispatch` names, while attempts < `max_connect_attempts` |
//! | anything else (sent, answered badly, timed out) | no | stop: the request may have been processed |
//!
//! A request that reached a server is never sent again unless the server
//! proved it unprocessed, or `retry-on` allows it and it is safe to
//! replay (an idempotent method without a body); a non-idempotent request
//! is never retried after it was written.

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
    /// `option redispatch`: which retries ask for another server; the
    /// others stay on the failed one.
    pub redispatch: gwd_config::Redispatch,
    /// `retry-on`.
    pub retry_on: gwd_config::RetryOn,
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
    /// `server` answered with a status `retry-on` names; the answer is
    /// dropped and the request tried again.
    fn retried_status(&mut self, server: ServerRef, status: u16);
    /// Whether a retry after a failure on `server` moves whatever
    /// `option redispatch`'s interval says (redispatch being on): HAProxy's
    /// `back_handle_st_cer()` moves at once when the server went down or
    /// out of service, or when the balancing hashes no key and more than
    /// one server is usable (which one serves does not matter then).
    fn redispatch_anyway(&self, server: ServerRef) -> bool;
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
/// one answers or the policy says stop. `choose(None)` is the first
/// choice; `choose(Some(s))` a redispatch away from `s` (it may return
/// `s` itself when no other server is usable). With redispatch on, a
/// retry moves on the retries its interval names, and on any other one
/// the observer's [`redispatch_anyway`](AttemptObserver::redispatch_anyway)
/// allows.
pub(crate) async fn send_with_retries<U: Upstream>(
    upstream: &U,
    mut choose: impl FnMut(Option<ServerRef>) -> Option<ServerRef>,
    first_request: bool,
    policy: RetryPolicy,
    observer: &mut impl AttemptObserver,
    mut req: OutRequest,
) -> Result<(ServerRef, UpstreamResponse), RetryFailure> {
    let mut refusals = 0usize;
    let mut stale_retried = false;
    let mut retries = 0u32;
    // `retry-on` past the point of sending: a copy of a request that is
    // safe to replay (idempotent, no body), made once.
    let replay = (policy.retry_on.after_sending()
        && req.body.is_none()
        && !req.upgrade
        && req.is_idempotent())
    // Boxed: kept only when `retry-on` asks for it, and the loop's future
    // stays small for every other request.
    .then(|| Box::new((req.head.clone(), req.tls, req.interim.clone())));
    // `Some`: where the next attempt goes, and whether it needs a fresh
    // connection (no pooled one).
    let mut again: Option<(ServerRef, bool)> = None;
    // Where retry number `retry` goes (`retries` counts it already).
    let elsewhere = |choose: &mut dyn FnMut(Option<ServerRef>) -> Option<ServerRef>,
                     observer: &dyn AttemptObserver,
                     server,
                     retry: u32| {
        let allowed = policy.max_connect_attempts.saturating_sub(1) as u32;
        let on = policy.redispatch.is_on();
        if on && observer.redispatch_anyway(server) || policy.redispatch.on_retry(retry, allowed) {
            choose(Some(server)).unwrap_or(server)
        } else {
            server
        }
    };
    loop {
        let (server, fresh) = match again.take() {
            Some(next) => next,
            None => match choose(None) {
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
        let attempts_left = (retries as usize + 1) < policy.max_connect_attempts;
        let failure = match upstream.send(attempt, req).await {
            Ok(resp) => {
                let status = resp.head.status.as_u16();
                match replay.as_deref() {
                    Some((head, tls, interim))
                        if attempts_left && policy.retry_on.statuses.contains(status) =>
                    {
                        observer.retried_status(server, status);
                        drop(resp);
                        retries += 1;
                        req = OutRequest::replay(head.clone(), *tls, interim.clone());
                        again = Some((elsewhere(&mut choose, &*observer, server, retries), true));
                        continue;
                    }
                    _ => return Ok((server, resp)),
                }
            }
            Err(f) => f,
        };
        observer.failed(server, &failure.error, &failure.report);
        retries += 1;
        let give_up = |error, exhausted| RetryFailure::Failed {
            server,
            error,
            exhausted,
        };
        let kind = failure.error.kind();
        let Some(back) = failure.request else {
            // Sent: only `retry-on` and a kept copy allow another try.
            let allowed = match kind {
                UpstreamErrorKind::ClosedBeforeResponse => policy.retry_on.empty_response,
                UpstreamErrorKind::BadResponse => policy.retry_on.junk_response,
                UpstreamErrorKind::ResponseTimeout => policy.retry_on.response_timeout,
                _ => false,
            };
            match replay.as_deref() {
                Some((head, tls, interim)) if allowed && attempts_left => {
                    req = OutRequest::replay(head.clone(), *tls, interim.clone());
                    again = Some((elsewhere(&mut choose, &*observer, server, retries), true));
                    continue;
                }
                _ => return Err(give_up(failure.error, false)),
            }
        };
        match kind {
            UpstreamErrorKind::ConnectFailed | UpstreamErrorKind::ConnectTimeout => {
                // One budget for every kind of retry, as HAProxy's
                // `retries`: `retries` failed attempts before this one.
                if !policy.retry_on.conn_failure || retries as usize >= policy.max_connect_attempts
                {
                    return Err(give_up(failure.error, false));
                }
                again = Some((elsewhere(&mut choose, &*observer, server, retries), false));
            }
            UpstreamErrorKind::Refused => {
                refusals += 1;
                if refusals >= policy.max_refusals {
                    return Err(give_up(failure.error, true));
                }
                again = Some((server, true));
            }
            UpstreamErrorKind::ClosedBeforeResponse if !stale_retried && back.is_idempotent() => {
                stale_retried = true;
                again = Some((server, true));
            }
            // Its head went out: only a replayable request (idempotent,
            // no body, a copy kept) may follow `retry-on empty-response`.
            UpstreamErrorKind::ClosedBeforeResponse
                if policy.retry_on.empty_response && attempts_left && replay.is_some() =>
            {
                again = Some((elsewhere(&mut choose, &*observer, server, retries), true));
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
                .push((attempt.server.server.index(), attempt.fresh));
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
        /// What `redispatch_anyway` answers.
        anyway: bool,
        attempts: Vec<(usize, u32)>,
        failures: Vec<(usize, UpstreamErrorKind)>,
        dropped: Vec<(usize, u16)>,
    }

    impl AttemptObserver for Books {
        fn redispatch_anyway(&self, _: ServerRef) -> bool {
            self.anyway
        }
        fn attempt(&mut self, server: ServerRef, retries: u32) {
            self.attempts.push((server.server.index(), retries));
        }
        fn failed(&mut self, server: ServerRef, error: &UpstreamError, _: &SendReport) {
            self.failures.push((server.server.index(), error.kind()));
        }
        fn retried_status(&mut self, server: ServerRef, status: u16) {
            self.dropped.push((server.server.index(), status));
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
            interim: None,
        }
    }

    /// Round-robin over `n` servers of backend 0.
    fn round_robin(n: usize) -> impl FnMut(Option<ServerRef>) -> Option<ServerRef> {
        let mut next = 0;
        move |_avoid| {
            if n == 0 {
                return None;
            }
            let s = next % n;
            next += 1;
            Some(ServerRef::new(0, s))
        }
    }

    const POLICY: RetryPolicy = RetryPolicy {
        max_connect_attempts: 3,
        max_refusals: 3,
        redispatch: gwd_config::Redispatch::EVERY_RETRY,
        retry_on: gwd_config::RetryOn {
            conn_failure: true,
            empty_response: false,
            junk_response: false,
            response_timeout: false,
            statuses: gwd_config::StatusSet::EMPTY,
        },
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
            r.map(|(s, resp)| (s.server.index(), resp.head.status.as_u16())),
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
                assert_eq!(server.server.index(), 1, "the last server tried");
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

    fn retry_on(words: &str) -> RetryPolicy {
        let mut r = gwd_config::RetryOn::default();
        for w in words.split_whitespace() {
            match w {
                "none" => r.conn_failure = false,
                "empty-response" => r.empty_response = true,
                "junk-response" => r.junk_response = true,
                "response-timeout" => r.response_timeout = true,
                code => r.statuses = r.statuses.with(code.parse().unwrap()).unwrap(),
            }
        }
        RetryPolicy {
            retry_on: r,
            ..POLICY
        }
    }

    #[test]
    fn a_listed_status_is_retried_elsewhere_for_a_replayable_request_only() {
        let up = Scripted::new(&[Script::Answer(503), Script::Answer(200)]);
        let (r, books) = run(&up, 2, Method::GET, retry_on("503"));
        assert_eq!(r.unwrap(), (1, 200));
        assert_eq!(books.dropped, [(0, 503)]);
        assert_eq!(books.attempts, [(0, 0), (1, 1)]);

        // A POST may have been processed: its 503 is the answer.
        let up = Scripted::new(&[Script::Answer(503)]);
        let (r, books) = run(&up, 2, Method::POST, retry_on("503"));
        assert_eq!(r.unwrap(), (0, 503));
        assert!(books.dropped.is_empty());

        // The last attempt's answer is relayed whatever it is.
        let up = Scripted::new(&[
            Script::Answer(503),
            Script::Answer(503),
            Script::Answer(503),
        ]);
        let (r, _) = run(&up, 3, Method::GET, retry_on("503"));
        assert_eq!(r.unwrap(), (2, 503));
    }

    #[test]
    fn failures_after_sending_follow_retry_on() {
        let up = Scripted::new(&[Script::Fail(K::ResponseTimeout, false), Script::Answer(200)]);
        let (r, _) = run(&up, 2, Method::GET, retry_on("response-timeout"));
        assert_eq!(r.unwrap(), (1, 200));
        assert_eq!(*up.seen.borrow(), [(0, false), (1, true)]);

        let up = Scripted::new(&[Script::Fail(K::BadResponse, false), Script::Answer(200)]);
        let (r, _) = run(&up, 2, Method::HEAD, retry_on("junk-response"));
        assert_eq!(r.unwrap(), (1, 200));

        // Not listed: final.
        let up = Scripted::new(&[Script::Fail(K::ResponseTimeout, false)]);
        let (r, _) = run(&up, 2, Method::GET, retry_on("junk-response"));
        assert_eq!(r.unwrap_err().outcome(|_| false), Outcome::ResponseTimeout);

        // A request with a body is never replayed.
        let up = Scripted::new(&[Script::Fail(K::ResponseTimeout, false)]);
        let mut books = Books::default();
        let mut req = request(Method::PUT);
        req.body = Some(crate::body::empty());
        let r = futures_lite_block_on(send_with_retries(
            &up,
            round_robin(2),
            false,
            retry_on("response-timeout"),
            &mut books,
            req,
        ));
        assert!(r.is_err());
        assert_eq!(up.seen.borrow().len(), 1);
    }

    #[test]
    fn empty_response_never_replays_a_post() {
        // A reused connection closed after the head went out; the request
        // comes back (its body was untouched), but a POST may have been
        // processed: it is not sent again, whatever `retry-on` says.
        let up = Scripted::new(&[
            Script::Fail(K::ClosedBeforeResponse, true),
            Script::Answer(200),
        ]);
        let (r, _) = run(&up, 2, Method::POST, retry_on("empty-response"));
        assert_eq!(r.unwrap_err().outcome(|_| false), Outcome::BadResponse);
        assert_eq!(up.seen.borrow().len(), 1);

        // A GET: once on the same server (the stale-connection rule), then
        // elsewhere under `retry-on empty-response`.
        let up = Scripted::new(&[
            Script::Fail(K::ClosedBeforeResponse, true),
            Script::Fail(K::ClosedBeforeResponse, true),
            Script::Answer(200),
        ]);
        let (r, _) = run(&up, 2, Method::GET, retry_on("empty-response"));
        assert_eq!(r.unwrap(), (1, 200));
        assert_eq!(*up.seen.borrow(), [(0, false), (0, true), (1, true)]);
    }

    #[test]
    fn retry_on_none_and_no_redispatch() {
        let up = Scripted::new(&[Script::Fail(K::ConnectFailed, true)]);
        let (r, _) = run(&up, 2, Method::GET, retry_on("none"));
        assert_eq!(r.unwrap_err().outcome(|_| false), Outcome::ConnectFailed);
        assert_eq!(up.seen.borrow().len(), 1);

        let up = Scripted::new(&[Script::Fail(K::ConnectFailed, true), Script::Answer(200)]);
        let policy = RetryPolicy {
            redispatch: gwd_config::Redispatch::NEVER,
            ..POLICY
        };
        let (r, _) = run(&up, 3, Method::GET, policy);
        assert_eq!(r.unwrap(), (0, 200));
        assert_eq!(*up.seen.borrow(), [(0, false), (0, false)]);
    }

    /// HAProxy's `option redispatch` (`true`, interval -1): retries stay
    /// on the failed server, the last one moves; `-2` moves the one
    /// before the last.
    #[test]
    fn redispatch_intervals_choose_which_retries_move() {
        let fail = Script::Fail(K::ConnectFailed, true);
        for (interval, moved_on) in [(-1, 3), (-2, 2), (3, 3), (1, 1)] {
            let up = Scripted::new(&[fail, fail, fail, Script::Answer(200)]);
            let policy = RetryPolicy {
                max_connect_attempts: 4,
                redispatch: gwd_config::Redispatch(interval),
                ..POLICY
            };
            let (r, _) = run(&up, 3, Method::GET, policy);
            assert!(r.is_ok(), "{interval}");
            let servers: Vec<usize> = up.seen.borrow().iter().map(|s| s.0).collect();
            // Attempt `moved_on` + 1 (retry `moved_on`) is the first away
            // from server 0.
            let first_away = servers.iter().position(|&s| s != 0);
            assert_eq!(first_away, Some(moved_on), "{interval}: {servers:?}");
        }
    }

    /// With redispatch on, a retry the interval keeps on the failed server
    /// still moves when HAProxy would move it anyway (the server went
    /// down, or non-hashing balancing over several servers); with
    /// redispatch off it never moves.
    #[test]
    fn move_anyway_overrides_the_interval_only_when_redispatch_is_on() {
        let fail = Script::Fail(K::ConnectFailed, true);
        for (interval, anyway, first_away) in
            [(-1, true, Some(1)), (-1, false, Some(3)), (0, true, None)]
        {
            let up = Scripted::new(&[fail, fail, fail, Script::Answer(200)]);
            let policy = RetryPolicy {
                max_connect_attempts: 4,
                redispatch: gwd_config::Redispatch(interval),
                ..POLICY
            };
            let mut books = Books {
                anyway,
                ..Books::default()
            };
            let r = futures_lite_block_on(send_with_retries(
                &up,
                round_robin(3),
                false,
                policy,
                &mut books,
                request(Method::GET),
            ));
            assert!(r.is_ok());
            let servers: Vec<usize> = up.seen.borrow().iter().map(|s| s.0).collect();
            assert_eq!(
                servers.iter().position(|&s| s != 0),
                first_away,
                "{interval} {anyway}: {servers:?}"
            );
        }
    }

    #[test]
    fn every_kind_of_retry_shares_one_budget() {
        // Attempts 1 and 2 answer 503 (retried), 3 and 4 fail to connect:
        // with `retries` 3 (4 attempts in all) the fourth is the last.
        let up = Scripted::new(&[
            Script::Answer(503),
            Script::Answer(503),
            Script::Fail(K::ConnectFailed, true),
            Script::Fail(K::ConnectFailed, true),
            Script::Answer(200),
        ]);
        let policy = RetryPolicy {
            max_connect_attempts: 4,
            ..retry_on("503")
        };
        let (r, _) = run(&up, 3, Method::GET, policy);
        assert_eq!(r.unwrap_err().outcome(|_| false), Outcome::ConnectFailed);
        assert_eq!(up.seen.borrow().len(), 4);
    }
}
