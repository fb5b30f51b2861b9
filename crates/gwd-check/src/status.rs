//! Check statuses as HAProxy reports them (`check_status` in `show stat`).

use std::fmt;
use std::time::Duration;

/// The result of the last check, HAProxy's `HCHK_STATUS_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// `UNK`: no check ran, or the check is not configured.
    Unknown,
    /// `INI`: checks are starting.
    Init,
    /// `SOCKERR`: the check socket could not be set up.
    SockErr,
    /// `L4OK`: the TCP connection succeeded (a plain TCP check passed).
    L4Ok,
    /// `L4TOUT`: the TCP connection timed out.
    L4Tout,
    /// `L4CON`: the TCP connection failed (refused, unreachable, reset).
    L4Con,
    /// `L6OK`: the TLS handshake succeeded (an `ssl` check passed).
    L6Ok,
    /// `L6TOUT`: the TLS handshake timed out.
    L6Tout,
    /// `L6RSP`: the TLS handshake failed.
    L6Rsp,
    /// `L7OK`: the application answer was as expected.
    L7Ok,
    /// `L7OKC`: conditionally passed (`http-check disable-on-404` and a 404).
    L7Okc,
    /// `L7TOUT`: no complete answer in time.
    L7Tout,
    /// `L7RSP`: the answer was malformed, or its content did not match.
    L7Rsp,
    /// `L7STS`: the answer had the wrong status.
    L7Sts,
    /// `HANA`: passive checks (`observe`) saw `error-limit` consecutive
    /// errors on real traffic.
    Hana,
}

const ALL: [CheckStatus; 15] = [
    CheckStatus::Unknown,
    CheckStatus::Init,
    CheckStatus::SockErr,
    CheckStatus::L4Ok,
    CheckStatus::L4Tout,
    CheckStatus::L4Con,
    CheckStatus::L6Ok,
    CheckStatus::L6Tout,
    CheckStatus::L6Rsp,
    CheckStatus::L7Ok,
    CheckStatus::L7Okc,
    CheckStatus::L7Tout,
    CheckStatus::L7Rsp,
    CheckStatus::L7Sts,
    CheckStatus::Hana,
];

impl CheckStatus {
    /// The short code shown in `show stat` (`check_status`), e.g. `L7STS`.
    pub fn code(self) -> &'static str {
        match self {
            CheckStatus::Unknown => "UNK",
            CheckStatus::Init => "INI",
            CheckStatus::SockErr => "SOCKERR",
            CheckStatus::L4Ok => "L4OK",
            CheckStatus::L4Tout => "L4TOUT",
            CheckStatus::L4Con => "L4CON",
            CheckStatus::L6Ok => "L6OK",
            CheckStatus::L6Tout => "L6TOUT",
            CheckStatus::L6Rsp => "L6RSP",
            CheckStatus::L7Ok => "L7OK",
            CheckStatus::L7Okc => "L7OKC",
            CheckStatus::L7Tout => "L7TOUT",
            CheckStatus::L7Rsp => "L7RSP",
            CheckStatus::L7Sts => "L7STS",
            CheckStatus::Hana => "HANA",
        }
    }

    /// The description used in log lines (`reason: ...`) and on the stats
    /// page.
    pub fn description(self) -> &'static str {
        match self {
            CheckStatus::Unknown => "Unknown",
            CheckStatus::Init => "Initializing",
            CheckStatus::SockErr => "Socket error",
            CheckStatus::L4Ok => "Layer4 check passed",
            CheckStatus::L4Tout => "Layer4 timeout",
            CheckStatus::L4Con => "Layer4 connection problem",
            CheckStatus::L6Ok => "Layer6 check passed",
            CheckStatus::L6Tout => "Layer6 timeout",
            CheckStatus::L6Rsp => "Layer6 invalid response",
            CheckStatus::L7Ok => "Layer7 check passed",
            CheckStatus::L7Okc => "Layer7 check conditionally passed",
            CheckStatus::L7Tout => "Layer7 timeout",
            CheckStatus::L7Rsp => "Layer7 invalid response",
            CheckStatus::L7Sts => "Layer7 wrong status",
            CheckStatus::Hana => "Health analyze",
        }
    }

    /// Whether the check counts as a success for [`Health::record`]
    /// (`L4OK`, `L6OK`, `L7OK`, `L7OKC`). `UNK` and `INI` are not results
    /// and count as failures here; callers should not record them.
    ///
    /// [`Health::record`]: crate::Health::record
    pub fn passed(self) -> bool {
        matches!(
            self,
            CheckStatus::L4Ok | CheckStatus::L6Ok | CheckStatus::L7Ok | CheckStatus::L7Okc
        )
    }

    /// The status whose [`code`](Self::code) is `code` (exact, upper case).
    pub fn from_code(code: &str) -> Option<CheckStatus> {
        ALL.into_iter().find(|s| s.code() == code)
    }
}

impl fmt::Display for CheckStatus {
    /// Writes the [`code`](Self::code).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One finished check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    /// What the check concluded.
    pub status: CheckStatus,
    /// The HTTP status code, for `L7OK`, `L7OKC` and `L7STS` (HAProxy shows
    /// a code only for those).
    pub code: Option<u16>,
    /// Free text about the result (the reason phrase of a wrong status, a
    /// connection error, why an answer was refused).
    pub info: Option<String>,
    /// How long the check took, from connect to verdict.
    pub duration: Duration,
}

impl CheckOutcome {
    /// An outcome with only a status (no code, no info, zero duration).
    pub fn new(status: CheckStatus) -> CheckOutcome {
        CheckOutcome {
            status,
            code: None,
            info: None,
            duration: Duration::ZERO,
        }
    }

    /// Whether the check passed ([`CheckStatus::passed`]).
    pub fn passed(&self) -> bool {
        self.status.passed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_descriptions() {
        let table: Vec<(&str, &str, bool)> = ALL
            .iter()
            .map(|s| (s.code(), s.description(), s.passed()))
            .collect();
        assert_eq!(
            table,
            vec![
                ("UNK", "Unknown", false),
                ("INI", "Initializing", false),
                ("SOCKERR", "Socket error", false),
                ("L4OK", "Layer4 check passed", true),
                ("L4TOUT", "Layer4 timeout", false),
                ("L4CON", "Layer4 connection problem", false),
                ("L6OK", "Layer6 check passed", true),
                ("L6TOUT", "Layer6 timeout", false),
                ("L6RSP", "Layer6 invalid response", false),
                ("L7OK", "Layer7 check passed", true),
                ("L7OKC", "Layer7 check conditionally passed", true),
                ("L7TOUT", "Layer7 timeout", false),
                ("L7RSP", "Layer7 invalid response", false),
                ("L7STS", "Layer7 wrong status", false),
                ("HANA", "Health analyze", false),
            ]
        );
    }

    #[test]
    fn from_code_round_trips() {
        for s in ALL {
            assert_eq!(CheckStatus::from_code(s.code()), Some(s));
            assert_eq!(s.to_string(), s.code());
        }
        assert_eq!(CheckStatus::from_code("l7ok"), None);
        assert_eq!(CheckStatus::from_code("L7"), None);
    }

    #[test]
    fn outcome_helpers() {
        let o = CheckOutcome::new(CheckStatus::L4Ok);
        assert!(o.passed());
        assert_eq!((o.code, o.info, o.duration), (None, None, Duration::ZERO));
        assert!(!CheckOutcome::new(CheckStatus::L7Sts).passed());
    }
}
