//! The server commands: `disable`/`enable server`, `set server`,
//! `set weight`, `get weight`, `enable`/`disable health`, `show servers
//! state|conn`, `show tunnels`.

use gwd_config::AdminLevel;

use super::Session;
use crate::runtime::{render_servers_conn, render_tunnels};
use gwd_stats_render::AdminState;

use crate::servers::{ServerControl, ServerError, parse_weight, render_servers_state};
use crate::stats_hub::StatsHub;

impl Session {
    /// Runs `f` if the session may change servers (operator level and
    /// up; HAProxy asks for admin), else `Permission denied`.
    pub(super) fn as_operator(&self, f: impl FnOnce(&Self) -> String) -> String {
        if self.level < AdminLevel::Operator {
            return "Permission denied\n".into();
        }
        f(self)
    }

    /// The server source, or the answer when there is none.
    pub(super) fn control(&self) -> Result<&dyn ServerControl, String> {
        self.cli
            .servers
            .as_deref()
            .ok_or_else(|| "No server information available.\n".into())
    }

    /// A `<backend>/<server>` argument and the server's (current, initial)
    /// weight, or the answer saying why not: HAProxy's `cli_find_server`
    /// (split at the first `/`, both halves needed).
    pub(super) fn find_server<'a>(
        &self,
        arg: Option<&&'a str>,
    ) -> Result<(&'a str, &'a str, u32), String> {
        let ctl = self.control()?;
        let (b, s) = match arg.copied().and_then(|a| a.split_once('/')) {
            Some((b, s)) if !b.is_empty() && !s.is_empty() => (b, s),
            _ => return Err("Require 'backend/server'.\n".into()),
        };
        let (_, initial) = ctl.weight(b, s).map_err(|e| answer(Err(e), ""))?;
        Ok((b, s, initial))
    }

    /// `enable server` / `disable server`.
    pub(super) fn set_admin(&self, rest: &[&str], state: AdminState) -> String {
        let (b, s, _) = match self.find_server(rest.first()) {
            Ok(v) => v,
            Err(e) => return e,
        };
        match self.control() {
            Ok(ctl) => answer(ctl.set_admin(b, s, state), ""),
            Err(e) => e,
        }
    }

    /// `enable health` / `disable health`.
    pub(super) fn set_checks(&self, rest: &[&str], on: bool) -> String {
        let (b, s, _) = match self.find_server(rest.first()) {
            Ok(v) => v,
            Err(e) => return e,
        };
        let not_checked = if on {
            "Health checks are not configured on this server, cannot enable.\n"
        } else {
            "Health checks are not configured on this server, cannot disable.\n"
        };
        match self.control() {
            Ok(ctl) => answer(ctl.set_checks(b, s, on), not_checked),
            Err(e) => e,
        }
    }

    /// `set weight <b>/<s> <w>[%]`.
    pub(super) fn set_weight(&self, rest: &[&str]) -> String {
        let (b, s, initial) = match self.find_server(rest.first()) {
            Ok(v) => v,
            Err(e) => return e,
        };
        self.apply_weight(b, s, initial, rest.get(1).copied().unwrap_or(""))
    }

    pub(super) fn apply_weight(&self, b: &str, s: &str, initial: u32, spec: &str) -> String {
        let w = match parse_weight(spec, initial) {
            Ok(w) => w,
            Err(e) => return format!("{e}\n"),
        };
        match self.control() {
            Ok(ctl) => answer(ctl.set_weight(b, s, w), ""),
            Err(e) => e,
        }
    }

    /// `set server <b>/<s> state ready|drain|maint`, `... weight
    /// <w>[%]`, `... health up|down`.
    pub(super) fn set_server(&self, rest: &[&str]) -> String {
        let (b, s, initial) = match self.find_server(rest.first()) {
            Ok(v) => v,
            Err(e) => return e,
        };
        let ctl = match self.control() {
            Ok(c) => c,
            Err(e) => return e,
        };
        let value = rest.get(2).copied().unwrap_or("");
        match rest.get(1).copied() {
            Some("state") => {
                let state = match value {
                    "ready" => AdminState::Ready,
                    "drain" => AdminState::Drain,
                    "maint" => AdminState::Maint,
                    _ => {
                        return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n"
                            .into();
                    }
                };
                answer(ctl.set_admin(b, s, state), "")
            }
            Some("weight") => self.apply_weight(b, s, initial, value),
            Some("health") => {
                let up = match value {
                    "up" => true,
                    "down" => false,
                    // HAProxy's `stopping` (up, but no new traffic) has no
                    // equivalent in gwd's health: drain is the admin side.
                    "stopping" => {
                        return "'set server <srv> health stopping' is not supported: use 'set server <srv> state drain'.\n".into();
                    }
                    _ => {
                        return "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n"
                            .into();
                    }
                };
                answer(
                    ctl.set_health(b, s, up),
                    "Health checks are not configured on this server, cannot set the health state.\n",
                )
            }
            _ => "usage: set server <backend>/<server> health | state | weight\n".into(),
        }
    }

    /// `get weight <b>/<s>`: `<current> (initial <initial>)`.
    pub(super) fn get_weight(&self, rest: &[&str]) -> String {
        let ctl = match self.control() {
            Ok(c) => c,
            Err(e) => return e,
        };
        let (b, s) = match rest.first().and_then(|a| a.split_once('/')) {
            Some((b, s)) if !b.is_empty() && !s.is_empty() => (b, s),
            _ => return "Require 'backend/server'.\n".into(),
        };
        match ctl.weight(b, s) {
            Ok((cur, initial)) => format!("{cur} (initial {initial})\n"),
            Err(e) => answer(Err(e), ""),
        }
    }

    /// `show servers state [<backend>]`.
    pub(super) fn show_servers_state(&self, rest: &[&str]) -> String {
        let ctl = match self.control() {
            Ok(c) => c,
            Err(e) => return e,
        };
        let backend = rest.first().copied();
        if let Some(b) = backend
            && !ctl.has_backend(b)
        {
            return "Can't find backend.\n".into();
        }
        render_servers_state(&ctl.servers(std::time::Instant::now()), backend)
    }

    /// `show servers conn [<backend>]`.
    pub(super) fn show_servers_conn(&self, rest: &[&str]) -> String {
        let Some(hub) = &self.cli.stats else {
            return "No connection pool information available.\n".into();
        };
        let Some(rows) = hub.pools() else {
            return "No connection pool information available.\n".into();
        };
        let backend = rest.first().copied();
        if let Some(b) = backend {
            let known = hub.snapshot().backends.iter().any(|x| x.name == b);
            if !known {
                return "Can't find backend.\n".into();
            }
        }
        render_servers_conn(&rows, backend)
    }

    /// `show tunnels [<name>]`.
    pub(super) fn show_tunnels(&self, rest: &[&str]) -> String {
        match self.cli.stats.as_ref().and_then(StatsHub::tunnels) {
            Some(rows) => render_tunnels(&rows, rest.first().copied()),
            None => "No tunnel information available.\n".into(),
        }
    }
}

/// The answer of a server operation: nothing on success, HAProxy's wording
/// otherwise (`not_checked` for a server without health checks).
fn answer(r: Result<(), ServerError>, not_checked: &str) -> String {
    match r {
        Ok(()) => String::new(),
        Err(ServerError::NotChecked) if !not_checked.is_empty() => not_checked.into(),
        Err(e) => format!("{e}\n"),
    }
}
