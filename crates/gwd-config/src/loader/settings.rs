//! Settings shared by `[defaults]` and proxies (timeouts, options, reuse,
//! balance, pools), their inheritance, and `[global]`.

use std::time::Duration;

use toml::de::{DeTable, DeValue};

use super::backends::CheckSend;
use super::*;

/// Longest Unix socket path the kernel binds (`sun_path` is 108 bytes,
/// NUL included).
const MAX_UNIX_PATH: usize = 107;

// ---- settings shared by defaults and proxies --------------------------------

/// Settings a section sets explicitly (`None` = not set here).
#[derive(Clone, Debug, Default)]
pub(super) struct Overrides {
    pub(super) mode: Option<crate::ProxyMode>,
    pub(super) connect: Option<Option<Duration>>,
    pub(super) client: Option<Option<Duration>>,
    pub(super) server: Option<Option<Duration>>,
    pub(super) http_request: Option<Option<Duration>>,
    pub(super) http_keep_alive: Option<Option<Duration>>,
    pub(super) tunnel: Option<Option<Duration>>,
    pub(super) tunnel_wait: Option<Option<Duration>>,
    pub(super) tarpit: Option<Option<Duration>>,
    pub(super) check: Option<Option<Duration>>,
    pub(super) queue: Option<Option<Duration>>,
    pub(super) forwardfor: Option<Option<ForwardFor>>,
    pub(super) http_reuse: Option<HttpReuse>,
    pub(super) balance: Option<Balance>,
    pub(super) hash_type: Option<HashType>,
    pub(super) all_backups: Option<bool>,
    pub(super) redispatch: Option<crate::model::Redispatch>,
    pub(super) retries: Option<u32>,
    pub(super) retry_on: Option<RetryOn>,
    /// `option.httpchk`: `Some(None)` turns checks back to Layer4.
    pub(super) httpchk: Option<Option<gwd_check::HttpCheck>>,
    /// `http-check.send` parts set here.
    pub(super) check_send: Option<CheckSend>,
    /// `http-check.expect` set here.
    pub(super) check_expect: Option<gwd_check::Expect>,
    pub(super) pool: PoolOverrides,
    pub(super) log: super::logging::LogOverrides,
    /// `errorfile`/`errorloc*` entries set here.
    pub(super) error_pages: Vec<(u16, std::sync::Arc<crate::model::ErrorPage>)>,
    /// `compression` set here (extends what is inherited).
    pub(super) compression: Option<crate::compression::Compression>,
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct PoolOverrides {
    pub(super) purge_delay: Option<Duration>,
    pub(super) max_conn: Option<Option<usize>>,
    pub(super) low_conn: Option<usize>,
}

impl PoolOverrides {
    pub(super) fn apply(&self, mut base: PoolSettings) -> PoolSettings {
        if let Some(d) = self.purge_delay {
            base.purge_delay = d;
        }
        if let Some(m) = self.max_conn {
            base.max_conn = m;
        }
        if let Some(l) = self.low_conn {
            base.low_conn = l;
        }
        base
    }
}

/// What a proxy inherits: built-in defaults, or `[defaults]` applied to them.
#[derive(Clone, Debug)]
pub(super) struct Inherited {
    pub(super) mode: crate::ProxyMode,
    pub(super) timeouts: Timeouts,
    pub(super) forwardfor: Option<ForwardFor>,
    pub(super) http_reuse: HttpReuse,
    pub(super) balance: Balance,
    pub(super) hash_type: HashType,
    pub(super) all_backups: bool,
    pub(super) redispatch: crate::model::Redispatch,
    pub(super) retries: u32,
    pub(super) retry_on: RetryOn,
    pub(super) http_check: Option<gwd_check::HttpCheck>,
    pub(super) pool: PoolSettings,
    pub(super) log: super::logging::LogInherited,
    pub(super) error_pages: crate::model::ErrorPages,
    pub(super) compression: crate::compression::Compression,
}

impl Default for Inherited {
    fn default() -> Self {
        Inherited {
            mode: crate::ProxyMode::Http,
            timeouts: Timeouts::default(),
            forwardfor: None,
            http_reuse: HttpReuse::default(),
            balance: Balance::default(),
            hash_type: HashType::default(),
            all_backups: false,
            redispatch: crate::model::Redispatch::EVERY_RETRY,
            retries: DEFAULT_RETRIES,
            retry_on: RetryOn::default(),
            http_check: None,
            pool: PoolSettings::default(),
            log: Default::default(),
            error_pages: Default::default(),
            compression: Default::default(),
        }
    }
}

impl Inherited {
    pub(super) fn with(&self, o: &Overrides) -> Inherited {
        let t = &self.timeouts;
        Inherited {
            mode: o.mode.unwrap_or(self.mode),
            timeouts: Timeouts {
                connect: o.connect.unwrap_or(t.connect),
                client: o.client.unwrap_or(t.client),
                server: o.server.unwrap_or(t.server),
                http_request: o.http_request.unwrap_or(t.http_request),
                http_keep_alive: o.http_keep_alive.unwrap_or(t.http_keep_alive),
                tunnel: o.tunnel.unwrap_or(t.tunnel),
                tunnel_wait: o.tunnel_wait.unwrap_or(t.tunnel_wait),
                tarpit: o.tarpit.unwrap_or(t.tarpit),
                check: o.check.unwrap_or(t.check),
                queue: o.queue.unwrap_or(t.queue),
            },
            forwardfor: o.forwardfor.clone().unwrap_or(self.forwardfor.clone()),
            http_reuse: o.http_reuse.unwrap_or(self.http_reuse),
            balance: o.balance.clone().unwrap_or_else(|| self.balance.clone()),
            hash_type: o.hash_type.unwrap_or(self.hash_type),
            all_backups: o.all_backups.unwrap_or(self.all_backups),
            redispatch: o.redispatch.unwrap_or(self.redispatch),
            retries: o.retries.unwrap_or(self.retries),
            retry_on: o.retry_on.unwrap_or(self.retry_on),
            http_check: {
                let mut hc = match &o.httpchk {
                    Some(hc) => hc.clone(),
                    None => self.http_check.clone(),
                };
                if let Some(hc) = &mut hc {
                    if let Some(send) = &o.check_send {
                        send.apply(hc);
                    }
                    if let Some(e) = &o.check_expect {
                        hc.expect = Some(e.clone());
                    }
                }
                hc
            },
            pool: o.pool.apply(self.pool),
            log: self.log.with(&o.log),
            error_pages: super::errorpages::merge(&self.error_pages, &o.error_pages),
            compression: match &o.compression {
                Some(c) => self.compression.extended(c),
                None => self.compression.clone(),
            },
        }
    }
}

impl Cx<'_> {
    /// Reads the settings keys of a defaults/proxy table (keys already
    /// checked against the kind's list).
    pub(super) fn overrides(&mut self, t: &DeTable<'_>, path: &str, valid: &[&str]) -> Overrides {
        // Keys not valid here were reported by `check_keys`; skip them.
        let get = |k: &str| if valid.contains(&k) { t.get(k) } else { None };
        let mut o = Overrides::default();
        if let Some(v) = get("mode") {
            o.mode = self.mode(v, &join(path, "mode"));
        }
        if let Some(v) = get("timeout") {
            self.timeouts(v, &join(path, "timeout"), &mut o);
        }
        let mut log_opts = None;
        if let Some(v) = get("option") {
            let p = join(path, "option");
            if let Some(opts) = self.table(v, &p, "write it as `option.forwardfor = true`") {
                log_opts = Some(opts);
                self.check_keys(opts, &p, "the `option` table", OPTION_KEYS, &[], &|_| None);
                if let Some(v) = opts.get("forwardfor") {
                    o.forwardfor = self.forwardfor(v, &join(&p, "forwardfor"));
                }
                self.backend_options(opts, &p, valid, &mut o);
            }
        }
        if let Some(v) = get("http-reuse") {
            let p = join(path, "http-reuse");
            o.http_reuse = match self.choice(v, &p, &["safe", "never", "aggressive", "always"]) {
                Some("never") => Some(HttpReuse::Never),
                Some("safe") => Some(HttpReuse::Safe),
                Some("aggressive") => Some(HttpReuse::Aggressive),
                Some("always") => Some(HttpReuse::Always),
                _ => None,
            };
        }
        self.backend_settings(t, path, valid, &mut o);
        o.pool = self.pool(t, path, valid);
        o.log = self.log_overrides(t, valid, log_opts, path);
        o.error_pages = self.error_pages(t, path, valid);
        // `http-error` after the files: it wins for a code both set.
        o.error_pages.extend(self.http_errors(t, path, valid));
        if let Some(v) = get("compression") {
            o.compression = self.compression(v, &join(path, "compression"));
        }
        o
    }

    pub(super) fn mode(&mut self, v: &Val<'_>, path: &str) -> Option<crate::ProxyMode> {
        let s = self.string(v, path, "`\"http\"`")?;
        match s {
            "http" => Some(crate::ProxyMode::Http),
            "tcp" => Some(crate::ProxyMode::Tcp),
            "health" => {
                self.error(
                    v.span().start,
                    path,
                    "`mode = \"health\"` is not supported yet",
                    help("HAProxy removed it in 2.4; answer probes with an `http-request` `return` rule"),
                );
                None
            }
            other => {
                self.error(
                    v.span().start,
                    path,
                    format!("invalid value `{other}` for `mode`"),
                    help("`\"http\"` (the default) or `\"tcp\"`"),
                );
                None
            }
        }
    }

    pub(super) fn timeouts(&mut self, v: &Val<'_>, path: &str, o: &mut Overrides) {
        let Some(t) = self.table(v, path, "write it as `timeout.client = \"30s\"`") else {
            return;
        };
        self.check_keys(t, path, "the `timeout` table", TIMEOUT_KEYS, &[], &|_| None);
        for (k, v) in t.iter() {
            let key: &str = k.get_ref();
            if !TIMEOUT_KEYS.contains(&key) {
                continue;
            }
            let Some(d) = self.duration(v, &join(path, key)) else {
                continue;
            };
            // 0 disables the timeout (overriding an inherited one).
            let d = Some(d).filter(|d| !d.is_zero());
            match key {
                "connect" => o.connect = Some(d),
                "client" => o.client = Some(d),
                "server" => o.server = Some(d),
                "http-request" => o.http_request = Some(d),
                "tunnel-wait" => o.tunnel_wait = Some(d),
                "tarpit" => o.tarpit = Some(d),
                "tunnel" => o.tunnel = Some(d),
                "check" => o.check = Some(d),
                // 0: no limit, which must differ from unset (unset falls
                // back to `timeout.connect`).
                "queue" => o.queue = Some(Some(d.unwrap_or(Duration::MAX))),
                _ => o.http_keep_alive = Some(d),
            }
        }
    }

    pub(super) fn forwardfor(&mut self, v: &Val<'_>, path: &str) -> Option<Option<ForwardFor>> {
        match v.get_ref() {
            DeValue::Boolean(true) => Some(Some(ForwardFor {
                header: XFF.to_owned(),
            })),
            DeValue::Boolean(false) => Some(None),
            DeValue::Table(t) => {
                self.check_keys(t, path, "`option.forwardfor`", &["header"], &[], &|_| None);
                let header = match t.get("header") {
                    None => XFF.to_owned(),
                    Some(h) => {
                        let hp = join(path, "header");
                        let s = self.string(h, &hp, "`\"X-Client-IP\"`")?;
                        if !valid_header_name(s) {
                            self.error(
                                h.span().start,
                                &hp,
                                format!("invalid header name `{s}`"),
                                help("header names are letters, digits and !#$%&'*+-.^_`|~"),
                            );
                            return None;
                        }
                        s.to_owned()
                    }
                };
                Some(Some(ForwardFor { header }))
            }
            _ => {
                self.type_error(
                    v,
                    path,
                    "a boolean or a table",
                    help("write `option.forwardfor = true` or `option.forwardfor = { header = \"X-Client-IP\" }`"),
                );
                None
            }
        }
    }

    /// `pool-purge-delay`, `pool-max-conn`, `pool-low-conn` in `t`.
    pub(super) fn pool(&mut self, t: &DeTable<'_>, path: &str, valid: &[&str]) -> PoolOverrides {
        let get = |k: &str| if valid.contains(&k) { t.get(k) } else { None };
        let mut p = PoolOverrides::default();
        if let Some(v) = get("pool-purge-delay") {
            p.purge_delay = self.duration(v, &join(path, "pool-purge-delay"));
        }
        if let Some(v) = get("pool-max-conn") {
            let kp = join(path, "pool-max-conn");
            match self.integer(v, &kp, "`10` (or -1 for unlimited)") {
                Some(-1) => p.max_conn = Some(None),
                Some(n) if n >= 0 => {
                    p.max_conn = Some(Some(usize::try_from(n).unwrap_or(usize::MAX)))
                }
                Some(n) => self.error(
                    v.span().start,
                    &kp,
                    format!("`pool-max-conn` must be -1 or more, found {n}"),
                    help("use -1 for no limit, 0 to disable pooling, or a positive count"),
                ),
                None => {}
            }
        }
        if let Some(v) = get("pool-low-conn") {
            let kp = join(path, "pool-low-conn");
            match self.integer(v, &kp, "`2`") {
                Some(n) if n >= 0 => p.low_conn = Some(usize::try_from(n).unwrap_or(usize::MAX)),
                Some(n) => self.error(
                    v.span().start,
                    &kp,
                    format!("`pool-low-conn` must be 0 or more, found {n}"),
                    help("use 0 (the default) to always reuse idle connections"),
                ),
                None => {}
            }
        }
        p
    }
}

// ---- global -------------------------------------------------------------

/// `[global]` as a file without the section (or with an empty one) has it.
pub(super) fn default_global() -> Global {
    Global {
        limited_quic: false,
        hard_stop_after: None,
        nbthread: None,
        spread_checks: 0,
        maxconn: None,
        max_header_size: DEFAULT_BUFSIZE,
        max_poll_events: DEFAULT_MAX_POLL_EVENTS,
        stats_sockets: Vec::new(),
        pidfile: None,
        user: None,
        group: None,
        chroot: None,
        log: Vec::new(),
    }
}

impl Cx<'_> {
    pub(super) fn global(&mut self, v: &Val<'_>) -> Global {
        let mut g = default_global();
        let path = "global";
        let Some(t) = self.table(v, path, "write a `[global]` section") else {
            return g;
        };
        self.check_keys(
            t,
            path,
            "`[global]`",
            GLOBAL_KEYS,
            GLOBAL_DOTTED,
            &misplaced_in_global,
        );
        self.ssl_defaults(t);
        if let Some(v) = t.get("hard-stop-after") {
            g.hard_stop_after = self.duration(v, "global.hard-stop-after");
        }
        if let Some(v) = t.get("maxconn") {
            g.maxconn = self.maxconn(v, "global.maxconn");
        }
        if let Some(v) = t.get("spread-checks") {
            let p = "global.spread-checks";
            match self.integer(v, p, "`spread-checks = 5`") {
                Some(n) if (0..=50).contains(&n) => g.spread_checks = u32::try_from(n).unwrap_or(0),
                Some(n) => self.error(
                    v.span().start,
                    p,
                    format!("`spread-checks` must be between 0 and 50 (percent), found {n}"),
                    help("HAProxy allows 0 to 50; 2 to 5 is usual"),
                ),
                None => {}
            }
        }
        if let Some(v) = t.get("nbthread") {
            let p = "global.nbthread";
            match self.integer(v, p, "`nbthread = 4`") {
                Some(n) if (1..=MAX_THREADS).contains(&n) => {
                    g.nbthread = usize::try_from(n).ok();
                }
                Some(n) => self.error(
                    v.span().start,
                    p,
                    format!("`nbthread` must be between 1 and {MAX_THREADS}, found {n}"),
                    help("leave `nbthread` out to run one thread per CPU"),
                ),
                None => {}
            }
        }
        if let Some(v) = t.get("expose-experimental-directives") {
            // HAProxy needs it before any rhttp@ directive; gwd does not
            // (reverse HTTP is not experimental here). Accepted so that
            // translated configs stay one to one.
            self.boolean(v, "global.expose-experimental-directives");
        }
        if let Some(v) = t.get("limited-quic") {
            g.limited_quic = self.boolean(v, "global.limited-quic").unwrap_or(false);
        }
        if let Some(v) = t.get("tune") {
            let p = "global.tune";
            if let Some(tt) = self.table(v, p, "write it as `tune.bufsize = \"16k\"`") {
                self.check_keys(
                    tt,
                    p,
                    "the `tune` table",
                    &["bufsize", "maxpollevents"],
                    &[],
                    &|_| None,
                );
                if let Some(v) = tt.get("bufsize") {
                    let bp = "global.tune.bufsize";
                    match self.size(v, bp) {
                        Some(n) if (MIN_BUFSIZE..=MAX_BUFSIZE).contains(&n) => {
                            g.max_header_size = n;
                        }
                        Some(n) => self.error(
                            v.span().start,
                            bp,
                            format!("`tune.bufsize` must be between 1k and 1g, found {n} bytes"),
                            help("the default, `\"16k\"`, suits most sites"),
                        ),
                        None => {}
                    }
                }
                if let Some(v) = tt.get("maxpollevents") {
                    let mp = "global.tune.maxpollevents";
                    match self.integer(v, mp, "`tune.maxpollevents = 16`") {
                        Some(n) if (1..=MAX_POLL_EVENTS as i64).contains(&n) => {
                            g.max_poll_events = usize::try_from(n).unwrap_or(DEFAULT_MAX_POLL_EVENTS);
                        }
                        Some(n) => self.error(
                            v.span().start,
                            mp,
                            format!("`tune.maxpollevents` must be between 1 and {MAX_POLL_EVENTS}, found {n}"),
                            help("leave it out for the default, 200 (HAProxy's)"),
                        ),
                        None => {}
                    }
                }
            }
        }
        if let Some(v) = t.get("stats-socket") {
            g.stats_sockets = self.stats_sockets(v);
        }
        self.process_keys(t, &mut g);
        g.log = self.global_log(t);
        g
    }

    /// `stats-socket = [ { addr = "/run/gwd.sock", level = "admin", mode = "660" } ]`.
    fn stats_sockets(&mut self, v: &Val<'_>) -> Vec<StatsSocket> {
        let path = "global.stats-socket";
        let mut out = Vec::new();
        let Some(arr) = self.array(
            v,
            path,
            "write it as `stats-socket = [ { addr = \"/run/gwd.sock\", level = \"admin\" } ]`",
        ) else {
            return out;
        };
        for (i, e) in arr.iter().enumerate() {
            let p = index(path, i);
            let Some(t) = self.table(
                e,
                &p,
                "write each socket as `{ addr = \"/run/gwd.sock\", level = \"admin\" }`",
            ) else {
                continue;
            };
            self.check_keys(
                t,
                &p,
                "a `stats-socket` entry",
                &["addr", "level", "mode"],
                &[],
                &|_| None,
            );
            let at = e.span().start;
            let Some(av) = self.required(
                t,
                at,
                &p,
                "addr",
                "a `stats-socket` entry",
                "\"/run/gwd.sock\"",
            ) else {
                continue;
            };
            let ap = join(&p, "addr");
            let Some(a) = self.string(av, &ap, "`\"/run/gwd.sock\"` or `\"127.0.0.1:9999\"`")
            else {
                continue;
            };
            let unix = a.strip_prefix("unix@").or_else(|| {
                (a.starts_with('/') || a.starts_with("./") || a.starts_with("../")).then_some(a)
            });
            let addr = if let Some(u) = unix {
                // The kernel's `sun_path` holds 108 bytes with the final
                // NUL: a longer path passes here only to fail at bind.
                if u.len() > MAX_UNIX_PATH {
                    self.error(
                        av.span().start,
                        &ap,
                        format!(
                            "Unix socket path too long: {} bytes, at most {MAX_UNIX_PATH}",
                            u.len()
                        ),
                        help("use a shorter path, e.g. a relative one (`\"unix@gwd.sock\"` is relative to gwd's working directory)"),
                    );
                    None
                } else {
                    Some(StatsAddr::Unix(PathBuf::from(u)))
                }
            } else {
                let bare = a
                    .strip_prefix("ipv4@")
                    .or_else(|| a.strip_prefix("ipv6@"))
                    .unwrap_or(a);
                match bare.parse::<std::net::SocketAddr>() {
                    Ok(sa) => Some(StatsAddr::Tcp(sa)),
                    Err(_) => {
                        self.error(
                            av.span().start,
                            &ap,
                            format!("invalid stats-socket address `{a}`"),
                            help("write a Unix socket path (`\"/run/gwd.sock\"`, `\"unix@gwd.sock\"`) or an IP address and port (`\"127.0.0.1:9999\"`, `\"[::1]:9999\"`)"),
                        );
                        None
                    }
                }
            };
            let level = match t.get("level") {
                None => Some(AdminLevel::default()),
                Some(lv) => self
                    .choice(lv, &join(&p, "level"), &["user", "operator", "admin"])
                    .map(|l| match l {
                        "user" => AdminLevel::User,
                        "admin" => AdminLevel::Admin,
                        _ => AdminLevel::Operator,
                    }),
            };
            let mode = match t.get("mode") {
                None => Some(0o600),
                Some(mv) => {
                    let mp = join(&p, "mode");
                    let text = match mv.get_ref() {
                        toml::de::DeValue::Integer(_) => self
                            .integer(mv, &mp, "`mode = \"660\"`")
                            .map(|n| n.to_string()),
                        _ => self.string(mv, &mp, "`mode = \"660\"`").map(str::to_owned),
                    };
                    text.and_then(|m| match u32::from_str_radix(&m, 8) {
                        Ok(n) if n <= 0o777 => Some(n),
                        _ => {
                            self.error(
                                mv.span().start,
                                &mp,
                                format!("invalid mode `{m}`"),
                                help("write octal permission bits, e.g. `mode = \"660\"`"),
                            );
                            None
                        }
                    })
                }
            };
            if let (Some(addr), Some(level), Some(mode)) = (addr, level, mode) {
                out.push(StatsSocket {
                    addr,
                    level,
                    mode,
                    location: self.location(at),
                });
            }
        }
        out
    }
}
