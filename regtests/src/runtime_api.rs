//! Talking to gwd's runtime API (`stats-socket`) the way `socat` does: one
//! command line per connection, reply read until gwd closes it.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use crate::Gwd;

fn exchange(mut s: impl Read + Write, line: &str) -> String {
    s.write_all(line.as_bytes()).unwrap();
    s.write_all(b"\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read reply");
    out
}

/// Sends one command line over TCP and returns the whole reply.
pub fn cli_tcp(addr: &str, line: &str) -> String {
    let s = std::net::TcpStream::connect(addr).expect("connect stats socket");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    exchange(s, line)
}

/// Sends one command line over a Unix socket and returns the whole reply.
pub fn cli_unix(path: &Path, line: &str) -> String {
    let s = std::os::unix::net::UnixStream::connect(path).expect("connect unix socket");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    exchange(s, line)
}

/// The `addr=` of gwd's `gwd: listening stats-socket ... level=<level>` line.
pub fn stats_addr(gwd: &Gwd, level: &str) -> String {
    gwd.stderr
        .all()
        .iter()
        .filter_map(|l| l.strip_prefix("gwd: listening stats-socket "))
        .find(|l| l.ends_with(&format!("level={level}")))
        .and_then(|l| l.split_whitespace().find_map(|kv| kv.strip_prefix("addr=")))
        .unwrap_or_else(|| panic!("no {level} stats-socket line: {:?}", gwd.stderr.all()))
        .to_string()
}

/// One column of `show stat` (asked on the `user` stats-socket) for the
/// first row starting with `row` (`"www,FRONTEND,"`, `"app,s1,"`).
pub fn stat_value(gwd: &Gwd, row: &str, col: &str) -> String {
    stat_value_at(gwd, "user", row, col)
}

/// [`stat_value`], asked on the stats-socket of `level`.
pub fn stat_value_at(gwd: &Gwd, level: &str, row: &str, col: &str) -> String {
    let out = cli_tcp(&stats_addr(gwd, level), "show stat");
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let i = header
        .iter()
        .position(|h| *h == col)
        .unwrap_or_else(|| panic!("no column {col}: {out}"));
    out.lines()
        .find(|l| l.starts_with(row))
        .unwrap_or_else(|| panic!("no {row} row: {out}"))
        .split(',')
        .nth(i)
        .unwrap_or_default()
        .to_string()
}
