//! What a server's state looks like from outside the balancer: the
//! health counter and last check result, how many checks failed and how
//! often it went down, since when its state holds, and its downtime; and
//! the HAProxy log lines of its transitions.
//!
//! The balancer (gwd-balance) decides who takes requests; this records
//! why, for `show stat`, `show servers state`, the stats page and
//! Prometheus. It is written by the server's check task and by runtime
//! API commands, a few times per check interval at most, and read by the
//! renderers; nothing here is touched per request.

use std::time::{Duration, Instant};

use gwd_balance::Admin;
use gwd_check::{CheckOutcome, CheckStatus, Health, HealthParams};
use parking_lot::Mutex;

/// A server's state record.
#[derive(Debug)]
pub struct ServerStatus {
    inner: Mutex<Inner>,
    /// Wakes the server's check task early (`on-error`: the next check
    /// at `fastinter`).
    pub(crate) wake: tokio::sync::Notify,
}

#[derive(Debug)]
struct Inner {
    /// `None`: the server has no `check`.
    health: Option<Health>,
    /// `disable health` stops the checks (the server counts as UP).
    checks_enabled: bool,
    /// A check is running now (stats prefix its status with `* `).
    running: bool,
    /// Bumped on entering and leaving maintenance: a check that started
    /// in another epoch is ignored (its server may have been restarted).
    epoch: u64,
    /// Leaving maintenance asks for a check at once.
    check_now: bool,
    last: Option<CheckOutcome>,
    last_check_at: Option<Instant>,
    /// Failed checks (`chkfail`).
    failed_checks: u64,
    /// Times passive checks reached `error-limit` (`hanafail`).
    passive_failures: u64,
    /// UP to DOWN transitions (`chkdown`).
    downs: u64,
    /// When the operational state last changed (`lastchg`).
    last_change: Instant,
    /// While down: since when (`downtime` adds it).
    down_since: Option<Instant>,
    /// Completed down periods.
    downtime: Duration,
}

/// A copy of a server's state record, for renderers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusView {
    /// Whether the server has active checks.
    pub checked: bool,
    pub checks_enabled: bool,
    /// Health counter and its bounds (`rise + fall - 1` is fully up).
    pub health: u32,
    pub rise: u32,
    pub fall: u32,
    /// What the checks say (`true` without checks).
    pub check_up: bool,
    pub running: bool,
    pub last: Option<CheckOutcome>,
    /// How long ago the last check ended.
    pub last_check_age: Option<Duration>,
    pub failed_checks: u64,
    /// Times passive checks reached `error-limit` and applied `on-error`
    /// (`hanafail`).
    pub passive_failures: u64,
    pub downs: u64,
    /// How long the current operational state holds.
    pub since_change: Duration,
    /// Total time down, the current period included.
    pub downtime: Duration,
}

impl StatusView {
    /// HAProxy's `status` column for a server in admin state `admin` whose
    /// balancer state says `up`: `UP`, `DOWN`, `MAINT`, `DRAIN`, `no check`,
    /// or a transition such as `UP 1/3` (going down) / `DOWN 1/2` (going
    /// up).
    pub fn status_text(&self, admin: Admin, up: bool) -> String {
        match admin {
            Admin::Maint => return "MAINT".into(),
            Admin::Drain if up => return "DRAIN".into(),
            _ => {}
        }
        if !self.checked || !self.checks_enabled {
            return if up { "no check".into() } else { "DOWN".into() };
        }
        let max = self.rise + self.fall - 1;
        if self.check_up {
            if self.health >= max {
                "UP".into()
            } else {
                // Going down: failures so far out of `fall`.
                format!("UP {}/{}", self.health - self.rise + 1, self.fall)
            }
        } else if self.health == 0 {
            "DOWN".into()
        } else {
            format!("DOWN {}/{}", self.health, self.rise)
        }
    }

    /// HAProxy's `check_status` column: the code of the last result,
    /// `* `-prefixed while a check runs; empty without checks.
    pub fn check_status_text(&self) -> String {
        if !self.checked {
            return String::new();
        }
        let code = self
            .last
            .as_ref()
            .map_or(CheckStatus::Init.code(), |o| o.status.code());
        if self.running {
            format!("* {code}")
        } else {
            code.to_owned()
        }
    }
}

impl ServerStatus {
    pub fn new(check: Option<HealthParams>, now: Instant) -> ServerStatus {
        ServerStatus {
            inner: Mutex::new(Inner {
                health: check.map(|p| Health::new(p, true)),
                checks_enabled: true,
                running: false,
                epoch: 0,
                check_now: false,
                last: None,
                last_check_at: None,
                failed_checks: 0,
                passive_failures: 0,
                downs: 0,
                last_change: now,
                down_since: None,
                downtime: Duration::ZERO,
            }),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Passive checks reached `error-limit`: applies `on-error` to the
    /// health counter (recorded as a `HANA` result with `info`) and wakes
    /// the check task so the next check runs at `fastinter`. Returns the
    /// transition, if any.
    pub fn passive_tripped(
        &self,
        action: gwd_config::OnError,
        info: String,
        now: Instant,
    ) -> Option<(gwd_check::Transition, CheckOutcome)> {
        use gwd_config::OnError;
        let mut g = self.inner.lock();
        if !g.checks_enabled {
            return None;
        }
        let outcome = CheckOutcome {
            status: CheckStatus::Hana,
            code: None,
            info: Some(info),
            duration: Duration::ZERO,
        };
        g.passive_failures += 1;
        let health = g.health.as_mut()?;
        let was_up = health.is_up();
        let t = match action {
            OnError::FastInter => None,
            OnError::FailCheck => health.record(false),
            OnError::SuddenDeath => {
                health.sudden_death();
                None
            }
            OnError::MarkDown => health.force(false),
        };
        if action == OnError::FailCheck && was_up {
            g.failed_checks += 1;
        }
        g.last = Some(outcome.clone());
        g.last_check_at = Some(now);
        if let Some(t) = t {
            Self::note_transition(&mut g, t == gwd_check::Transition::Up, now, true);
        }
        drop(g);
        self.wake.notify_one();
        t.map(|t| (t, outcome))
    }

    /// Marks a check as running; returns its epoch for
    /// [`check_done`](Self::check_done).
    pub fn check_started(&self) -> u64 {
        let mut g = self.inner.lock();
        g.running = true;
        g.epoch
    }

    /// Entering maintenance: checks in flight will be ignored.
    pub fn enter_maint(&self) {
        let mut g = self.inner.lock();
        g.epoch += 1;
        g.running = false;
    }

    /// Whether the check task should check now instead of sleeping
    /// `fastinter` after a wake-up (leaving maintenance); clears it.
    pub fn take_check_now(&self) -> bool {
        std::mem::take(&mut self.inner.lock().check_now)
    }

    /// Records a finished check; returns the health transition it caused.
    /// `None` also when checks were disabled meanwhile (the result is
    /// ignored, as HAProxy does).
    pub fn check_done(
        &self,
        outcome: CheckOutcome,
        epoch: u64,
        now: Instant,
    ) -> Option<gwd_check::Transition> {
        let mut g = self.inner.lock();
        if g.epoch != epoch {
            // Started before a maintenance began or ended: stale.
            return None;
        }
        g.running = false;
        if !g.checks_enabled {
            return None;
        }
        let passed = outcome.status.passed();
        // HAProxy's `chkfail` counts the checks failed while the server
        // is up (those that bring it down included), not every check of a
        // server already down: its rate is a sign of trouble, not of
        // how long a server stays down.
        if !passed && g.health.as_ref().is_none_or(gwd_check::Health::is_up) {
            g.failed_checks += 1;
        }
        g.last = Some(outcome);
        g.last_check_at = Some(now);
        let t = g.health.as_mut()?.record(passed);
        if let Some(t) = t {
            Self::note_transition(&mut g, t == gwd_check::Transition::Up, now, true);
        }
        t
    }

    /// The operational state changed for another reason than a check
    /// (maintenance, checks turned off or on): `up` is the new one. Not
    /// counted in `chkdown`, which counts what the checks found.
    pub fn changed(&self, up: bool, now: Instant) {
        let mut g = self.inner.lock();
        Self::note_transition(&mut g, up, now, false);
    }

    /// `enable health` / `disable health` moved the server: a move to
    /// DOWN counts in `chkdown`, as HAProxy counts every move to DOWN.
    pub fn checks_switched(&self, up: bool, now: Instant) {
        let mut g = self.inner.lock();
        Self::note_transition(&mut g, up, now, true);
    }

    fn note_transition(g: &mut Inner, up: bool, now: Instant, health: bool) {
        g.last_change = now;
        if up {
            if let Some(since) = g.down_since.take() {
                g.downtime += now.saturating_duration_since(since);
            }
        } else if g.down_since.is_none() {
            if health {
                g.downs += 1;
            }
            g.down_since = Some(now);
        }
    }

    /// `set server <b>/<s> health up|down`: forces the health counter.
    /// Returns the transition, if any; `None` too for unchecked servers.
    pub fn force_health(&self, up: bool, now: Instant) -> Option<gwd_check::Transition> {
        let mut g = self.inner.lock();
        let t = g.health.as_mut()?.force(up);
        if let Some(t) = t {
            Self::note_transition(&mut g, t == gwd_check::Transition::Up, now, true);
        }
        t
    }

    /// `enable health` / `disable health`. Returns what the server's
    /// health is now taken to be: UP while checks are off, else what the
    /// counter says. `None` for unchecked servers.
    pub fn set_checks_enabled(&self, on: bool) -> Option<bool> {
        let mut g = self.inner.lock();
        let up = g.health.as_ref()?.is_up();
        g.checks_enabled = on;
        Some(if on { up } else { true })
    }

    /// Hands the health the checks say now (UP when the server has no
    /// checks or they are off) to `set`, the balancer's `set_up`, under
    /// this record's lock: callers apply the level, not the transition
    /// they saw, so two changes racing (a check and a runtime command)
    /// cannot leave the balancer disagreeing with the counter.
    pub fn apply_level<R>(&self, set: impl FnOnce(bool) -> R) -> R {
        let g = self.inner.lock();
        let up = match &g.health {
            Some(h) if g.checks_enabled => h.is_up(),
            _ => true,
        };
        set(up)
    }

    /// Leaving maintenance: checks start again from HAProxy's start state
    /// (up, falling at the first failed check) and run at once.
    pub fn leave_maint(&self) {
        let mut g = self.inner.lock();
        if let Some(h) = g.health.as_mut() {
            *h = Health::new(*h.params(), true);
        }
        g.epoch += 1;
        g.check_now = true;
        drop(g);
        self.wake.notify_one();
    }

    /// Whether checks should run now.
    pub fn checks_enabled(&self) -> bool {
        self.inner.lock().checks_enabled
    }

    /// The interval until the next check, by health (inter / fastinter /
    /// downinter).
    pub fn interval(&self) -> Option<Duration> {
        self.inner.lock().health.as_ref().map(Health::interval)
    }

    pub fn view(&self, now: Instant) -> StatusView {
        let g = self.inner.lock();
        let (health, rise, fall, check_up) = match &g.health {
            Some(h) => (h.health(), h.params().rise, h.params().fall, h.is_up()),
            None => (0, 0, 0, true),
        };
        StatusView {
            checked: g.health.is_some(),
            checks_enabled: g.checks_enabled,
            health,
            rise,
            fall,
            check_up,
            running: g.running,
            last: g.last.clone(),
            last_check_age: g.last_check_at.map(|t| now.saturating_duration_since(t)),
            failed_checks: g.failed_checks,
            passive_failures: g.passive_failures,
            downs: g.downs,
            since_change: now.saturating_duration_since(g.last_change),
            downtime: g.downtime
                + g.down_since
                    .map_or(Duration::ZERO, |s| now.saturating_duration_since(s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use gwd_check::{CheckOutcome, CheckStatus, HealthParams, Transition};

    use super::*;

    fn outcome(status: CheckStatus) -> CheckOutcome {
        CheckOutcome {
            status,
            code: None,
            info: None,
            duration: Duration::ZERO,
        }
    }

    /// Each `on-error` action on a fully up server (rise 2, fall 3):
    /// `fastinter` only wakes the checks, `fail-check` counts one failed
    /// check, `sudden-death` leaves one failure to DOWN, `mark-down` takes
    /// it down at once; every trip is a `HANA` result and wakes the checks.
    #[test]
    fn each_on_error_action_acts_as_haproxys() {
        use futures_util::FutureExt;
        use gwd_config::OnError;
        let t0 = Instant::now();
        let fully_up = || {
            let s = ServerStatus::new(Some(HealthParams::default()), t0);
            for _ in 0..2 {
                assert_eq!(s.check_done(outcome(CheckStatus::L4Ok), 0, t0), None);
            }
            assert_eq!(s.view(t0).status_text(Admin::Ready, true), "UP");
            s
        };
        let trip = |s: &ServerStatus, a| {
            let t = s.passive_tripped(a, "Detected 10 consecutive errors".into(), t0);
            assert_eq!(s.view(t0).check_status_text(), "HANA");
            assert!(
                s.wake.notified().now_or_never().is_some(),
                "{a:?} woke no check"
            );
            t.map(|(t, _)| t)
        };

        let s = fully_up();
        assert_eq!(trip(&s, OnError::FastInter), None);
        assert_eq!(s.view(t0).status_text(Admin::Ready, true), "UP");
        assert_eq!(s.view(t0).failed_checks, 0);

        let s = fully_up();
        assert_eq!(trip(&s, OnError::FailCheck), None);
        assert_eq!(s.view(t0).status_text(Admin::Ready, true), "UP 2/3");
        assert_eq!(s.view(t0).failed_checks, 1);
        assert_eq!(trip(&s, OnError::FailCheck), None);
        assert_eq!(trip(&s, OnError::FailCheck), Some(Transition::Down));

        let s = fully_up();
        assert_eq!(trip(&s, OnError::SuddenDeath), None);
        assert_eq!(s.view(t0).status_text(Admin::Ready, true), "UP 1/3");
        assert_eq!(
            s.check_done(outcome(CheckStatus::L4Con), 0, t0),
            Some(Transition::Down)
        );

        let s = fully_up();
        assert_eq!(trip(&s, OnError::MarkDown), Some(Transition::Down));
        assert_eq!(s.view(t0).status_text(Admin::Ready, false), "DOWN");
        assert_eq!(s.view(t0).passive_failures, 1);
    }

    #[test]
    fn status_column_follows_haproxy() {
        let t0 = Instant::now();
        let unchecked = ServerStatus::new(None, t0);
        let v = unchecked.view(t0);
        assert_eq!(v.status_text(Admin::Ready, true), "no check");
        assert_eq!(v.status_text(Admin::Maint, true), "MAINT");
        assert_eq!(v.status_text(Admin::Drain, true), "DRAIN");
        assert_eq!(v.check_status_text(), "");

        // rise 2, fall 3: fully up is health 4.
        let s = ServerStatus::new(Some(HealthParams::default()), t0);
        assert_eq!(s.view(t0).check_status_text(), "INI");
        // Starts at `rise`: up, but the first failure takes it down.
        assert_eq!(s.view(t0).status_text(Admin::Ready, true), "UP 1/3");
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(
            s.check_done(outcome(CheckStatus::L4Con), 0, t1),
            Some(Transition::Down)
        );
        let v = s.view(t1 + Duration::from_secs(2));
        assert_eq!(v.status_text(Admin::Ready, false), "DOWN");
        assert_eq!((v.failed_checks, v.downs), (1, 1));
        assert_eq!(v.downtime, Duration::from_secs(2));
        assert_eq!(v.check_status_text(), "L4CON");
        s.check_started();
        assert_eq!(s.view(t1).check_status_text(), "* L4CON");
        assert_eq!(s.check_done(outcome(CheckStatus::L4Ok), 0, t1), None);
        assert_eq!(s.view(t1).status_text(Admin::Ready, false), "DOWN 1/2");
        let t2 = t1 + Duration::from_secs(3);
        assert_eq!(
            s.check_done(outcome(CheckStatus::L4Ok), 0, t2),
            Some(Transition::Up)
        );
        let v = s.view(t2 + Duration::from_secs(5));
        assert_eq!(v.status_text(Admin::Ready, true), "UP");
        // Down from t1 to t2, then up for 5 s.
        assert_eq!(
            (v.downtime, v.since_change),
            (Duration::from_secs(3), Duration::from_secs(5))
        );
    }

    /// `chkfail` counts the checks failed while the server is up, as
    /// HAProxy's: a server left down does not make it climb.
    #[test]
    fn failed_checks_count_only_while_up() {
        let t0 = Instant::now();
        let s = ServerStatus::new(Some(HealthParams::default()), t0);
        assert_eq!(
            s.check_done(outcome(CheckStatus::L4Con), 0, t0),
            Some(Transition::Down)
        );
        for _ in 0..5 {
            assert_eq!(s.check_done(outcome(CheckStatus::L4Con), 0, t0), None);
        }
        assert_eq!(s.view(t0).failed_checks, 1);
    }

    /// Every move to DOWN counts in `chkdown`, checks switched back on
    /// included; maintenance does not.
    #[test]
    fn switching_checks_back_on_counts_a_move_down() {
        let t0 = Instant::now();
        let s = ServerStatus::new(Some(HealthParams::default()), t0);
        s.checks_switched(false, t0);
        s.checks_switched(true, t0);
        assert_eq!(s.view(t0).downs, 1);
        s.changed(false, t0);
        s.changed(true, t0);
        assert_eq!(s.view(t0).downs, 1, "maintenance is no check's finding");
        s.checks_switched(false, t0);
        assert_eq!(s.view(t0).downs, 2);
    }

    #[test]
    fn disabled_checks_ignore_results_and_count_as_up() {
        let t0 = Instant::now();
        let s = ServerStatus::new(Some(HealthParams::default()), t0);
        assert_eq!(
            s.check_done(outcome(CheckStatus::L7Sts), 0, t0),
            Some(Transition::Down)
        );
        assert_eq!(s.set_checks_enabled(false), Some(true));
        assert_eq!(s.check_done(outcome(CheckStatus::L7Ok), 0, t0), None);
        assert_eq!(s.view(t0).status_text(Admin::Ready, true), "no check");
        assert_eq!(s.set_checks_enabled(true), Some(false));
        // Maintenance is not a check failure.
        s.changed(false, t0);
        assert_eq!(s.view(t0).downs, 1);
        assert_eq!(ServerStatus::new(None, t0).set_checks_enabled(false), None);
    }

    #[test]
    fn a_check_from_before_a_maintenance_is_ignored() {
        let t0 = Instant::now();
        let s = ServerStatus::new(Some(HealthParams::default()), t0);
        let epoch = s.check_started();
        s.enter_maint();
        s.leave_maint();
        assert!(s.take_check_now() && !s.take_check_now());
        // The server was restarted meanwhile: the old failure is stale.
        assert_eq!(s.check_done(outcome(CheckStatus::L4Tout), epoch, t0), None);
        assert!(s.view(t0).check_up);
        let epoch = s.check_started();
        assert_eq!(
            s.check_done(outcome(CheckStatus::L4Tout), epoch, t0),
            Some(Transition::Down)
        );
    }
}
