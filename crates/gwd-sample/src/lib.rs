//! HAProxy-style sample expressions, converters, ACLs, conditions and
//! log-format strings for gwd.
//!
//! ```
//! use gwd_sample::{Acls, Condition, Expr, LogFormat, RenderMode, Sample, SampleContext};
//!
//! // The request, as the proxy shows it to rules.
//! struct Req;
//! impl SampleContext for Req {
//!     fn method(&self) -> Option<&str> { Some("GET") }
//!     fn path(&self) -> Option<&str> { Some("/api/v1/users") }
//!     fn header_values(&self, name: &str) -> Vec<&[u8]> {
//!         if name.eq_ignore_ascii_case("host") { vec![b"Shop.Example:8080"] } else { vec![] }
//!     }
//! }
//!
//! // `acl api path_beg /api/` and a condition, as in haproxy.cfg.
//! let mut acls = Acls::new();
//! acls.define("api", "path_beg /api/").unwrap();
//! let cond = Condition::parse("api { hdr(host) -m beg -i shop. }", &acls).unwrap();
//! assert!(cond.eval(&Req));
//!
//! // An expression: a fetch and converters.
//! let host = Expr::parse("req.hdr(host),field(1,:),lower").unwrap();
//! assert_eq!(host.eval(&Req), Some(Sample::Str(b"shop.example".as_slice().into())));
//!
//! // A log-format string.
//! let line = LogFormat::parse("%[method] %[path]").unwrap();
//! assert_eq!(line.render(&Req, RenderMode::Log), "GET /api/v1/users");
//! ```
//!
//! # Model
//!
//! * A **sample** ([`Sample`]) is a typed value (bool, int, string, IP)
//!   read from one request through a [`SampleContext`].
//! * An **expression** ([`Expr`]) is one *fetch* (`req.hdr(host)`, `path`,
//!   `src`, ...) followed by a chain of *converters* (`,lower`,
//!   `,field(1,:)`). Its output type is static.
//! * An **ACL body** is an expression, optional flags (`-i`, `-m <method>`,
//!   `--`) and patterns. It matches when any value of the fetch (every
//!   header occurrence, for instance) matches any pattern. [`Acls`] holds
//!   the named ACLs of one proxy; defining a name twice ORs the bodies.
//! * A **condition** ([`Condition`]) combines ACL names and inline
//!   `{ body }` ACLs with `!`, implicit AND and `||`/`or` (AND binds
//!   tighter, no parentheses).
//! * A **log format** ([`LogFormat`]) is text with `%[expr]` interpolations.
//!
//! The syntax is HAProxy's, kept inside strings so that `haproxy.cfg` lines
//! translate one to one; `docs/SAMPLES.md` lists every fetch, converter,
//! match method and predefined ACL.
//!
//! # Invariants
//!
//! * Everything is resolved at parse time: names, argument types, regexes
//!   (compiled once), `-i` patterns (lower-cased once), IP networks, integer
//!   ranges. Evaluation never fails; it only yields "no sample".
//! * A missing sample makes an expression evaluate to `None` and an ACL
//!   false (so `!acl` is true), as in HAProxy.
//! * String samples borrow from the context unless a converter must rewrite
//!   them; matching allocates only for `-i` hash lookups and non-string
//!   samples compared as text.
//! * [`ParseError::column`] is a 1-based character offset in the string
//!   that was parsed, pointing at the offending token.
//! * All public types are `Send + Sync + Clone + Debug`; [`Condition`] owns
//!   (reference-counted) copies of the ACL bodies it uses.
//!
//! # Ownership and dependencies
//!
//! This crate owns the sample language only. It is pure: no I/O, no
//! threads, no async, no DNS (IP patterns must be literal addresses). It
//! depends on `thiserror`, `regex`, `strsim` and `gwd-maps` (the pattern
//! engine behind map converters and `-f` ACLs). The proxy implements
//! [`SampleContext`]; the configuration crate calls the parsers and, through
//! a [`ParseEnv`], reads the map and pattern files they name (this crate
//! never does I/O itself).

#![warn(missing_docs)]

mod acl;
mod args;
mod capture;
mod cond;
mod context;
mod conv;
mod error;
mod expr;
mod fetch;
pub mod hello;
mod lex;
mod logformat;
mod maps;
mod pattern;
mod sample;
mod values;
mod vars;

pub use acl::Acls;
pub use capture::{CaptureDir, Captures, push_encoded};
pub use cond::Condition;
pub use context::{AuthUser, ProxyRef, SampleContext};
pub use error::{ParseError, ParseErrorKind};
pub use expr::Expr;
pub use fetch::FetchScope;
/// Connection facts, defined in gwd-conn and re-exported here so that
/// `gwd_sample::TlsInfo` keeps naming them.
pub use gwd_conn::{ClientCertInfo, TlsInfo};
pub use logformat::{LogFormat, LogVar, LogVars, NoLogVars, RenderMode};
pub use maps::{
    Fingerprint, LoadError, MapName, MapOrigin, MapRef, MapRegistry, MapResolver, MapUse,
    MatchKind, MatchSpec, Matcher, MemoryMaps, ParseEnv, PatternUse, PlannedUse, Rebinding,
    RefKind, RegisteredMap, ValueType,
};
pub use sample::{Sample, SampleType};
pub use vars::{VarName, VarScope, Vars};

/// Names of every sample fetch, in documentation order.
pub fn fetch_names() -> impl Iterator<Item = &'static str> {
    fetch::FETCHES.iter().map(|(n, _)| *n)
}

/// Names of every converter, in documentation order.
pub fn converter_names() -> impl Iterator<Item = &'static str> {
    conv::CONVERTERS.iter().map(|(n, _)| *n)
}

#[cfg(test)]
mod send_sync {
    use super::*;

    fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug>() {}

    #[test]
    fn public_types_are_shareable() {
        assert_traits::<Expr>();
        assert_traits::<Acls>();
        assert_traits::<Condition>();
        assert_traits::<LogFormat>();
        assert_traits::<ParseError>();
        assert_traits::<Sample<'static>>();
        assert_traits::<TlsInfo>();
    }
}
