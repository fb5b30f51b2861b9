//! Server operations of the runtime API, on the running proxy: admin
//! states (`enable`/`disable server`, `set server ... state`), weights,
//! forced health and turning checks on or off, and the per-server views
//! that `show stat`, `show servers state`, the stats page and Prometheus
//! render. Each change takes effect on the next request (the balancer's
//! snapshot is swapped) and logs HAProxy's line.

use std::time::Instant;

use gwd_balance::{Admin, ServerId, ServerState, WeightError};
use gwd_check::AdminEvent;

use super::health::{requeue, settle, warn_if_no_server};
use super::status::StatusView;
use gwd_config::ServerAt;

use crate::state::Proxy;

/// Why a server operation was refused; `Display` is the runtime API's
/// answer (HAProxy's wording).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerOpError {
    #[error("No such backend.")]
    NoBackend,
    #[error("No such server.")]
    NoServer,
    #[error("Health checks are not configured on this server, cannot set the health state.")]
    NotChecked,
    #[error("{0}")]
    Weight(WeightError),
}

/// Everything renderers show about one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerView {
    pub backend_id: u32,
    pub backend: String,
    pub id: u32,
    pub name: String,
    /// `host` of an ordinary server; `None` for `rhttp@`.
    pub host: Option<String>,
    pub port: Option<u16>,
    /// What the balancer holds: admin state, health, weights, backup,
    /// `maxconn`, requests in flight.
    pub state: ServerState,
    pub status: StatusView,
    /// `rhttp@` servers: tunnels registered now (all names).
    pub tunnels: Option<usize>,
    /// HAProxy's `status` column.
    pub status_text: String,
    /// HAProxy's `check_status` column.
    pub check_status_text: String,
    /// `check = true`: the check port and address.
    pub check_port: Option<u16>,
    pub check_addr: Option<String>,
}

impl Proxy {
    /// The server `backend/server`.
    pub fn find_server(&self, backend: &str, server: &str) -> Result<ServerAt, ServerOpError> {
        let b = self.backend_id(backend).ok_or(ServerOpError::NoBackend)?;
        let s = self
            .backend(b)
            .servers
            .iter()
            .position(|s| s.conf.name == server)
            .ok_or(ServerOpError::NoServer)?;
        Ok(b.server(s))
    }

    /// `enable server`, `disable server`, `set server <b>/<s> state
    /// ready|drain|maint`.
    pub fn set_server_admin(&self, at: ServerAt, admin: Admin) {
        let (b, s) = (at.backend.index(), at.server.index());
        let be = &self.backends[b];
        let server = &be.servers[s];
        let id = ServerId::new(s as u32);
        let before = be.lb.balancer.set_admin(id, admin);
        if before == admin {
            return;
        }
        if admin == Admin::Maint {
            // Checks pause; one in flight is ignored when it ends.
            server.status.enter_maint();
        }
        if before == Admin::Maint {
            // Checks were paused: they start again from the start state.
            server.status.leave_maint();
            server
                .status
                .apply_level(|level| be.lb.balancer.set_up(id, level));
        }
        let up = be.lb.balancer.server(id).up;
        let now = Instant::now();
        let event = match (before, admin) {
            (_, Admin::Maint) => Some(AdminEvent::EnterMaint),
            (_, Admin::Drain) => Some(AdminEvent::EnterDrain),
            (Admin::Maint, Admin::Ready) => Some(AdminEvent::LeaveMaint { up }),
            (Admin::Drain, Admin::Ready) => Some(AdminEvent::LeaveDrain { up }),
            _ => None,
        };
        // Maintenance is a state change of its own for `lastchg`.
        if matches!(admin, Admin::Maint) || matches!(before, Admin::Maint) {
            server.status.changed(admin != Admin::Maint && up, now);
        }
        match event {
            Some(event) => {
                let comes_back = matches!(
                    event,
                    AdminEvent::LeaveMaint { up: true } | AdminEvent::LeaveDrain { up: true }
                );
                let left = requeue(self, b, s, comes_back);
                let line = gwd_check::admin_line(&be.conf.name, &server.conf.name, event, &left);
                tracing::warn!(target: "gwd::health", "{line}");
                warn_if_no_server(self, b);
            }
            None => settle(self, b),
        }
    }

    /// `set server <b>/<s> weight`, `set weight`: the new weight (the
    /// runtime API works out percentages of the initial weight).
    pub fn set_server_weight(&self, at: ServerAt, weight: u32) -> Result<(), ServerOpError> {
        let (b, s) = (at.backend.index(), at.server.index());
        self.backends[b]
            .lb
            .balancer
            .set_weight(ServerId::new(s as u32), weight)
            .map_err(ServerOpError::Weight)?;
        settle(self, b);
        Ok(())
    }

    /// `get weight`: the current and the initial weight.
    pub fn server_weight(&self, at: ServerAt) -> (u32, u32) {
        let (b, s) = (at.backend.index(), at.server.index());
        let st = self.backends[b].lb.balancer.server(ServerId::new(s as u32));
        (st.weight, st.initial_weight)
    }

    /// `set server <b>/<s> health up|down`: forces the check state until
    /// the next checks say otherwise.
    pub fn set_server_health(&self, at: ServerAt, up: bool) -> Result<(), ServerOpError> {
        let (b, s) = (at.backend.index(), at.server.index());
        let be = &self.backends[b];
        let server = &be.servers[s];
        if server.check_target.is_none() {
            return Err(ServerOpError::NotChecked);
        }
        // HAProxy changes nothing of a server in maintenance, nor (gwd)
        // of one whose checks are off: it counts as UP whatever its
        // health says, and a line saying otherwise would be false.
        let id = ServerId::new(s as u32);
        if be.lb.balancer.server(id).admin == Admin::Maint || !server.status.checks_enabled() {
            return Ok(());
        }
        if server.status.force_health(up, Instant::now()).is_some() {
            server
                .status
                .apply_level(|level| be.lb.balancer.set_up(ServerId::new(s as u32), level));
            self.log_cli_change(b, s, up);
        }
        Ok(())
    }

    /// A runtime command moved server `s` of backend `b` up or down: the
    /// queue is offered the change, then HAProxy's "changed from CLI"
    /// line, then "no server available" when it applies.
    fn log_cli_change(&self, b: usize, s: usize, up: bool) {
        let be = &self.backends[b];
        let left = requeue(self, b, s, up);
        let event = if up {
            AdminEvent::CliUp
        } else {
            AdminEvent::CliDown
        };
        let line = gwd_check::admin_line(&be.conf.name, &be.servers[s].conf.name, event, &left);
        tracing::warn!(target: "gwd::health", "{line}");
        warn_if_no_server(self, b);
    }

    /// `enable health` / `disable health`: checks stop (the server counts
    /// as UP meanwhile, as HAProxy's unchecked state) or resume.
    pub fn set_server_checks(&self, at: ServerAt, on: bool) -> Result<(), ServerOpError> {
        let (b, s) = (at.backend.index(), at.server.index());
        let be = &self.backends[b];
        let server = &be.servers[s];
        let up = server
            .status
            .set_checks_enabled(on)
            .ok_or(ServerOpError::NotChecked)?;
        let id = ServerId::new(s as u32);
        if server
            .status
            .apply_level(|level| be.lb.balancer.set_up(id, level))
        {
            server.status.checks_switched(up, Instant::now());
            // Checks back on found the server down (or off, up again):
            // said, as every change of a server's state is.
            self.log_cli_change(b, s, up);
        }
        Ok(())
    }

    /// One server's view.
    pub fn server_view(&self, at: ServerAt, now: Instant) -> ServerView {
        let (b, s) = (at.backend.index(), at.server.index());
        let be = &self.backends[b];
        let server = &be.servers[s];
        let st = be.lb.balancer.server(ServerId::new(s as u32));
        let status = server.status.view(now);
        let tunnels = server
            .named
            .as_ref()
            .map(|t| usize::try_from(t.connections()).unwrap_or(usize::MAX));
        let mut status_text = status.status_text(st.admin, st.up);
        if tunnels == Some(0) && st.admin != Admin::Maint {
            // An rhttp@ server without any tunnel cannot serve anyone.
            status_text = "no tunnel".into();
        }
        ServerView {
            backend_id: be.conf.id,
            backend: be.conf.name.clone(),
            id: server.conf.id,
            name: server.conf.name.clone(),
            host: server.conf.net_addr().map(|a| a.host.clone()),
            port: server.conf.net_addr().map(|a| a.port),
            state: st,
            check_status_text: status.check_status_text(),
            status,
            tunnels,
            status_text,
            check_port: server.conf.check.as_ref().map(|c| {
                c.port
                    .or(server.conf.net_addr().map(|a| a.port))
                    .unwrap_or(0)
            }),
            check_addr: server.conf.check.as_ref().and_then(|c| c.addr.clone()),
        }
    }

    /// Every server's view, backends and servers in config order.
    pub fn server_views(&self, now: Instant) -> Vec<ServerView> {
        (0..self.backends.len())
            .flat_map(|b| (0..self.backends[b].servers.len()).map(move |s| ServerAt::new(b, s)))
            .map(|at| self.server_view(at, now))
            .collect()
    }
}
