//! `gwd-admin`: gwd's runtime API, HAProxy's stats-socket text protocol for
//! maps, ACLs, servers and statistics, so that `socat` scripts written for
//! HAProxy keep working. The statistics it serves are rendered by
//! gwd-stats-render; this crate gathers their inputs and speaks the
//! protocol.
//!
//! # Model
//!
//! * A [`Cli`] serves one configuration's [`gwd_config::MapRegistry`]: the
//!   references its rules read. A change made here (`set map`, `commit
//!   map`, ...) is one atomic publication in gwd-maps, so the next lookup on
//!   every worker thread sees it; readers never wait for the socket.
//! * A [`Session`] is one client: its [`gwd_config::AdminLevel`], interactive
//!   (`prompt`) mode and a `<<` payload being collected. It turns request
//!   lines into reply bytes and holds no I/O, so the protocol is tested
//!   without sockets.
//! * Statistics are read, never changed. Optional sources registered on
//!   the [`Cli`] are called once per command: a [`StatsSource`]
//!   ([`Cli::with_stats`]: [`gwd_stats::Registry`] snapshots (ids included), configuration facts, process
//!   facts, optionally rates), connection pool rows ([`Cli::with_pools`]),
//!   tunnel rows ([`Cli::with_tunnels`]) and tunnel totals
//!   ([`Cli::with_tunnel_totals`]). What a source does not supply is left
//!   empty, never invented.
//! * Servers are the proxy's: a [`ServerControl`] ([`Cli::with_servers`])
//!   changes them by name (`disable server`, `set server ... state|weight|
//!   health`, `set weight`, `enable health`, ...) and reports them as plain
//!   [`ServerRow`]s, which `show servers state` and every statistics
//!   output render (states, weights, checks).
//! * Rendering is pure (inputs in, text out; time passed in). `show stat`
//!   ([`stat_rows`], [`render_stat`]), `show info` ([`render_info`]),
//!   Prometheus ([`render_prometheus`]) and the stats page
//!   ([`render_stats_page`]) are gwd-stats-render's, re-exported here;
//!   `show servers conn` ([`render_servers_conn`]), `show servers state`
//!   and `show tunnels` ([`render_tunnels`]) are this crate's. All
//!   statistics outputs read the same rows or snapshot, so they agree.
//! * An [`AdminListener`] is a bound `stats-socket` (Unix or TCP); it spawns
//!   one task per client.
//!
//! # Protocol (see `docs/RUNTIME-API.md`; outputs in `docs/STATS.md`)
//!
//! A request line holds commands separated by `;`; words are separated by
//! blanks and `\` makes the next character literal. Each command's output
//! is followed by an empty line. Outside prompt mode the connection closes
//! after one request line (and its payload). Replies and errors use
//! HAProxy's texts; a wrong command gets a one-line answer (or the help),
//! never a dropped connection. Levels: `user` reads (`show` including
//! `show stat`, `show info`, `show servers conn|state`, `show tunnels`,
//! `get`, `help`), `operator` (the default) also changes maps, ACLs and
//! servers (HAProxy asks for admin for servers), `admin` may do
//! everything.
//!
//! # Ownership and dependencies
//!
//! Owns the runtime API (text protocol and sockets). Depends on gwd-config
//! (the registry, socket settings), gwd-maps (the references), gwd-stats
//! (counter snapshots), gwd-stats-render (the statistics outputs and their
//! row types), tokio and tracing. Pools, tunnels and servers come in as plain rows (servers
//! through a trait), so it depends on none of gwd-pool, gwd-rhttp,
//! gwd-http, gwd-balance and gwd-check. Nothing here runs on the request path.

mod cli;
pub mod handover;
mod runtime;
mod server;
mod servers;
mod stats_source;

pub use cli::{Cli, LiveCli, Reloaded, Session, split_commands};
pub use runtime::{SERVERS_CONN_HEADER, TUNNELS_HEADER, render_servers_conn, render_tunnels};
pub use server::{AdminListener, BindError, IDLE_TIMEOUT, MAX_LINE, serve_client};
pub use servers::{
    SERVERS_STATE_HEADER, ServerControl, ServerError, parse_weight, render_servers_state,
};
pub use stats_source::StatsSource;

// The renderers and rows the runtime API serves, re-exported so that a
// caller wiring a `Cli` needs one crate.
pub use gwd_stats_render::{
    AdminState, CHECK_STATUS_CODES, CheckRow, Field, FieldMeta, FieldType, Histogram,
    HistogramError, MapSize, Nature, Origin, PROMETHEUS_CONTENT_TYPE, PageOptions, PoolRow,
    ProcessFacts, ProcessInfo, ProcessResources, ProcessTotals, PromExtra, RatesSnapshot, RowRates,
    RowType, STAT_FIELDS, Scope, ServerRow, ServerState, StatExtra, StatFilter, StatFormat,
    StatRow, StatValue, StatsIds, TunnelNameStats, TunnelRow, TunnelTotals, check_status_number,
    escape_html, escape_label_value, format_uptime, render_info, render_info_with,
    render_prometheus, render_rows, render_stat, render_stat_csv, render_stats_page, stat_header,
    stat_rows, status_class,
};
