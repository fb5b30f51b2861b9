//! `gwd`: the gateway daemon. A thin shell over `gwd-app`: parse the
//! command line, load the config, start, stop on SIGTERM/SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;

// `eprintln!` that never panics (a stderr that is gone loses the line;
// gwd goes on, and stops when told to).
use gwd_app::say;

mod pki;
mod service;

use clap::{Parser, Subcommand};

/// glibc's allocator showed up at 5-7% of CPU in request-path profiles
/// (`_int_malloc`, `unlink_chunk`, `malloc_consolidate`); mimalloc's
/// thread-local free lists make those small, short-lived allocations cheap.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use gwd_config::Severity;

#[derive(Debug, Parser)]
#[command(
    name = "gwd",
    about = "gwd: a gateway daemon",
    disable_version_flag = true
)]
struct Cli {
    /// Configuration file (TOML). `-f` as in HAProxy.
    #[arg(short = 'f', long, global = true)]
    config: Option<PathBuf>,
    /// Check the configuration and exit, as HAProxy's `-c` (`gwd -c -f
    /// gw.toml`); the same as `gwd check`.
    #[arg(short = 'c')]
    check_only: bool,
    /// Print the version and the enabled features, then exit.
    #[arg(short = 'V', long)]
    version: bool,
    /// Binary upgrade: take the listening sockets of the gwd whose runtime
    /// API socket (Unix, level admin) is at this path, serve, then tell it
    /// to stop (SIGUSR1: it drains within `hard-stop-after`).
    #[arg(long, value_name = "SOCKET")]
    upgrade_from: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a configuration: print every error and warning, exit non-zero on errors.
    Check,
    /// Translate a haproxy.cfg into gw.toml: the TOML on standard output,
    /// each line left behind (as a `#` comment in the TOML) named on
    /// standard error. Exits 0 when every line was translated, 1 when some
    /// were not, 2 when the file cannot be read. Run `gwd check` on the
    /// result: it checks the files and names the translation refers to.
    Translate {
        /// The haproxy.cfg to read (`-` for standard input).
        haproxy_cfg: PathBuf,
    },
    /// Generate a test-only PKI (CA, server certificate, client certificates) as PEM files.
    /// Run again, it keeps the CA and the files already there and adds what is missing.
    Pki {
        /// Directory to write into.
        #[arg(long, default_value = "pki")]
        out: PathBuf,
        /// CA common name.
        #[arg(long, default_value = "gwd test CA")]
        ca_name: String,
        /// File stem of the server certificate and key (`<stem>.crt`, `<stem>.key`).
        #[arg(long, default_value = "server")]
        server_file: String,
        /// DNS names of the server certificate (repeatable).
        #[arg(long = "server-name", default_values_t = ["localhost".to_string()])]
        server_names: Vec<String>,
        /// Client certificates (repeatable): `NAME` (CN and DNS SAN; files
        /// `NAME.crt`/`NAME.key`) or `NAME=STEM` (files `STEM.crt`/`STEM.key`).
        #[arg(long = "client")]
        clients: Vec<String>,
        /// Certificates are valid from a day ago for this many days
        /// (default: 2024-01-01 to 2099-12-31, for test fixtures).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36_500))]
        days: Option<u32>,
        /// Make a new CA and replace every file named, instead of keeping
        /// the existing CA and files (certificates the old CA signed stop
        /// being trusted).
        #[arg(long)]
        force: bool,
    },
}

fn version_text() -> String {
    let quic = if gwd_quic_gate::Capabilities::of_this_build().quic {
        "+quic"
    } else {
        "-quic"
    };
    format!(
        "gwd {}\nfeatures: +tls(rustls/ring) +h1 +h2 +h2c {quic}",
        env!("CARGO_PKG_VERSION")
    )
}

/// Raises the soft descriptor limit to the hard one (as HAProxy does) and
/// returns the limit now in force.
#[allow(unsafe_code)]
fn raise_descriptor_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we pass; nothing else is touched.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    // An unlimited hard limit cannot be set as the soft one: the kernel
    // caps descriptors at fs.nr_open.
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<libc::rlim_t>().ok())
        .unwrap_or(1 << 20);
    let target = lim.rlim_max.min(nr_open);
    if lim.rlim_cur < target {
        let raised = libc::rlimit {
            rlim_cur: target,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = target;
        }
    }
    Some(lim.rlim_cur)
}

/// Opts the process out of transparent huge pages before the allocator
/// touches its arenas. With THP, mimalloc's eagerly committed arenas fault
/// in 2 MiB zeroed pages, so an idle tunnel (a few dozen small buffers)
/// costs about 49 KiB of RSS instead of about 32 KiB (measured with
/// `ci/rhttp-bench.sh memory`: 1,000 idle tunnels, each side), and the
/// page zeroing showed at 7 % of CPU while dialing them.
#[allow(unsafe_code)]
fn disable_transparent_huge_pages() {
    // SAFETY: prctl(PR_SET_THP_DISABLE) only sets a flag on the calling
    // process; no memory is passed.
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    // Kernels without the option return an error; nothing else changes.
    let _ = rc;
}

fn main() -> ExitCode {
    disable_transparent_huge_pages();
    let cli = Cli::parse();
    if cli.version {
        println!("{}", version_text());
        return ExitCode::SUCCESS;
    }
    match cli.command {
        Some(Command::Pki {
            out,
            ca_name,
            server_file,
            server_names,
            clients,
            days,
            force,
        }) => pki::run(&pki::Request {
            out: &out,
            ca_name: &ca_name,
            server_stem: &server_file,
            server_names: &server_names,
            clients: &clients,
            days,
            force,
        }),
        Some(Command::Translate { haproxy_cfg }) => translate(&haproxy_cfg),
        Some(Command::Check) => match cli.config {
            Some(path) => check(&path),
            None => missing_config(),
        },
        None if cli.check_only => match cli.config {
            Some(path) => check(&path),
            None => missing_config(),
        },
        None => match cli.config {
            Some(path) => run(&path, cli.upgrade_from.as_deref()),
            None => missing_config(),
        },
    }
}

/// `gwd translate <haproxy.cfg>`.
fn translate(path: &std::path::Path) -> ExitCode {
    use std::io::{Read as _, Write as _};
    let bytes = if path.as_os_str() == "-" {
        let mut b = Vec::new();
        std::io::stdin().read_to_end(&mut b).map(|_| b)
    } else {
        std::fs::read(path)
    };
    let bytes = match bytes {
        Ok(b) => b,
        Err(e) => {
            say!("error: cannot read {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    // HAProxy reads bytes; gw.toml is UTF-8. Lines that are not UTF-8 are
    // read with U+FFFD in place of the bad bytes, and named.
    let not_utf8: Vec<usize> = bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, l)| std::str::from_utf8(l).is_err())
        .map(|(i, _)| i + 1)
        .collect();
    let text = String::from_utf8_lossy(&bytes);
    let t = gwd_config::translate::translate_haproxy_cfg(&text);
    // A closed pipe (`| head`) ends the output, not the process.
    let _ = std::io::stdout().lock().write_all(t.toml.as_bytes());
    for line in &not_utf8 {
        say!(
            "{}: line {line}: not UTF-8: read with U+FFFD in place of the bytes that are not",
            path.display()
        );
    }
    for n in &t.notes {
        say!("{}: {n}", path.display());
    }
    if t.is_complete() && not_utf8.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn missing_config() -> ExitCode {
    say!(
        "error: no configuration given\n  help: run `gwd --config gw.toml` (examples/gw.toml is a start)"
    );
    ExitCode::from(2)
}

/// Prints diagnostics; returns true when any is an error.
fn report(diags: &[gwd_config::Diagnostic]) -> bool {
    for d in diags {
        say!("{}", d.render());
    }
    diags.iter().any(|d| d.severity == Severity::Error)
}

fn check(path: &std::path::Path) -> ExitCode {
    match gwd_config::load(path) {
        Ok(cfg) => {
            report(&cfg.warnings);
            let mut diags = service::Plan::resolve(&cfg).err().unwrap_or_default();
            // Certificates and keys, read as start reads them.
            diags.extend(gwd_app::check_tls(&cfg));
            if report(&diags) {
                let n = diags.iter().filter(|d| d.is_error()).count();
                say!("{}: {n} error(s); configuration is invalid", path.display());
                return ExitCode::FAILURE;
            }
            println!("{}: configuration is valid", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            report(&e.diagnostics);
            let n = e
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            say!("{}: {n} error(s); configuration is invalid", path.display());
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_target(true)
        // Its report of a failed write goes to stderr with `eprintln!`,
        // which panics when stderr is gone (a closed pipe): the event is
        // lost instead, and gwd goes on.
        .log_internal_errors(false)
        .init();
}

/// Returns the pages the allocator keeps for reuse to the system: a
/// reload frees a whole configuration at once, which mimalloc would
/// otherwise hold (measured: VmRSS +24 % after 100 reloads of a
/// 100-frontend config without it).
#[allow(unsafe_code)]
fn release_freed_memory() {
    // SAFETY: mi_collect takes no pointer; it only walks the calling
    // thread's heap and the allocator's abandoned segments.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

/// Asks the gwd that handed its sockets over to stop (soft stop).
#[allow(unsafe_code)]
fn ask_to_stop(pid: u32) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: kill(2) has no memory-safety preconditions.
    if unsafe { libc::kill(pid, libc::SIGUSR1) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn run(path: &std::path::Path, upgrade_from: Option<&std::path::Path>) -> ExitCode {
    // This configuration and every reload's are loaded and built on the
    // configuration thread, so a reload reuses the memory the
    // configuration it replaced freed (the thread ends when idle; the
    // next one takes its heap's pages over: see `ConfigThread`).
    let config_thread = match gwd_app::ConfigThread::start() {
        Ok(t) => t,
        Err(e) => {
            say!("error: cannot start the configuration thread: {e}");
            return ExitCode::FAILURE;
        }
    };
    let loaded = {
        let path = path.to_path_buf();
        config_thread.run(move || gwd_config::load(&path))
    };
    let cfg = match loaded {
        Ok(cfg) => cfg,
        Err(e) => {
            report(&e.diagnostics);
            say!("{}: configuration is invalid; not starting", path.display());
            return ExitCode::FAILURE;
        }
    };
    let plan = match service::Plan::resolve(&cfg) {
        Ok(plan) => plan,
        Err(diags) => {
            report(&diags);
            say!("{}: configuration is invalid; not starting", path.display());
            return ExitCode::FAILURE;
        }
    };
    init_logging();
    for w in &cfg.warnings {
        tracing::warn!("{}", w.render());
    }
    // One thread: a current-thread runtime has no work-stealing or
    // cross-thread wake-ups to pay for.
    let mut rt = match cfg.global.nbthread {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n.max(1));
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    rt.enable_all();
    // `tune.maxpollevents`: a short turn of the event loop sends the first
    // answers of a burst before it reads the last requests (see
    // gwd_config::Global::max_poll_events). It counts per worker, as
    // HAProxy's does (a poller per thread there); tokio's workers share
    // one poller, which therefore takes that many events per worker.
    let workers = cfg.global.nbthread.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    // Bounded: the poller allocates its event buffer at this size.
    let events = cfg.global.max_poll_events.saturating_mul(workers.max(1));
    rt.max_io_events_per_tick(events.min(gwd_config::MAX_POLL_EVENTS));
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            say!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let nofile = raise_descriptor_limit();
    rt.block_on(async {
        // Binary upgrade: the running gwd's sockets first, so no address
        // is bound twice and no connection refused.
        let mut inherited = gwd_app::upgrade::Inherited::default();
        if let Some(sock) = upgrade_from {
            match gwd_app::upgrade::Inherited::receive(sock, std::time::Duration::from_secs(5)) {
                Ok(i) => inherited = i,
                Err(e) => {
                    say!(
                        "error: cannot take over the sockets of the gwd at {}: {e}",
                        sock.display()
                    );
                    return ExitCode::FAILURE;
                }
            }
        }
        let handed = inherited.len();
        // Built on the configuration thread, inside this runtime (the
        // listeners register with its reactor); nothing else runs yet, so
        // waiting for it here holds nothing up.
        let runtime = tokio::runtime::Handle::current();
        let built = config_thread.run(move || {
            let _runtime = runtime.enter();
            let app = gwd_app::App::build_inheriting(cfg, &mut inherited);
            (app, inherited)
        });
        let (built, inherited) = built;
        let mut app = match built {
            Ok(app) => app,
            Err(e) => {
                say!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        app.reload_on(config_thread);
        if let Some(pid) = inherited.pid {
            say!(
                "gwd: upgrade: took {} of {handed} listening socket(s) from pid {pid}",
                handed - inherited.len()
            );
        }
        // Everything is bound: the runtime API's Unix sockets take their
        // paths now (before a chroot hides them), not at bind time, so a
        // start that failed left another gwd's socket in place.
        if let Err(e) = app.publish_admin_sockets() {
            say!("error: {e}");
            return ExitCode::FAILURE;
        }
        // Listeners are bound: pidfile, chroot, then drop privileges.
        let service = match plan.apply() {
            Ok(service) => service,
            Err(e) => {
                say!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        // Visitors past what the descriptors allow wait in the kernel's
        // queue, rather than being accepted without a descriptor left for
        // their server connection.
        if let Some(n) = nofile {
            let max = gwd_app::max_conns_for(n);
            app.set_max_conns(max);
            say!("gwd: maxconn={max} (from {n} file descriptors)");
        }
        for l in app.listeners() {
            let fe = &app.proxy().config.frontends[l.frontend.index()];
            say!(
                "gwd: listening frontend={} addr={}{}",
                fe.name,
                l.listener.local_addr(),
                if l.listener.is_tls() { " tls" } else { "" }
            );
        }
        for d in app.dialers() {
            let fe = &app.proxy().config.frontends[d.frontend.index()];
            let c = d.dialer.config();
            say!(
                "gwd: dialing frontend={} server={} gateway={} nbconn={}",
                fe.name,
                d.target,
                c.gateway,
                c.nbconn
            );
        }
        for a in app.admin_listeners() {
            say!(
                "gwd: listening stats-socket addr={} level={}",
                a.local_addr(),
                a.level().name()
            );
        }
        // Signal handlers first: a signal right after "ready" must find them.
        let signals = gwd_app::signals();
        // SIGHUP and the runtime API's `reload` read the file again.
        // (As given: like the paths inside it, a relative one resolves
        // against the working directory, which gwd never changes.)
        app.reload_from(path.to_path_buf(), Some(signals.reloads));
        let notifier = service.notifier().clone();
        app.on_reload(move |event| match event {
            gwd_app::ReloadEvent::Started => {
                // What the previous reload left (the configuration before
                // it, freed since) goes back to the system.
                release_freed_memory();
                notifier.reloading();
            }
            gwd_app::ReloadEvent::Finished(Ok(report)) => {
                release_freed_memory();
                notifier.ready_after_reload(&gwd_app::reload_summary(report));
            }
            gwd_app::ReloadEvent::Finished(Err(gwd_app::ReloadError::Config(e))) => {
                notifier.ready_after_reload(&format!(
                    "reload refused: {} error(s) in the configuration",
                    e.error_count()
                ));
            }
            gwd_app::ReloadEvent::Finished(Err(e)) => {
                notifier.ready_after_reload(&format!("reload refused: {e}"));
            }
        });
        say!("gwd: ready pid={}", std::process::id());
        service.notifier().ready();
        if let Some(pid) = inherited.pid {
            // Serving: the old process may stop accepting now.
            match ask_to_stop(pid) {
                Ok(()) => say!("gwd: upgrade: asked pid {pid} to stop (SIGUSR1)"),
                Err(e) => say!("gwd: upgrade: cannot signal pid {pid}: {e}"),
            }
        }
        // What the new configuration did not take is closed here (the old
        // process keeps its own until it stops).
        drop(inherited);
        let stop = service.notifier().stopping_when(signals.stop);
        match app.run_with(stop, signals.hard).await {
            gwd_app::Stopped::Drained => {
                say!("gwd: stopped");
                ExitCode::SUCCESS
            }
            gwd_app::Stopped::HardStop { remaining } => {
                // `hard-stop-after` passed, or a second stop signal came.
                say!("gwd: hard stop; closed {remaining} connection(s)");
                ExitCode::SUCCESS
            }
        }
    })
}
