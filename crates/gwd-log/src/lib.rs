//! Log targets as HAProxy's `log` lines describe them, the syslog framings
//! HAProxy writes, and a writer that never blocks the request path.
//!
//! * [`parse_log_line`] reads the words after `log` in a haproxy.cfg line
//!   (`global`, `127.0.0.1:514 local0`, `/dev/log format rfc5424 local1
//!   info`, `stdout format raw daemon`).
//! * [`frame`] wraps one message in the header of a [`Format`], with the
//!   time passed in (pure, tested with a fixed clock). Checked against
//!   HAProxy 2.6 on loopback:
//!   `<134>Dec  6 11:32:25 haproxy[25306]: <msg>\n` (rfc3164, no host
//!   name), `<142>1 2026-12-06T11:32:25.674714+00:00 - haproxy 25306 - -
//!   <msg>\n` (rfc5424), `<6><msg>\n` (short), `<msg>\n` (raw).
//! * [`Logger`] hands framed lines to one writer thread through a bounded
//!   queue: [`Logger::send`] never waits; a line that finds the queue full
//!   is dropped and counted ([`Logger::dropped`]), and the writer warns
//!   (through `tracing`) once per interval in which lines were dropped.
//!
//! Times are written in UTC.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use gwd_log::{Level, LogLine, Origin, frame, parse_log_line};
//!
//! // `log 127.0.0.1:514 local0` from a haproxy.cfg.
//! let LogLine::Target(target) = parse_log_line("127.0.0.1:514 local0").unwrap() else {
//!     unreachable!("not `log global`")
//! };
//! assert_eq!(target.facility, 16);
//! // 2026-12-06 11:32:25 UTC; local0.info is priority 16 * 8 + 6 = 134.
//! let now = UNIX_EPOCH + Duration::from_secs(1_796_556_745);
//! let origin = Origin { tag: "haproxy".into(), pid: 25306 };
//! let line = frame(&target, Level::Info, now, &origin, "GET / 200");
//! assert_eq!(line, b"<134>Dec  6 11:32:25 haproxy[25306]: GET / 200\n");
//! ```

mod target;

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use target::{
    DEFAULT_LEN, Format, Level, LineError, LogLine, LogTarget, Target, parse_log_line,
};

/// Lines waiting for the writer, all targets together.
pub const QUEUE_LEN: usize = 8192;

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Who writes: the syslog tag (program name) and pid.
#[derive(Debug, Clone)]
pub struct Origin {
    pub tag: String,
    pub pid: u32,
}

impl Default for Origin {
    fn default() -> Self {
        Origin {
            tag: "gwd".into(),
            pid: std::process::id(),
        }
    }
}

/// `msg` framed for `t` at `level`, at time `now`, ending in a newline,
/// cut to `t.len` bytes (newline included).
pub fn frame(t: &LogTarget, level: Level, now: SystemTime, origin: &Origin, msg: &str) -> Vec<u8> {
    use std::fmt::Write as _;
    let level = match t.min_level {
        Some(min) if level < min => min,
        _ => level,
    };
    let pri = u32::from(t.facility) * 8 + level as u32;
    let mut h = String::with_capacity(64);
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (y, m, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let (hh, mm, ss) = (sod / 3600, (sod / 60) % 60, sod % 60);
    match t.format {
        Format::Rfc3164 => {
            let _ = write!(
                h,
                "<{pri}>{} {day:>2} {hh:02}:{mm:02}:{ss:02} {}[{}]: ",
                MONTHS[(m - 1) as usize],
                origin.tag,
                origin.pid
            );
        }
        Format::Rfc5424 => {
            let _ = write!(
                h,
                "<{pri}>1 {y:04}-{m:02}-{day:02}T{hh:02}:{mm:02}:{ss:02}.{:06}+00:00 - {} {} - - ",
                d.subsec_micros(),
                origin.tag,
                origin.pid
            );
        }
        Format::Short => {
            let _ = write!(h, "<{}>", level as u32);
        }
        Format::Raw => {}
    }
    let mut out = Vec::with_capacity(h.len() + msg.len() + 1);
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(msg.as_bytes());
    out.truncate(t.len.saturating_sub(1).max(1));
    out.push(b'\n');
    out
}

struct Item {
    target: Arc<LogTarget>,
    bytes: Vec<u8>,
}

/// The sending side: cheap to clone, shared by every frontend of a
/// configuration. The writer thread ends when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Logger {
    tx: SyncSender<Item>,
    dropped: Arc<AtomicU64>,
    origin: Arc<Origin>,
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Item")
            .field("target", &self.target)
            .finish()
    }
}

/// Lines dropped because the queue was full, all loggers of the process
/// together (for `show info`).
static DROPPED_TOTAL: AtomicU64 = AtomicU64::new(0);

/// Lines dropped since the process started, all configurations together.
pub fn dropped_total() -> u64 {
    DROPPED_TOTAL.load(Ordering::Relaxed)
}

impl Logger {
    /// Starts the writer thread, with a queue of `capacity` lines.
    pub fn start(capacity: usize, origin: Origin) -> std::io::Result<Logger> {
        let (tx, rx) = sync_channel(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let d = dropped.clone();
        std::thread::Builder::new()
            .name("gwd-log".into())
            .spawn(move || writer(rx, d))?;
        Ok(Logger {
            tx,
            dropped,
            origin: Arc::new(origin),
        })
    }

    /// Frames `msg` for each target that takes `level` and queues it;
    /// never waits.
    pub fn send(&self, targets: &[Arc<LogTarget>], level: Level, msg: &str) {
        let now = SystemTime::now();
        for t in targets {
            if level > t.max_level {
                continue;
            }
            let bytes = frame(t, level, now, &self.origin, msg);
            match self.tx.try_send(Item {
                target: t.clone(),
                bytes,
            }) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    DROPPED_TOTAL.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Lines this logger dropped because its queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// How often the writer reports drops.
const DROP_REPORT: Duration = Duration::from_secs(10);

fn writer(rx: Receiver<Item>, dropped: Arc<AtomicU64>) {
    let mut udp4: Option<std::net::UdpSocket> = None;
    let mut udp6: Option<std::net::UdpSocket> = None;
    let mut unix: Option<std::os::unix::net::UnixDatagram> = None;
    let mut reported = 0u64;
    let mut last_report = std::time::Instant::now();
    loop {
        let item = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(item) => Some(item),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if let Some(item) = item {
            let _ = match &item.target.target {
                Target::Stdout => std::io::stdout().lock().write_all(&item.bytes),
                Target::Stderr => std::io::stderr().lock().write_all(&item.bytes),
                Target::Udp(a) => {
                    let slot = if a.is_ipv4() { &mut udp4 } else { &mut udp6 };
                    if slot.is_none() {
                        let any = if a.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                        *slot = std::net::UdpSocket::bind(any).ok();
                    }
                    match slot {
                        Some(s) => s.send_to(&item.bytes, a).map(|_| ()),
                        None => Ok(()),
                    }
                }
                Target::Unix(p) => {
                    if unix.is_none() {
                        unix = std::os::unix::net::UnixDatagram::unbound().ok();
                    }
                    match &unix {
                        Some(s) => s.send_to(&item.bytes, p).map(|_| ()),
                        None => Ok(()),
                    }
                }
            };
        }
        let now_dropped = dropped.load(Ordering::Relaxed);
        if now_dropped != reported && last_report.elapsed() >= DROP_REPORT {
            tracing::warn!(
                dropped = now_dropped - reported,
                total = now_dropped,
                "log queue full: lines dropped"
            );
            reported = now_dropped;
            last_report = std::time::Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(format: Format, facility: u8) -> LogTarget {
        LogTarget {
            target: Target::Stdout,
            format,
            facility,
            max_level: Level::Debug,
            min_level: None,
            len: DEFAULT_LEN,
        }
    }

    fn origin() -> Origin {
        Origin {
            tag: "haproxy".into(),
            pid: 25306,
        }
    }

    /// 2026-12-06T11:32:25.674714Z
    fn clock() -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(1_796_556_745_674_714)
    }

    fn s(v: Vec<u8>) -> String {
        String::from_utf8(v).unwrap()
    }

    /// Each framing byte for byte as HAProxy 2.6 sent it on loopback
    /// (`log 127.0.0.1:5514 local0`, `... format rfc5424 local1 info`,
    /// `format short`, `format raw`).
    #[test]
    fn framings_match_haproxy() {
        let o = origin();
        assert_eq!(
            s(frame(
                &target(Format::Rfc3164, 16),
                Level::Info,
                clock(),
                &o,
                "m"
            )),
            "<134>Dec  6 11:32:25 haproxy[25306]: m\n"
        );
        assert_eq!(
            s(frame(
                &target(Format::Rfc5424, 17),
                Level::Info,
                clock(),
                &o,
                "m"
            )),
            "<142>1 2026-12-06T11:32:25.674714+00:00 - haproxy 25306 - - m\n"
        );
        assert_eq!(
            s(frame(
                &target(Format::Short, 16),
                Level::Info,
                clock(),
                &o,
                "m"
            )),
            "<6>m\n"
        );
        assert_eq!(
            s(frame(
                &target(Format::Raw, 16),
                Level::Err,
                clock(),
                &o,
                "m"
            )),
            "m\n"
        );
        // Two-digit day, err level.
        let t = UNIX_EPOCH + Duration::from_secs(1_795_758_224);
        assert_eq!(
            s(frame(&target(Format::Rfc3164, 16), Level::Err, t, &o, "m")),
            "<131>Nov 27 05:43:44 haproxy[25306]: m\n"
        );
    }

    #[test]
    fn min_level_caps_and_len_cuts() {
        let mut t = target(Format::Short, 16);
        t.min_level = Some(Level::Notice);
        assert_eq!(s(frame(&t, Level::Err, clock(), &origin(), "m")), "<5>m\n");
        t.len = 80;
        let long = "x".repeat(200);
        let out = frame(&t, Level::Info, clock(), &origin(), &long);
        assert_eq!(out.len(), 80);
        assert_eq!(out.last(), Some(&b'\n'));
    }

    #[test]
    fn full_queue_drops_and_counts() {
        let (tx, _rx) = sync_channel(1);
        let l = Logger {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            origin: Arc::new(origin()),
        };
        let t = [Arc::new(target(Format::Raw, 16))];
        l.send(&t, Level::Info, "a");
        l.send(&t, Level::Info, "b");
        l.send(&t, Level::Info, "c");
        assert_eq!(l.dropped(), 2);
        assert!(dropped_total() >= 2);
        // Above max level: not sent, not dropped.
        let mut quiet = target(Format::Raw, 16);
        quiet.max_level = Level::Err;
        l.send(&[Arc::new(quiet)], Level::Info, "d");
        assert_eq!(l.dropped(), 2);
    }

    #[test]
    fn udp_lines_arrive() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut t = target(Format::Raw, 16);
        t.target = Target::Udp(rx.local_addr().unwrap());
        let l = Logger::start(16, origin()).unwrap();
        l.send(&[Arc::new(t)], Level::Info, "hello");
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello\n");
    }
}
