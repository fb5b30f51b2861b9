//! Server health checks as HAProxy runs them, minus the sockets.
//!
//! ```
//! use std::time::Duration;
//! use gwd_check::{
//!     check_transition_line, CheckOutcome, Expect, Health, HealthParams, HttpCheck, Left,
//!     Transition,
//! };
//!
//! // `server a ... check rise 2 fall 3 inter 2s fastinter 500ms`
//! let params = HealthParams {
//!     fastinter: Some(Duration::from_millis(500)),
//!     ..HealthParams::default()
//! };
//! let mut health = Health::new(params, true); // up, but falls at the first failure
//!
//! // `option httpchk GET /health` + `http-check expect status 200-399`
//! let mut check = HttpCheck::from_option_args("GET /health").unwrap();
//! check.expect = Some(Expect::parse("status 200-399").unwrap());
//! assert_eq!(
//!     check.request(),
//!     b"GET /health HTTP/1.0\r\nconnection: close\r\n\r\n"
//! );
//!
//! // The I/O side reads the answer and asks for a verdict as bytes arrive.
//! let answer = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n";
//! assert_eq!(check.judge(&answer[..10], false), None); // not decided yet
//! let mut outcome: CheckOutcome = check.judge(answer, false).unwrap();
//! outcome.duration = Duration::from_millis(3); // measured by the caller
//! assert_eq!(outcome.status.code(), "L7STS");
//!
//! // One failure takes a server that just came up DOWN.
//! let t = health.record(outcome.status.passed());
//! assert_eq!(t, Some(Transition::Down));
//! let left = Left { active: 1, ..Left::default() };
//! assert_eq!(
//!     check_transition_line("app", "a", Transition::Down, &outcome, &left),
//!     "Server app/a is DOWN, reason: Layer7 wrong status, code: 503, \
//!      info: \"Service Unavailable\", check duration: 3ms. 1 active and 0 backup \
//!      servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
//! );
//! // Fully down: the next check runs after `downinter` (unset: `inter`).
//! assert_eq!(health.interval(), Duration::from_secs(2));
//!
//! // Two passing checks bring it back, checked at `fastinter` meanwhile.
//! assert_eq!(health.record(true), None);
//! assert_eq!(health.interval(), Duration::from_millis(500));
//! assert_eq!(health.record(true), Some(Transition::Up));
//! assert_eq!(health.interval(), Duration::from_secs(2));
//! ```
//!
//! Model. Each checked server has a [`Health`] counter `health` in
//! `0..=rise+fall-1`; the server is UP iff `health >= rise`. A passed
//! check increments it and a failed one decrements it; crossing `rise`
//! upwards is the UP transition and makes the server fully up (`rise+fall-1`,
//! so it takes `fall` failures to go down), dropping below `rise` is the
//! DOWN transition and resets it to 0 (so it takes `rise` successes to come
//! back). How often a server is checked follows that counter
//! ([`Health::interval`]: `inter` when stable up, `fastinter` while
//! changing, `downinter` when down), moved by `spread-checks`
//! ([`spread`]); the first checks of all servers are spread over one
//! interval ([`first_delay`]).
//!
//! An HTTP check ([`HttpCheck`]) sends one request ([`HttpCheck::request`])
//! and judges the answer ([`HttpCheck::judge`]) into a [`CheckOutcome`]: a
//! [`CheckStatus`] as `show stat` shows it (`L4OK`, `L7STS`, ...), the HTTP
//! code and some info. Plain TCP and TLS checks need no judging here: the
//! I/O side reports `L4OK`/`L4CON`/`L4TOUT` or `L6OK`/`L6RSP`/`L6TOUT`
//! itself. State changes are logged with HAProxy 2.6's wording
//! ([`check_transition_line`], [`admin_line`], [`no_server_line`]).
//!
//! Invariants:
//! - `health` never leaves `0..=rise+fall-1`, and `is_up() == (health >=
//!   rise)` after every call;
//! - transitions alternate: never two UPs without a DOWN between;
//! - [`HttpCheck::judge`] never reads past [`MAX_RESPONSE`] bytes, answers
//!   `None` only while more bytes could change the verdict, and decides
//!   once `eof` is set;
//! - [`HttpCheck::request`] never emits a header line that could split the
//!   request (CR, LF and NUL are refused up front and left out at the end).
//!
//! This crate is pure: no tokio, no sockets, no clock and no random number
//! generator of its own. Time comes in as [`Duration`](std::time::Duration)
//! arguments and randomness as `u64` values, so the I/O code (gwd-http)
//! owns the timers and the configuration parser (gwd-config) owns the
//! syntax around these values. It depends on `thiserror`, `regex` and
//! `httparse`.

#![warn(missing_docs)]

mod expect;
mod health;
mod http;
mod log;
mod status;

pub use expect::{Expect, ExpectError, ExpectKind};
pub use health::{Health, HealthParams, Transition, check_tick, first_delay, on_tick, spread};
pub use http::{HttpCheck, HttpCheckError, MAX_RESPONSE};
pub use log::{AdminEvent, Left, admin_line, check_transition_line, no_server_line};
pub use status::{CheckOutcome, CheckStatus};
