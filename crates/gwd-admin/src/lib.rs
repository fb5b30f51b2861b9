//! `gwd-admin`: gwd's runtime API, HAProxy's stats-socket text protocol for
//! maps and ACLs, so that `socat` scripts written for HAProxy keep working.
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
//! * A [`StatsSource`] (optional, [`Cli::with_stats`]) feeds `show stat`
//!   (HAProxy's CSV, [`STAT_FIELDS`] in HAProxy's column order) and `show
//!   info` from [`gwd_stats::Registry`] snapshots; rendering is pure
//!   ([`render_stat_csv`], [`render_info`]). Counters are read, never
//!   changed: a snapshot per command.
//! * An [`AdminListener`] is a bound `stats-socket` (Unix or TCP); it spawns
//!   one task per client.
//!
//! # Protocol (see `docs/RUNTIME-API.md`)
//!
//! A request line holds commands separated by `;`; words are separated by
//! blanks and `\` makes the next character literal. Each command's output
//! is followed by an empty line. Outside prompt mode the connection closes
//! after one request line (and its payload). Replies and errors use
//! HAProxy's texts; a wrong command gets a one-line answer (or the help),
//! never a dropped connection. Levels: `user` reads (`show` including
//! `show stat` and `show info`, `get`,
//! `help`), `operator` (the default) also changes maps and ACLs, `admin`
//! may do everything.
//!
//! # Ownership and dependencies
//!
//! Owns the runtime API (text protocol and sockets). Depends on gwd-config
//! (the registry, socket settings), gwd-maps (the references), gwd-stats
//! (counter snapshots), tokio and
//! tracing. Nothing here runs on the request path.

mod cli;
mod server;
mod stats;

pub use cli::{Cli, Session, split_commands};
pub use server::{AdminListener, BindError, IDLE_TIMEOUT, MAX_LINE, serve_client};
pub use stats::{
    ProcessInfo, RowType, STAT_FIELDS, StatFilter, StatsIds, StatsSource, format_uptime,
    render_info, render_stat_csv, stat_header,
};
