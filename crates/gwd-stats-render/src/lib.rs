//! `gwd-stats-render`: every statistics output of gwd, rendered from
//! counter snapshots and plain rows: `show stat` (CSV, typed, JSON), `show
//! info`, Prometheus text and the HTML stats page.
//!
//! # Model
//!
//! * Inputs are values, never live objects: a [`gwd_stats::RegistrySnapshot`]
//!   (the counters, in registry order, ids included), optional rates
//!   ([`RatesSnapshot`]) and the rows the proxy's sources copy out for one
//!   rendering ([`PoolRow`], [`TunnelRow`], [`ServerRow`]), gathered in a
//!   [`StatExtra`]. What is missing leaves its columns empty, never
//!   invented.
//! * `show stat` is a list of [`StatRow`]s ([`stat_rows`]): one per
//!   frontend, server and backend in HAProxy's order, each holding a value
//!   or nothing for every [`Field`]. A row is filled field by field
//!   (`row.set(Field::Scur, 3)`), so a misspelt column does not compile.
//!   The one table of field metadata ([`Field::meta`]) gives each column
//!   its CSV name, position and the tags and type of typed and JSON output.
//! * Every output reads the same rows or the same snapshot, so CSV, typed,
//!   JSON, the page and Prometheus agree.
//! * Rendering is pure: no clock is read (time comes in as an argument), no
//!   counter is changed, nothing is locked, so the exact bytes are unit
//!   tested. Options such as `stats hide-version` are renderer options
//!   ([`PageOptions::hide_version`]), not edits of rendered text.
//!
//! # Example
//!
//! ```
//! use gwd_stats::Registry;
//! use gwd_stats_render::{StatExtra, StatFilter, StatFormat, render_stat};
//!
//! let mut registry = Registry::new();
//! registry.add_frontend("www").request_at(std::time::Instant::now());
//! let csv = render_stat(
//!     &registry.snapshot(),
//!     &StatFilter::default(),
//!     &StatExtra::default(),
//!     StatFormat::Csv,
//! );
//! let mut lines = csv.lines();
//! assert!(lines.next().unwrap().starts_with("# pxname,svname,qcur,"));
//! assert!(lines.next().unwrap().starts_with("www,FRONTEND,"));
//! ```
//!
//! # Ownership and dependencies
//!
//! Owns the formats of the statistics outputs. Depends on gwd-stats (the
//! snapshots) and thiserror only: no I/O, no tokio, no configuration.
//! gwd-admin serves these outputs over the runtime socket and gwd-app over
//! HTTP; both only gather the inputs.
#![warn(missing_docs, unreachable_pub)]

mod page;
mod prom;
mod rows;
mod stats;

pub use page::{PageOptions, escape_html, render_stats_page, status_class};
pub use prom::{
    Histogram, HistogramError, MapSize, PROMETHEUS_CONTENT_TYPE, ProcessResources, PromExtra,
    TunnelTotals, escape_label_value, render_prometheus,
};
pub use rows::{
    AdminState, CHECK_STATUS_CODES, CheckRow, PoolRow, ServerRow, TunnelNameStats, TunnelRow,
    check_status_number,
};
pub use stats::{
    Field, FieldMeta, FieldType, Nature, Origin, ProcessFacts, ProcessInfo, ProcessTotals,
    RatesSnapshot, RowRates, RowType, STAT_FIELDS, Scope, ServerState, StatExtra, StatFilter,
    StatFormat, StatRow, StatValue, format_uptime, render_info, render_info_with, render_rows,
    render_stat, render_stat_csv, stat_header, stat_rows,
};
