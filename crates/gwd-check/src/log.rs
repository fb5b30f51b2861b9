//! HAProxy's log lines for server state changes (HAProxy 2.6
//! `srv_update_status()` and `srv_append_status()`, without the trailing
//! newline).

use std::fmt::Write as _;

use crate::health::Transition;
use crate::status::CheckOutcome;

/// What a backend has left after a server changed state: the counts the
/// tail of each state-change line reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Left {
    /// Usable active servers of the backend, after the change.
    pub active: u32,
    /// Usable backup servers of the backend, after the change.
    pub backup: u32,
    /// Connections still open on the server that changed.
    pub sessions: u32,
    /// Queued requests moved away from (DOWN) or taken over by (UP) the
    /// server.
    pub requeued: u32,
    /// Requests still in the server's queue.
    pub queued: u32,
}

/// The line for a state change caused by a check, e.g.
///
/// `Server app/a is DOWN, reason: Layer7 wrong status, code: 500, check
/// duration: 2ms. 1 active and 0 backup servers left. 0 sessions active, 0
/// requeued, 0 remaining in queue.`
///
/// `Server app/a is UP, reason: Layer7 check passed, code: 200, check
/// duration: 1ms. 2 active and 0 backup servers online. 0 sessions
/// requeued, 0 total in queue.`
///
/// The code is printed when present, the info when present and not empty
/// (quoted; `"`, `<`, `>` and bytes that are not printable ASCII written as
/// `<XX>` in hex, as HAProxy's `chunk_asciiencode()`), the check duration
/// in whole milliseconds. When only backup servers are left, HAProxy's
/// ` Running on backup.` follows the counts.
pub fn check_transition_line(
    backend: &str,
    server: &str,
    to: Transition,
    outcome: &CheckOutcome,
    left: &Left,
) -> String {
    let mut line = format!(
        "Server {backend}/{server} is {}, reason: {}",
        state_word(to),
        outcome.status.description()
    );
    if let Some(code) = outcome.code {
        let _ = write!(line, ", code: {code}");
    }
    if let Some(info) = outcome.info.as_deref().filter(|i| !i.is_empty()) {
        line.push_str(", info: \"");
        ascii_encode(&mut line, info);
        line.push('"');
    }
    let _ = write!(line, ", check duration: {}ms", outcome.duration.as_millis());
    push_tail(&mut line, to, left);
    line
}

/// An administrative or forced change of a server (runtime API, stats
/// page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminEvent {
    /// `set server ... state maint` on a running server.
    EnterMaint,
    /// `set server ... state ready` from maintenance; `up`: whether the
    /// server is UP now (its checks start at `rise`, see
    /// [`Health::new`](crate::Health::new)).
    LeaveMaint {
        /// Whether the server is UP after leaving.
        up: bool,
    },
    /// `set server ... state drain`.
    EnterDrain,
    /// `set server ... state ready` from drain.
    LeaveDrain {
        /// Whether the server is UP after leaving.
        up: bool,
    },
    /// `set server ... health down`.
    CliDown,
    /// `set server ... health up`.
    CliUp,
}

/// The line for an [`AdminEvent`], as HAProxy 2.6 words it:
///
/// - `EnterMaint`: `Server app/a is going DOWN for maintenance. 1 active and
///   0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in
///   queue.`
/// - `LeaveMaint`: `Server app/a is UP/READY (leaving forced maintenance).`
///   (`DOWN/READY` when its checks say down);
/// - `EnterDrain`: `Server app/a enters drain state. 1 active and 0 backup
///   servers online. 0 sessions requeued, 0 total in queue.` (a draining
///   server is still running, so HAProxy prints the "online" tail);
/// - `LeaveDrain`: `Server app/a is UP (leaving forced drain).`;
/// - `CliDown`: `Server app/a is DOWN, changed from CLI. 1 active and 0
///   backup servers left. 0 sessions active, 0 requeued, 0 remaining in
///   queue.`, and `CliUp` the same with `UP` and the "online" tail.
pub fn admin_line(backend: &str, server: &str, event: AdminEvent, left: &Left) -> String {
    let name = format!("Server {backend}/{server}");
    match event {
        AdminEvent::EnterMaint => {
            let mut line = format!("{name} is going DOWN for maintenance");
            push_tail(&mut line, Transition::Down, left);
            line
        }
        AdminEvent::LeaveMaint { up } => {
            format!(
                "{name} is {}/READY (leaving forced maintenance).",
                state_word(up_to_transition(up))
            )
        }
        AdminEvent::EnterDrain => {
            let mut line = format!("{name} enters drain state");
            push_tail(&mut line, Transition::Up, left);
            line
        }
        AdminEvent::LeaveDrain { up } => {
            format!(
                "{name} is {} (leaving forced drain).",
                state_word(up_to_transition(up))
            )
        }
        AdminEvent::CliDown | AdminEvent::CliUp => {
            let to = up_to_transition(event == AdminEvent::CliUp);
            let mut line = format!("{name} is {}, changed from CLI", state_word(to));
            push_tail(&mut line, to, left);
            line
        }
    }
}

/// The line logged when a backend loses its last usable server:
/// `backend app has no server available!` (HAProxy's `set_backend_down()`
/// log line; its stderr alert quotes the name, and a `listen` section is
/// called `proxy` there).
pub fn no_server_line(backend: &str) -> String {
    format!("backend {backend} has no server available!")
}

fn state_word(t: Transition) -> &'static str {
    match t {
        Transition::Up => "UP",
        Transition::Down => "DOWN",
    }
}

fn up_to_transition(up: bool) -> Transition {
    if up { Transition::Up } else { Transition::Down }
}

/// The counts after a change, worded for a server that is now stopped
/// (`Down`) or running (`Up`), and the final period.
fn push_tail(line: &mut String, state: Transition, left: &Left) {
    let on_backup = if left.backup > 0 && left.active == 0 {
        " Running on backup."
    } else {
        ""
    };
    let _ = match state {
        Transition::Down => write!(
            line,
            ". {} active and {} backup servers left.{on_backup} {} sessions active, \
             {} requeued, {} remaining in queue.",
            left.active, left.backup, left.sessions, left.requeued, left.queued
        ),
        Transition::Up => write!(
            line,
            ". {} active and {} backup servers online.{on_backup} {} sessions requeued, \
             {} total in queue.",
            left.active, left.backup, left.requeued, left.queued
        ),
    };
}

/// HAProxy's `chunk_asciiencode()` with `"` as the quote: bytes that are
/// not printable ASCII, `<`, `>` and `"` become `<XX>`.
fn ascii_encode(out: &mut String, s: &str) {
    for b in s.bytes() {
        if (0x20..0x7f).contains(&b) && !matches!(b, b'<' | b'>' | b'"') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "<{b:02X}>");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::CheckStatus;
    use std::time::Duration;

    fn outcome(
        status: CheckStatus,
        code: Option<u16>,
        info: Option<&str>,
        ms: u64,
    ) -> CheckOutcome {
        CheckOutcome {
            status,
            code,
            info: info.map(str::to_string),
            duration: Duration::from_millis(ms),
        }
    }

    fn left(active: u32, backup: u32) -> Left {
        Left {
            active,
            backup,
            ..Left::default()
        }
    }

    #[test]
    fn check_lines() {
        assert_eq!(
            check_transition_line(
                "app",
                "a",
                Transition::Down,
                &outcome(CheckStatus::L7Sts, Some(500), None, 2),
                &left(1, 0)
            ),
            "Server app/a is DOWN, reason: Layer7 wrong status, code: 500, check duration: 2ms. \
             1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
        );
        assert_eq!(
            check_transition_line(
                "app",
                "a",
                Transition::Down,
                &outcome(CheckStatus::L4Con, None, Some("Connection refused"), 0),
                &left(0, 0)
            ),
            "Server app/a is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", \
             check duration: 0ms. 0 active and 0 backup servers left. 0 sessions active, \
             0 requeued, 0 remaining in queue."
        );
        assert_eq!(
            check_transition_line(
                "app",
                "a",
                Transition::Up,
                &outcome(CheckStatus::L7Ok, Some(200), None, 1),
                &left(2, 0)
            ),
            "Server app/a is UP, reason: Layer7 check passed, code: 200, check duration: 1ms. \
             2 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."
        );
    }

    #[test]
    fn check_line_details() {
        // Sub-millisecond durations round down; info is encoded; counts.
        let o = outcome(
            CheckStatus::L7Sts,
            Some(503),
            Some("Service \"Unavailable\" <now>\u{e9}\n"),
            0,
        );
        let o = CheckOutcome {
            duration: Duration::from_micros(2999),
            ..o
        };
        let l = Left {
            active: 0,
            backup: 1,
            sessions: 3,
            requeued: 4,
            queued: 5,
        };
        assert_eq!(
            check_transition_line("be", "s1", Transition::Down, &o, &l),
            "Server be/s1 is DOWN, reason: Layer7 wrong status, code: 503, \
             info: \"Service <22>Unavailable<22> <3C>now<3E><C3><A9><0A>\", check duration: 2ms. \
             0 active and 1 backup servers left. Running on backup. 3 sessions active, \
             4 requeued, 5 remaining in queue."
        );
        // An empty info is not printed.
        let o = outcome(CheckStatus::L7Rsp, None, Some(""), 7);
        assert_eq!(
            check_transition_line("be", "s1", Transition::Up, &o, &l),
            "Server be/s1 is UP, reason: Layer7 invalid response, check duration: 7ms. \
             0 active and 1 backup servers online. Running on backup. 4 sessions requeued, \
             5 total in queue."
        );
    }

    #[test]
    fn admin_lines() {
        let l = left(1, 0);
        assert_eq!(
            admin_line("app", "a", AdminEvent::EnterMaint, &l),
            "Server app/a is going DOWN for maintenance. 1 active and 0 backup servers left. \
             0 sessions active, 0 requeued, 0 remaining in queue."
        );
        assert_eq!(
            admin_line("app", "a", AdminEvent::LeaveMaint { up: true }, &l),
            "Server app/a is UP/READY (leaving forced maintenance)."
        );
        assert_eq!(
            admin_line("app", "a", AdminEvent::LeaveMaint { up: false }, &l),
            "Server app/a is DOWN/READY (leaving forced maintenance)."
        );
        assert_eq!(
            admin_line("app", "a", AdminEvent::EnterDrain, &l),
            "Server app/a enters drain state. 1 active and 0 backup servers online. \
             0 sessions requeued, 0 total in queue."
        );
        assert_eq!(
            admin_line("app", "a", AdminEvent::LeaveDrain { up: true }, &l),
            "Server app/a is UP (leaving forced drain)."
        );
        assert_eq!(
            admin_line("app", "a", AdminEvent::LeaveDrain { up: false }, &l),
            "Server app/a is DOWN (leaving forced drain)."
        );
        assert_eq!(
            admin_line("app", "a", AdminEvent::CliDown, &left(0, 0)),
            "Server app/a is DOWN, changed from CLI. 0 active and 0 backup servers left. \
             0 sessions active, 0 requeued, 0 remaining in queue."
        );
        assert_eq!(
            admin_line("app", "a", AdminEvent::CliUp, &left(2, 1)),
            "Server app/a is UP, changed from CLI. 2 active and 1 backup servers online. \
             0 sessions requeued, 0 total in queue."
        );
    }

    #[test]
    fn no_server() {
        assert_eq!(
            no_server_line("app"),
            "backend app has no server available!"
        );
    }
}
