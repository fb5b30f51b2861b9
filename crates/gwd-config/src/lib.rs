//! gwd's configuration: TOML in, a validated [`Config`] out.
//!
//! # Model and invariants
//!
//! The input is a TOML document with HAProxy's sections: `[global]`,
//! `[defaults]`, `[frontend.<name>]`, `[backend.<name>]` and
//! `[listen.<name>]` (a frontend and a backend of the same name whose
//! default backend is itself). See `docs/CONFIG.md` for every key.
//!
//! The output ([`model`]) is *resolved*: a [`Config`] that [`load`] or
//! [`parse_str`] returns has
//!
//! * frontends and backends in file order, with 1-based ids in that order
//!   (a `listen` section yields one of each);
//! * `[defaults]` applied to every section declared after it, and section
//!   values applied over them (servers over their backend for `pool-*`);
//! * every backend reference turned into a [`BackendId`] (a position in
//!   [`Config::backends`]), every ACL name resolved inside the conditions,
//!   every expression and log-format string parsed;
//! * reverse HTTP resolved: every `rhttp@<backend>/<server>` bind
//!   ([`ReverseBind`]) and `attach-srv` rule ([`AttachSrv`]) holds its
//!   server's [`ServerAt`] (the server may be declared further down the
//!   file: the reference stays `None` only while the loader reads),
//!   an `attach-srv` server is always an `rhttp@` one and names its tunnels
//!   exactly when that server has a `pool-conn-name`, the server an
//!   `rhttp@` bind dials is an ordinary TLS + HTTP/2 server, and a
//!   registration frontend ([`Frontend::is_registration`]) has no routing
//!   and only HTTP/2 binds;
//! * every file it names (`crt`, `key`, `ca-file`) existing and readable at
//!   load time (relative paths resolve against the process CWD, like
//!   HAProxy);
//! * every map and ACL pattern file named by a rule (`map(<file>)`,
//!   `-f <file>`) loaded once into [`Config::maps`], one shared reference
//!   per path, which the rules' matchers read and the runtime API changes
//!   ([`load_reusing`], for a reload, keeps the running references of the
//!   files that did not change, with their run-time changes);
//! * the runtime API sockets in [`Global::stats_sockets`];
//! * QUIC binds only where the QUIC gate let them through as warnings
//!   (the proxy skips them), and every warning in [`Config::warnings`].
//!
//! A failed load returns [`LoadErrors`] with *all* the errors found (and
//! the warnings), each a [`Diagnostic`] naming the file, line, column, the
//! dotted key path and, where one exists, a fix.
//!
//! # What this crate owns and depends on
//!
//! It owns the config syntax, its validation and the model types. It is
//! pure: it reads the config file, checks the files it names and loads the
//! map and pattern files, and nothing else (no sockets, no threads, no
//! DNS). It depends on `toml` (spans), `gwd-sample` (conditions, log-format
//! strings, the map registry), `gwd-maps` (file loading), `gwd-quic-gate`
//! (what to do with QUIC binds), `strsim` (suggestions) and `thiserror`.
//!
//! # Example
//!
//! ```
//! use std::path::Path;
//! use gwd_config::{parse_str, BindAddr};
//!
//! let cfg = parse_str(
//!     r#"
//! [defaults]
//! timeout.client = "30s"
//!
//! [listen.web]
//! bind = [ { addr = "127.0.0.1:8080" } ]
//! server = [ { name = "s1", addr = "127.0.0.1:9001" } ]
//! "#,
//!     Path::new("gw.toml"),
//! )
//! .unwrap();
//! let fe = &cfg.frontends[0];
//! assert_eq!(fe.binds[0].addr, BindAddr::Tcp("127.0.0.1:8080".parse().unwrap()));
//! assert_eq!(fe.default_backend, Some(gwd_config::BackendId::new(0)));
//! assert_eq!(cfg.backends[0].servers[0].net_addr().unwrap().port, 9001);
//! assert_eq!(fe.timeouts.client, Some(std::time::Duration::from_secs(30)));
//!
//! let err = parse_str("[frontend.www]\ndefualt_backend = \"x\"\n", Path::new("gw.toml"))
//!     .unwrap_err();
//! assert!(err.to_string().contains("help: did you mean `default_backend`?"));
//! ```

use std::path::Path;

mod capture;
pub mod compression;
mod diag;
mod error_page;
mod ids;
mod loader;
pub mod model;
mod retry;
mod rewrite;
mod tcp;
pub mod translate;
mod userlist;
mod values;

pub use compression::{Compression, CompressionAlgo, DEFAULT_MINSIZE_RES};
pub use diag::LoadErrors;
pub use ids::{BackendId, FrontendId, ServerAt, ServerId};
pub use loader::PendingMaps;
pub use loader::known_suites as known_tls_suites;
pub use model::*;
pub use tcp::{ProxyMode, TcpAction, TcpRequest, TcpRule};
pub use userlist::{CACHE_SIZE as AUTH_CACHE_SIZE, Password, User, Userlist, hash_form};
pub use values::{ValueError, parse_bind_addr, parse_duration, parse_server_addr, parse_size};

/// Reads, parses and validates the config file at `path`.
///
/// Relative file paths inside the config resolve against the process CWD;
/// `path` itself appears in every diagnostic. An unreadable file gives a
/// single error located at the file.
///
/// ```
/// let err = gwd_config::load("/nonexistent/gw.toml".as_ref()).unwrap_err();
/// assert_eq!(err.error_count(), 1);
/// assert!(err.to_string().starts_with("error: cannot read config file"));
/// ```
pub fn load(path: &Path) -> Result<Config, LoadErrors> {
    parse_str(&read_config_file(path)?, path)
}

/// Like [`load`], for a reload while `running` serves traffic: a map or
/// ACL file whose contents did not change since `running` loaded it keeps
/// `running`'s very reference (the same shared object, with the changes
/// the runtime API made to it), which the new configuration's rules read;
/// a changed or new file is read.
///
/// "Did not change": the same name as written (`maps/hosts.map` and
/// `./maps/hosts.map` differ), the same format (a file used as a map that
/// becomes a plain ACL file, or the other way round, is read again), and
/// the same bytes as read when `running`'s reference was loaded (length
/// and hash; not the modification time). A `virt@` name still used keeps
/// its reference, and so does an `opt@` file that was and still is
/// missing. Files the new configuration no longer names are simply not
/// in its [`Config::maps`]. ACL inline patterns (`-u <id>`) come from the
/// text and are made again. Ids (`#<id>`) and descriptions are the new
/// configuration's: a kept reference may get another id.
///
/// A kept reference must suit the new configuration's uses with its
/// current contents: when a run-time change breaks one (a value that is
/// not an integer for a new `map_*_int`, a key that is not a valid
/// pattern for a new match method) the load fails with an error naming
/// the file and the value, rather than silently reading the file again
/// and dropping run-time changes the operator made on purpose.
///
/// `running` is not changed unless the new configuration loads: a load
/// with errors leaves every reference as it was (entries, indexes, uses,
/// value types). Once it loads, kept references carry the new
/// configuration's uses (`get map` reports them, and a value type only
/// the old configuration required no longer constrains run-time changes);
/// swap the new configuration in and drop `running`.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("gwd-load-reusing-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let (hosts_map, gw_toml) = (dir.join("hosts.map"), dir.join("gw.toml"));
/// std::fs::write(&hosts_map, "api.local api\n").unwrap();
/// let hosts = hosts_map.display();
/// std::fs::write(&gw_toml, format!(r#"[frontend.www]
/// bind = [ {{ addr = "127.0.0.1:0" }} ]
/// http-request = [ {{ action = "set-header", name = "X-App", value = "%[req.hdr(host),map({hosts})]" }} ]
/// "#)).unwrap();
/// let running = gwd_config::load(&gw_toml).unwrap();
/// let entry = |cfg: &gwd_config::Config| cfg.maps.get(&hosts.to_string()).unwrap().map.clone();
/// entry(&running).add(b"new.local", b"app").unwrap(); // `add map <file> new.local app`
///
/// // Reload: the file did not change, so it keeps the added entry.
/// let cfg = gwd_config::load_reusing(&gw_toml, &running).unwrap();
/// assert!(entry(&cfg).ptr_eq(&entry(&running)));
/// assert_eq!(entry(&cfg).len(), 2);
///
/// // Once the file changes, the next reload reads it again.
/// std::fs::write(&hosts_map, "api.local api2\n").unwrap();
/// let newer = gwd_config::load_reusing(&gw_toml, &cfg).unwrap();
/// assert!(!entry(&newer).ptr_eq(&entry(&cfg)));
/// assert_eq!(entry(&newer).len(), 1);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn load_reusing(path: &Path, running: &Config) -> Result<Config, LoadErrors> {
    parse_str_reusing(&read_config_file(path)?, path, running)
}

/// [`parse_str`] for a reload: [`load_reusing`] with the text given.
///
/// ```
/// use std::path::Path;
/// let text = "[frontend.f]\nbind = [ { addr = \":8080\" } ]\n\
///             acl.live = \"path -m beg -f virt@live\"\n";
/// let running = gwd_config::parse_str(text, Path::new("gw.toml")).unwrap();
/// let live = running.maps.get("virt@live").unwrap().map.clone();
/// live.add(b"/api", b"").unwrap(); // `add acl virt@live /api`
/// let cfg = gwd_config::parse_str_reusing(text, Path::new("gw.toml"), &running).unwrap();
/// assert!(cfg.maps.get("virt@live").unwrap().map.ptr_eq(&live));
/// assert_eq!(cfg.maps.get("virt@live").unwrap().map.len(), 1);
/// ```
pub fn parse_str_reusing(
    text: &str,
    source: &Path,
    running: &Config,
) -> Result<Config, LoadErrors> {
    loader::parse_reusing(text, source, &running.maps)
}

/// [`load_reusing`] for a reload that may still fail after the load
/// (a socket to bind, a certificate to read): the kept map references get
/// the new configuration's uses for good only at
/// [`PendingMaps::commit`]; [`PendingMaps::undo`] gives the running
/// configuration back exactly what it had.
pub fn load_reusing_pending(
    path: &Path,
    running: &Config,
) -> Result<(Config, PendingMaps), LoadErrors> {
    loader::parse_reusing_pending(&read_config_file(path)?, path, &running.maps)
}

/// The config file's text, or the single error located at the file.
fn read_config_file(path: &Path) -> Result<String, LoadErrors> {
    match read_config(path) {
        Ok(text) => Ok(text),
        Err(e) => Err(LoadErrors {
            diagnostics: vec![Diagnostic {
                severity: Severity::Error,
                location: Location {
                    file: path.to_path_buf(),
                    line: 0,
                    column: 0,
                },
                key_path: String::new(),
                message: format!("cannot read config file: {e}"),
                help: Some("check the path given to gwd and its permissions".to_owned()),
            }],
        }),
    }
}

/// Parses and validates config text. `source` names the text in
/// diagnostics (and becomes [`Config::source`]); relative file paths in the
/// config resolve against the process CWD, not against `source`.
///
/// ```
/// let cfg = gwd_config::parse_str(
///     "[frontend.f]\nbind = [ { addr = \":8080\" } ]\n",
///     "gw.toml".as_ref(),
/// )
/// .unwrap();
/// assert_eq!(cfg.frontends[0].name, "f");
/// assert_eq!(cfg.global.max_header_size, 16 * 1024);
/// ```
pub fn parse_str(text: &str, source: &Path) -> Result<Config, LoadErrors> {
    loader::parse(text, source)
}

impl Config {
    /// The frontend called `name`, if any.
    pub fn frontend(&self, name: &str) -> Option<&Frontend> {
        self.frontends.iter().find(|f| f.name == name)
    }

    /// The backend called `name`, if any.
    pub fn backend(&self, name: &str) -> Option<&Backend> {
        self.backends.iter().find(|b| b.name == name)
    }
}

/// A config file larger than this is refused (no config comes near it;
/// `/dev/zero` or a log file given by mistake would be read until memory
/// runs out).
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// Reads a config file: a regular file (or a link to one) of at most
/// [`MAX_CONFIG_BYTES`], in UTF-8.
fn read_config(path: &Path) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
    let file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(Error::new(
            ErrorKind::FileTooLarge,
            format!("larger than {} MiB", MAX_CONFIG_BYTES >> 20),
        ));
    }
    Ok(text)
}
