//! The QUIC gate: what happens to `quic4@`/`quic6@` binds in a given build.
//!
//! # Model
//!
//! A configuration may name QUIC binds. Whether gwd can serve them depends on
//! the build ([`Capabilities`]); when it cannot, the operator's policy
//! ([`Policy`], the `[global]` `limited-quic` switch) decides between refusing
//! to start and starting without those binds. [`check`] turns (capabilities,
//! policy, binds) into a list of [`Finding`]s:
//!
//! | build has QUIC | `limited-quic` | per QUIC bind                                   |
//! |----------------|----------------|-------------------------------------------------|
//! | yes            | any            | nothing                                         |
//! | no             | off            | one [`Severity::Error`] ([`FindingKind::QuicUnsupported`]) |
//! | no             | on             | one [`Severity::Warning`] ([`FindingKind::QuicSkipped`]), plus one [`FindingKind::ZeroRttIgnored`] warning if the bind sets `allow-0rtt` |
//!
//! Invariants:
//! * findings come in bind order, and a bind's findings are adjacent
//!   (skip warning before its 0-RTT warning);
//! * [`Finding::bind`] is the index of the bind in the slice given to
//!   [`check`], so the caller maps it back to a file location;
//! * entries whose address is not a QUIC address ([`is_quic_addr`]) produce
//!   nothing;
//! * every message names the bind address as written.
//!
//! The crate owns only this decision. It depends on nothing; it neither parses
//! configuration files nor opens sockets.
//!
//! ```
//! use gwd_quic_gate::{check, Capabilities, FindingKind, Policy, QuicBind};
//!
//! let binds = [QuicBind { addr: "quic4@:443", allow_0rtt: true }];
//! let no_quic = Capabilities { quic: false };
//!
//! // Without limited-quic the configuration is refused.
//! let findings = check(no_quic, Policy::default(), &binds);
//! assert_eq!(findings.len(), 1);
//! assert!(findings[0].is_error());
//!
//! // With it, gwd starts without the bind and warns twice.
//! let findings = check(no_quic, Policy { limited_quic: true }, &binds);
//! let kinds: Vec<_> = findings.iter().map(|f| f.kind).collect();
//! assert_eq!(kinds, [FindingKind::QuicSkipped, FindingKind::ZeroRttIgnored]);
//! assert!(findings.iter().all(|f| !f.is_error()));
//! ```

use std::fmt;

/// What this build of gwd can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Whether QUIC listeners can be served.
    pub quic: bool,
}

impl Capabilities {
    /// The capabilities of the running build: `quic` is set exactly when the
    /// crate was built with the `quic` cargo feature.
    ///
    /// ```
    /// let caps = gwd_quic_gate::Capabilities::of_this_build();
    /// assert_eq!(caps.quic, cfg!(feature = "quic"));
    /// ```
    pub const fn of_this_build() -> Self {
        Self {
            quic: cfg!(feature = "quic"),
        }
    }
}

/// The operator's choices that bear on QUIC binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Policy {
    /// `[global] limited-quic = true`: when the build cannot serve QUIC,
    /// start without the QUIC binds instead of refusing the configuration.
    pub limited_quic: bool,
}

/// One bind line as seen by the gate.
#[derive(Clone, Copy, Debug)]
pub struct QuicBind<'a> {
    /// The address as written, e.g. `"quic4@:443"`; used in messages.
    pub addr: &'a str,
    /// Whether the bind sets `allow-0rtt`.
    pub allow_0rtt: bool,
}

/// How serious a [`Finding`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The configuration must be refused.
    Error,
    /// gwd starts, but the operator should know.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// What a [`Finding`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindingKind {
    /// The build cannot serve QUIC and `limited-quic` is off (an error).
    QuicUnsupported,
    /// The build cannot serve QUIC; under `limited-quic` the bind is skipped.
    QuicSkipped,
    /// The bind sets `allow-0rtt`, which has no effect because the bind is
    /// skipped.
    ZeroRttIgnored,
}

/// One diagnostic about one bind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Index of the bind in the slice given to [`check`].
    pub bind: usize,
    /// What the finding is about.
    pub kind: FindingKind,
    /// Whether it refuses the configuration.
    pub severity: Severity,
    /// One line naming the bind address.
    pub message: String,
    /// What the operator can do about it, if anything.
    pub help: Option<String>,
}

impl Finding {
    /// Whether this finding must make the configuration check fail.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Finding {
    /// `<severity>: <message>` and, when present, `; help: <help>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity, self.message)?;
        if let Some(help) = &self.help {
            write!(f, "; help: {help}")?;
        }
        Ok(())
    }
}

/// Whether `addr` (as written in the configuration) names a QUIC bind, that
/// is, starts with `quic4@` or `quic6@`. The prefix is case-sensitive, as in
/// HAProxy.
///
/// ```
/// use gwd_quic_gate::is_quic_addr;
/// assert!(is_quic_addr("quic4@:443"));
/// assert!(is_quic_addr("quic6@[::]:443"));
/// assert!(!is_quic_addr(":443"));
/// assert!(!is_quic_addr("ipv4@:443"));
/// ```
pub fn is_quic_addr(addr: &str) -> bool {
    addr.starts_with("quic4@") || addr.starts_with("quic6@")
}

/// Whether any finding is an error (the configuration must be refused).
pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(Finding::is_error)
}

/// Decides what happens to each QUIC bind; see the crate docs for the table.
///
/// Findings are returned in bind order; [`Finding::bind`] indexes `binds`.
/// Entries of `binds` that are not QUIC addresses are ignored.
pub fn check(caps: Capabilities, policy: Policy, binds: &[QuicBind<'_>]) -> Vec<Finding> {
    if caps.quic {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, b) in binds.iter().enumerate() {
        if !is_quic_addr(b.addr) {
            continue;
        }
        if !policy.limited_quic {
            out.push(Finding {
                bind: i,
                kind: FindingKind::QuicUnsupported,
                severity: Severity::Error,
                message: format!("bind `{}`: this build of gwd cannot serve QUIC", b.addr),
                help: Some(
                    "set `limited-quic = true` in `[global]` to start without QUIC binds, \
                     or remove this bind"
                        .to_owned(),
                ),
            });
            continue;
        }
        out.push(Finding {
            bind: i,
            kind: FindingKind::QuicSkipped,
            severity: Severity::Warning,
            message: format!(
                "bind `{}`: this build of gwd cannot serve QUIC; starting without this bind \
                 (limited-quic)",
                b.addr
            ),
            help: Some("remove this bind to silence this warning".to_owned()),
        });
        if b.allow_0rtt {
            out.push(Finding {
                bind: i,
                kind: FindingKind::ZeroRttIgnored,
                severity: Severity::Warning,
                message: format!(
                    "bind `{}`: `allow-0rtt` is ignored: 0-RTT cannot be used while QUIC \
                     binds are skipped (limited-quic)",
                    b.addr
                ),
                help: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_QUIC: Capabilities = Capabilities { quic: false };
    const QUIC: Capabilities = Capabilities { quic: true };
    const STRICT: Policy = Policy {
        limited_quic: false,
    };
    const LIMITED: Policy = Policy { limited_quic: true };

    fn b(addr: &str, allow_0rtt: bool) -> QuicBind<'_> {
        QuicBind { addr, allow_0rtt }
    }

    #[test]
    fn of_this_build_follows_feature() {
        assert_eq!(Capabilities::of_this_build().quic, cfg!(feature = "quic"));
        #[cfg(not(feature = "quic"))]
        assert!(!Capabilities::of_this_build().quic);
    }

    #[test]
    fn policy_default_is_strict() {
        assert_eq!(Policy::default(), STRICT);
    }

    #[test]
    fn quic_addr_detection() {
        assert!(is_quic_addr("quic4@:443"));
        assert!(is_quic_addr("quic6@[::1]:8443"));
        assert!(is_quic_addr("quic4@0.0.0.0:443"));
        assert!(!is_quic_addr("quic@:443"));
        assert!(!is_quic_addr("QUIC4@:443"));
        assert!(!is_quic_addr(":443"));
        assert!(!is_quic_addr("ipv6@:443"));
        assert!(!is_quic_addr(" quic4@:443"));
        assert!(!is_quic_addr(""));
    }

    #[test]
    fn quic_build_has_no_findings() {
        let binds = [b("quic4@:443", true), b("quic6@:443", false)];
        assert!(check(QUIC, STRICT, &binds).is_empty());
        assert!(check(QUIC, LIMITED, &binds).is_empty());
    }

    #[test]
    fn no_binds_no_findings() {
        assert!(check(NO_QUIC, STRICT, &[]).is_empty());
        assert!(check(NO_QUIC, LIMITED, &[]).is_empty());
    }

    #[test]
    fn strict_gives_one_error_per_bind() {
        // allow_0rtt does not add a second finding on the error path.
        let binds = [b("quic4@:443", true), b("quic6@[::]:443", false)];
        let f = check(NO_QUIC, STRICT, &binds);
        assert_eq!(f.len(), 2);
        for (i, finding) in f.iter().enumerate() {
            assert_eq!(finding.bind, i);
            assert_eq!(finding.kind, FindingKind::QuicUnsupported);
            assert_eq!(finding.severity, Severity::Error);
            assert!(finding.is_error());
            assert!(
                finding.message.contains(binds[i].addr),
                "{}",
                finding.message
            );
            assert!(finding.message.contains("cannot serve QUIC"));
            let help = finding.help.as_deref().expect("help");
            assert!(help.contains("limited-quic = true"), "{help}");
            assert!(help.contains("[global]"), "{help}");
        }
        assert!(has_errors(&f));
    }

    #[test]
    fn limited_gives_warnings_and_0rtt_warning() {
        let binds = [b("quic4@:443", false), b("quic6@:8443", true)];
        let f = check(NO_QUIC, LIMITED, &binds);
        let got: Vec<_> = f.iter().map(|x| (x.bind, x.kind, x.severity)).collect();
        assert_eq!(
            got,
            [
                (0, FindingKind::QuicSkipped, Severity::Warning),
                (1, FindingKind::QuicSkipped, Severity::Warning),
                (1, FindingKind::ZeroRttIgnored, Severity::Warning),
            ]
        );
        assert!(!has_errors(&f));
        assert!(f.iter().all(|x| !x.is_error()));
        assert!(f[0].message.contains("quic4@:443"));
        assert!(f[0].message.contains("without this bind"));
        assert!(f[1].message.contains("quic6@:8443"));
        assert!(f[2].message.contains("quic6@:8443"));
        assert!(f[2].message.contains("0-RTT"));
        assert!(f[2].message.contains("ignored"));
    }

    #[test]
    fn index_mapping_skips_non_quic_entries() {
        let binds = [
            b(":80", true),
            b("quic4@:443", false),
            b("ipv4@:8080", false),
            b("quic6@:443", true),
        ];
        let strict: Vec<_> = check(NO_QUIC, STRICT, &binds)
            .iter()
            .map(|x| x.bind)
            .collect();
        assert_eq!(strict, [1, 3]);
        let limited: Vec<_> = check(NO_QUIC, LIMITED, &binds)
            .iter()
            .map(|x| (x.bind, x.kind))
            .collect();
        assert_eq!(
            limited,
            [
                (1, FindingKind::QuicSkipped),
                (3, FindingKind::QuicSkipped),
                (3, FindingKind::ZeroRttIgnored),
            ]
        );
    }

    #[test]
    fn display_includes_severity_and_help() {
        let f = check(NO_QUIC, STRICT, &[b("quic4@:443", false)]);
        let s = f[0].to_string();
        assert!(s.starts_with("error: bind `quic4@:443`"), "{s}");
        assert!(s.contains("; help: set `limited-quic = true`"), "{s}");
        let w = check(NO_QUIC, LIMITED, &[b("quic4@:443", true)]);
        assert!(w[0].to_string().starts_with("warning: "));
        assert!(!w[1].to_string().contains("help"));
    }
}
