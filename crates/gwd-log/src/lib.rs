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
//! * [`Logger`] sends framed lines and never waits. Datagram targets (UDP,
//!   a unix socket such as `/dev/log`) are sent from the caller's thread
//!   without blocking, as HAProxy sends them, each unix target on a socket
//!   of its own (datagrams a stalled daemon leaves unread count against
//!   the sending socket: shared, they would stop the lines to every
//!   other one): a line the socket cannot take at once is dropped and
//!   counted ([`Logger::dropped`]). Stdout and stderr, whose writes may
//!   block, go to one writer thread through a bounded queue; a line that
//!   finds the queue full is dropped and counted. The writer thread
//!   starts with the first such line or the first drop, and reports drops
//!   (through `tracing`, which may block on a stalled stderr: never on a
//!   serving thread) at most every 10 seconds, with the count since the
//!   last report.
//!
//! Why not one writer thread for all: it was that, and it made each
//! logged request wake it (a futex wake and a context switch on another
//! CPU, 1.5 context switches a request against HAProxy's 0.6), and made
//! the process multi-threaded, which costs every socket call a reference
//! on its file (`fdget`). gwd spent 1.14x HAProxy's CPU per logged
//! request.
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

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Item")
            .field("target", &self.target)
            .finish()
    }
}

/// The sending side: cheap to clone, shared by every frontend of a
/// configuration. The writer thread (stdout and stderr lines only) ends
/// when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Logger {
    inner: Arc<Inner>,
    origin: Arc<Origin>,
}

#[derive(Debug)]
struct Inner {
    /// Length of the writer thread's queue.
    capacity: usize,
    /// The writer thread's queue: started with the first stdout or
    /// stderr line (`None`: it could not be started).
    stream: OnceLock<Option<SyncSender<Item>>>,
    /// One non-blocking socket per family, opened with the first line
    /// for it, shared by every thread (`None`: it could not be opened).
    /// A UDP datagram leaves the socket at once, read or not.
    udp4: OnceLock<Option<UdpSocket>>,
    udp6: OnceLock<Option<UdpSocket>>,
    /// One non-blocking socket per unix target: unread datagrams stay
    /// charged to the socket that sent them.
    unix: Mutex<HashMap<PathBuf, Option<Arc<UnixDatagram>>>>,
    /// Shared with the writer thread, which reports drops.
    dropped: Arc<AtomicU64>,
}

/// When drops were last reported, and how many had been by then.
#[derive(Debug, Default)]
struct DropReport {
    at: Option<Instant>,
    reported: u64,
}

impl DropReport {
    /// With `total` lines dropped so far, at `now`: how many to report
    /// (since the last report), if a report is due.
    fn due(&mut self, total: u64, now: Instant) -> Option<u64> {
        if total == self.reported || self.at.is_some_and(|at| now - at < DROP_REPORT) {
            return None;
        }
        let n = total - self.reported;
        self.at = Some(now);
        self.reported = total;
        Some(n)
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
    /// A logger whose writer thread (for stdout and stderr lines) has a
    /// queue of `capacity` lines. No thread starts until such a line is
    /// sent.
    pub fn start(capacity: usize, origin: Origin) -> std::io::Result<Logger> {
        Ok(Logger {
            inner: Arc::new(Inner {
                capacity: capacity.max(1),
                stream: OnceLock::new(),
                udp4: OnceLock::new(),
                udp6: OnceLock::new(),
                unix: Mutex::new(HashMap::new()),
                dropped: Arc::new(AtomicU64::new(0)),
            }),
            origin: Arc::new(origin),
        })
    }

    /// Frames `msg` for each target that takes `level` and sends it;
    /// never waits.
    pub fn send(&self, targets: &[Arc<LogTarget>], level: Level, msg: &str) {
        let now = SystemTime::now();
        for t in targets {
            if level > t.max_level {
                continue;
            }
            let bytes = frame(t, level, now, &self.origin, msg);
            let sent = match &t.target {
                Target::Udp(a) => self.inner.udp(a).map(|s| s.send_to(&bytes, a)),
                Target::Unix(p) => self.inner.unix(p).map(|s| s.send_to(&bytes, p)),
                Target::Stdout | Target::Stderr => {
                    self.queue(Item {
                        target: t.clone(),
                        bytes,
                    });
                    continue;
                }
            };
            // A socket that cannot take the line now: dropped. Other
            // errors (no listener, no such socket) lose the line as a
            // datagram would; no socket at all, likewise.
            if let Some(Err(e)) = sent
                && e.kind() == std::io::ErrorKind::WouldBlock
            {
                self.note_drop();
            }
        }
    }

    /// Hands a stdout or stderr line to the writer thread.
    fn queue(&self, item: Item) {
        let queued = self
            .inner
            .writer()
            .is_some_and(|tx| match tx.try_send(item) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            });
        if !queued {
            self.note_drop();
        }
    }

    /// Counts a dropped line; the writer thread (started now if it was
    /// not) reports it. Never writes anything here: this runs on the
    /// thread that serves requests, and stderr may block.
    fn note_drop(&self) {
        self.inner.dropped.fetch_add(1, Ordering::Relaxed);
        DROPPED_TOTAL.fetch_add(1, Ordering::Relaxed);
        let _ = self.inner.writer();
    }

    /// Lines this logger dropped (a full queue or socket).
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }
}

impl Inner {
    /// The writer thread's queue, the thread started on first use (`None`:
    /// it could not be started).
    fn writer(&self) -> Option<&SyncSender<Item>> {
        self.stream
            .get_or_init(|| {
                let (tx, rx) = sync_channel(self.capacity);
                let dropped = self.dropped.clone();
                match std::thread::Builder::new()
                    .name("gwd-log".into())
                    .spawn(move || writer(&rx, &dropped))
                {
                    Ok(_) => Some(tx),
                    Err(e) => {
                        tracing::error!("cannot start the log writer thread: {e}; stdout and stderr log lines are dropped");
                        None
                    }
                }
            })
            .as_ref()
    }

    fn udp(&self, to: &SocketAddr) -> Option<&UdpSocket> {
        let (slot, any) = if to.is_ipv4() {
            (&self.udp4, "0.0.0.0:0")
        } else {
            (&self.udp6, "[::]:0")
        };
        slot.get_or_init(|| {
            let s = UdpSocket::bind(any).ok()?;
            s.set_nonblocking(true).ok()?;
            Some(s)
        })
        .as_ref()
    }

    fn unix(&self, to: &Path) -> Option<Arc<UnixDatagram>> {
        let mut sockets = self.unix.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = sockets.get(to) {
            return s.clone();
        }
        let s = UnixDatagram::unbound()
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .ok()
            .map(Arc::new);
        sockets.insert(to.to_path_buf(), s.clone());
        s
    }
}

/// How often drops are reported at most.
const DROP_REPORT: Duration = Duration::from_secs(10);

/// The writer thread: stdout and stderr lines, in order, and the drop
/// reports (looked at every second and after each line).
fn writer(rx: &Receiver<Item>, dropped: &AtomicU64) {
    let mut report = DropReport::default();
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(item) => {
                let _ = match &item.target.target {
                    Target::Stderr => std::io::stderr().lock().write_all(&item.bytes),
                    _ => std::io::stdout().lock().write_all(&item.bytes),
                };
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let total = dropped.load(Ordering::Relaxed);
        if let Some(n) = report.due(total, Instant::now()) {
            tracing::warn!(
                dropped = n,
                total,
                "log lines dropped: a target could not take them"
            );
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
        // A writer queue of one line that nobody reads.
        let l = Logger::start(1, origin()).unwrap();
        let (tx, _rx) = sync_channel(1);
        l.inner.stream.set(Some(tx)).unwrap();
        let mut t = target(Format::Raw, 16);
        t.target = Target::Stdout;
        let t = [Arc::new(t)];
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

    /// Datagram lines leave from the sending thread: no writer thread is
    /// started for them (a second thread costs every socket call of the
    /// process, and a wake-up per line).
    #[test]
    fn udp_lines_arrive_without_a_writer_thread() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut t = target(Format::Raw, 16);
        t.target = Target::Udp(rx.local_addr().unwrap());
        let l = Logger::start(16, origin()).unwrap();
        l.send(&[Arc::new(t)], Level::Info, "hello");
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello\n");
        assert!(l.inner.stream.get().is_none(), "a writer thread started");
        assert_eq!(l.dropped(), 0);
    }

    /// A unix socket that reads nothing (a stalled syslog daemon): lines
    /// are dropped and counted once it is full; the sender never waits.
    #[test]
    fn a_full_unix_socket_drops_and_counts_without_waiting() {
        let dir = std::env::temp_dir().join(format!("gwd-log-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("log.sock");
        let _ = std::fs::remove_file(&path);
        let _stalled = UnixDatagram::bind(&path).unwrap();
        let mut t = target(Format::Raw, 16);
        t.target = Target::Unix(path.clone());
        let t = [Arc::new(t)];
        let l = Logger::start(16, origin()).unwrap();
        let started = Instant::now();
        for _ in 0..5_000 {
            l.send(&t, Level::Info, "a line for a daemon that reads nothing");
        }
        assert!(l.dropped() > 0, "no line dropped");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the sender waited"
        );
        // The drops are reported from the writer thread, started for it:
        // never from the sending thread, whose stderr may block.
        assert!(
            l.inner.stream.get().is_some(),
            "no thread reports the drops"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Datagrams a stalled daemon leaves unread count against the socket
    /// that sent them: each unix target has its own, so lines to a daemon
    /// that reads keep arriving.
    #[test]
    fn a_stalled_unix_target_does_not_stop_another() {
        let dir = std::env::temp_dir().join(format!("gwd-log-two-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let (stalled_path, good_path) = (dir.join("stalled.sock"), dir.join("good.sock"));
        for p in [&stalled_path, &good_path] {
            let _ = std::fs::remove_file(p);
        }
        let _stalled = UnixDatagram::bind(&stalled_path).unwrap();
        let good = UnixDatagram::bind(&good_path).unwrap();
        good.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let to = |p: &PathBuf| {
            let mut t = target(Format::Raw, 16);
            t.target = Target::Unix(p.clone());
            t.len = 65535;
            Arc::new(t)
        };
        let targets = [to(&stalled_path), to(&good_path)];
        let l = Logger::start(16, origin()).unwrap();
        // Eleven unread lines of this size (a stalled daemon's queue, as
        // the kernel's `max_dgram_qlen` of 10 lets it grow) are more than
        // a socket's default send buffer (208 KiB).
        let line = "x".repeat(30_000);
        let mut buf = vec![0u8; 31_000];
        for i in 0..100 {
            l.send(&targets, Level::Info, &line);
            let n = good
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("line {i} did not reach the good target: {e}"));
            assert_eq!(n, 30_001);
        }
        assert!(l.dropped() > 0, "the stalled target took every line");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn drops_are_reported_once_per_interval_with_the_count_since() {
        let mut r = DropReport::default();
        let t0 = Instant::now();
        assert_eq!(r.due(0, t0), None, "nothing dropped");
        assert_eq!(r.due(1, t0), Some(1), "the first drop is reported at once");
        assert_eq!(r.due(5, t0 + Duration::from_secs(9)), None);
        assert_eq!(r.due(7, t0 + Duration::from_secs(10)), Some(6));
        assert_eq!(r.due(7, t0 + Duration::from_secs(30)), None, "no new drop");
        assert_eq!(r.due(8, t0 + Duration::from_secs(31)), Some(1));
    }
}
