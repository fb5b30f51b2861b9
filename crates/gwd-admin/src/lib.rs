//! `gwd-admin`: gwd's runtime API, HAProxy's stats-socket text protocol for
//! maps, ACLs, servers and statistics, so that `socat` scripts written for
//! HAProxy keep working. The statistics it serves are rendered by
//! gwd-stats-render; this crate gathers their inputs and speaks the
//! protocol.
//!
//! ```
//! use std::time::Instant;
//! use gwd_admin::{Cli, ProcessInfo, StatsHub};
//! use gwd_config::{AdminLevel, MapRegistry, MapUse};
//! use gwd_maps::{MatchKind, MatchSpec};
//! use gwd_stats::Registry;
//!
//! // The maps the rules read (gwd-config loads them from the files a
//! // configuration names), and the counters of the proxy.
//! let mut maps = MapRegistry::new();
//! maps.resolve_with("hosts.map", MapUse::Converter, MatchSpec::new(MatchKind::Str),
//!     "map at file 'gw.toml' line 1", |m| {
//!         m.load_map_str("hosts.map", b"a.local app\n").map(|_| ()).map_err(|e| e.to_string())
//!     })
//!     .unwrap();
//! let mut counters = Registry::new();
//! counters.add_frontend("www").request_at(Instant::now());
//! let hub = StatsHub::new(move || counters.snapshot(),
//!     ProcessInfo::current("gwd", "1.0", 1, Instant::now()));
//! let cli = Cli::new(maps).with_stats(hub);
//!
//! // What `socat stdio /run/gwd.sock` sends, and what comes back.
//! let mut session = cli.session(AdminLevel::Operator);
//! assert_eq!(session.feed_line("set map hosts.map a.local api"), "\n");
//! let mut session = cli.session(AdminLevel::User);
//! let out = session.feed_line("show map hosts.map; show stat");
//! assert!(out.contains(" a.local api\n"), "{out}");
//! assert!(out.contains("\nwww,FRONTEND,"), "{out}");
//! ```
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
//! * Statistics are read, never changed. A [`StatsHub`] holds their
//!   sources, each called once per output: [`gwd_stats::Registry`]
//!   snapshots (whose rows carry ids, algorithms and `rhttp@` servers),
//!   process facts and resources, rates, connection pool rows, tunnel
//!   rows and totals, server rows and map sizes. The [`Cli`]
//!   ([`Cli::with_stats`]) and the proxy's HTTP statistics endpoints (the
//!   page, `;csv`, Prometheus) hold the same hub, so they agree. What a
//!   source does not supply is left empty, never invented.
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
mod stats_hub;

pub use cli::{Cli, LiveCli, Reloaded, Session, split_commands};
pub use runtime::{SERVERS_CONN_HEADER, TUNNELS_HEADER, render_servers_conn, render_tunnels};
pub use server::{AdminListener, BindError, IDLE_TIMEOUT, MAX_LINE, serve_client};
pub use servers::{
    SERVERS_STATE_HEADER, ServerControl, ServerError, parse_weight, render_servers_state,
};
pub use stats_hub::StatsHub;

// The renderers and rows the runtime API serves, re-exported so that a
// caller wiring a `Cli` needs one crate.
pub use gwd_stats_render::{
    AdminState, CHECK_STATUS_CODES, CheckRow, Field, FieldMeta, FieldType, Histogram,
    HistogramError, MapSize, Nature, Origin, PROMETHEUS_CONTENT_TYPE, PageOptions, PoolRow,
    ProcessFacts, ProcessInfo, ProcessResources, ProcessTotals, PromExtra, RatesSnapshot, RowRates,
    RowType, STAT_FIELDS, Scope, ServerRow, ServerState, StatExtra, StatFilter, StatFormat,
    StatRow, StatValue, TunnelNameStats, TunnelRow, TunnelTotals, check_status_number, escape_html,
    escape_label_value, format_uptime, render_info, render_info_with, render_prometheus,
    render_rows, render_stat, render_stat_csv, render_stats_page, stat_header, stat_rows,
    status_class,
};
