//! Running as a service: the pidfile, `chroot`, the switch to `user` and
//! `group` once the listeners are bound, and systemd's readiness
//! notifications.
//!
//! [`Plan::resolve`] looks the accounts up and checks that this process
//! can do what the config asks; `gwd check` runs it too, so a config it
//! calls valid does not fail here at start. [`Plan::apply`] runs after
//! `App::build` has bound every listener and before serving: it writes
//! the pidfile (still as root), changes root, then drops privileges
//! (supplementary groups, group, user, in that order) and refuses to go
//! on if any step fails. The [`Service`] it returns removes the pidfile
//! when dropped and carries the [`Notifier`].

use gwd_app::say;
use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gwd_config::{Account, AccountId, Config, Diagnostic, Location, Severity};
use sd_notify::NotifyState;

/// Capability numbers (linux/capability.h).
const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;
const CAP_SYS_CHROOT: u32 = 18;

/// What to do once the listeners are bound.
#[derive(Debug)]
pub struct Plan {
    pidfile: Option<PathBuf>,
    chroot: Option<PathBuf>,
    ids: Option<Ids>,
}

/// The account to switch to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ids {
    /// `None`: only the group changes.
    uid: Option<u32>,
    gid: u32,
    /// For messages: `user `gwd` (990)`, `group `gwd` (990)`.
    user_desc: Option<String>,
    group_desc: String,
}

/// Who this process is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Creds {
    /// Real, effective, saved.
    uid: [u32; 3],
    gid: [u32; 3],
    /// Effective capability set (bit n = capability n).
    caps: u64,
}

impl Creds {
    fn has(&self, cap: u32) -> bool {
        self.caps & (1 << cap) != 0
    }
}

impl Plan {
    /// Looks up `user`/`group` and checks that this process can write the
    /// pidfile, change root and switch accounts. Errors point at the keys.
    pub fn resolve(cfg: &Config) -> Result<Plan, Vec<Diagnostic>> {
        let g = &cfg.global;
        let mut errors = Vec::new();
        let creds = current_creds();
        let ids = resolve_ids(g.user.as_ref(), g.group.as_ref(), &mut errors);
        let at_file = |key: &str, message: String, help: &str| Diagnostic {
            severity: Severity::Error,
            location: Location {
                file: cfg.source.clone(),
                line: 0,
                column: 0,
            },
            key_path: format!("global.{key}"),
            message,
            help: Some(help.to_owned()),
        };
        if let Some(p) = &g.pidfile
            && let Err(e) = writable(p)
        {
            errors.push(at_file(
                "pidfile",
                format!("cannot write `pidfile` `{}`: {e}", p.display()),
                "start gwd as root, or make the file's directory writable by the user gwd starts as",
            ));
        }
        if let Some(dir) = &g.chroot
            && !creds.has(CAP_SYS_CHROOT)
        {
            errors.push(at_file(
                "chroot",
                format!(
                    "gwd runs as uid {} without CAP_SYS_CHROOT: it cannot change root to `{}`",
                    creds.uid[1],
                    dir.display()
                ),
                "start gwd as root (it drops privileges after binding), or leave `chroot` out \
                 (systemd: RootDirectory= or ProtectSystem=strict)",
            ));
        }
        if let Some(ids) = &ids
            && let Some(missing) = missing_caps(&creds, ids)
            && let Some(key) = g.user.as_ref().or(g.group.as_ref())
        {
            let account = ids.user_desc.as_deref().unwrap_or(&ids.group_desc);
            errors.push(account_error(
                key,
                format!(
                    "gwd runs as uid {} without {missing}: it cannot switch to {account}",
                    creds.uid[1]
                ),
                "start gwd as root (it drops privileges once its listeners are bound), or leave \
                 `user`/`group` out and let the service manager pick the account \
                 (systemd: User=, Group=)",
            ));
        }
        if errors.is_empty() {
            Ok(Plan {
                pidfile: g.pidfile.clone(),
                chroot: g.chroot.clone(),
                ids,
            })
        } else {
            Err(errors)
        }
    }

    /// Writes the pidfile, changes root, drops privileges; prints a line
    /// for each. Any failure stops gwd: it never serves as root when asked
    /// not to.
    pub fn apply(self) -> Result<Service, String> {
        // Before chroot: the notification socket's path lies outside it.
        let notifier = Notifier::from_env();
        let pidfile = match &self.pidfile {
            Some(p) => Some(
                Pidfile::write(p)
                    .map_err(|e| format!("cannot write pidfile `{}`: {e}", p.display()))?,
            ),
            None => None,
        };
        // From here on, an error drops `pidfile`, which removes the file.
        let service = Service {
            _pidfile: pidfile,
            notifier,
        };
        if let Some(dir) = &self.chroot {
            std::os::unix::fs::chroot(dir)
                .and_then(|()| std::env::set_current_dir("/"))
                .map_err(|e| format!("cannot change root to `{}`: {e}", dir.display()))?;
            say!("gwd: chroot {}", dir.display());
        }
        if let Some(ids) = &self.ids {
            drop_privileges(ids)?;
            let now = current_creds();
            say!("gwd: running as uid={} gid={}", now.uid[1], now.gid[1]);
        }
        Ok(service)
    }
}

/// Resolves `user`/`uid` and `group`/`gid` to numbers; `None` when both
/// are absent. Errors go to `errors`.
fn resolve_ids(
    user: Option<&Account>,
    group: Option<&Account>,
    errors: &mut Vec<Diagnostic>,
) -> Option<Ids> {
    if user.is_none() && group.is_none() {
        return None;
    }
    // (uid, primary gid if known, description)
    let mut who: Option<(u32, Option<u32>, String)> = None;
    if let Some(u) = user {
        match &u.id {
            AccountId::Name(name) => match lookup_user(name) {
                Ok(Some((uid, gid))) => who = Some((uid, Some(gid), format!("user `{name}` ({uid})"))),
                Ok(None) => errors.push(account_error(
                    u,
                    format!("unknown user `{name}`"),
                    "create it (e.g. `useradd --system --no-create-home gwd`), or name an existing user",
                )),
                Err(e) => errors.push(account_error(
                    u,
                    format!("cannot look up user `{name}`: {e}"),
                    "check the system's account database (/etc/nsswitch.conf)",
                )),
            },
            AccountId::Number(uid) => {
                let gid = lookup_uid(*uid).ok().flatten();
                who = Some((*uid, gid, format!("uid {uid}")));
            }
        }
    }
    let mut gid: Option<(u32, String)> = None;
    if let Some(g) = group {
        match &g.id {
            AccountId::Name(name) => match lookup_group(name) {
                Ok(Some(n)) => gid = Some((n, format!("group `{name}` ({n})"))),
                Ok(None) => errors.push(account_error(
                    g,
                    format!("unknown group `{name}`"),
                    "create it (e.g. `groupadd --system gwd`), or name an existing group",
                )),
                Err(e) => errors.push(account_error(
                    g,
                    format!("cannot look up group `{name}`: {e}"),
                    "check the system's account database (/etc/nsswitch.conf)",
                )),
            },
            AccountId::Number(n) => gid = Some((*n, format!("gid {n}"))),
        }
    }
    let gid = match (gid, &who) {
        (Some(g), _) => g,
        // Without `group`, the user's own group (as su and login do):
        // staying in root's group would keep root's files open to gwd.
        (None, Some((_, Some(primary), _))) => (*primary, format!("gid {primary}")),
        (None, Some((uid, None, _))) => {
            if let Some(u) = user {
                errors.push(account_error(
                    u,
                    format!("uid {uid} has no account, so gwd cannot tell its group"),
                    "set `group` or `gid` too",
                ));
            }
            return None;
        }
        // `group` or `user` failed to resolve: reported above.
        (None, None) => return None,
    };
    if user.is_some() && who.is_none() {
        return None;
    }
    Some(Ids {
        uid: who.as_ref().map(|w| w.0),
        gid: gid.0,
        user_desc: who.map(|w| w.2),
        group_desc: gid.1,
    })
}

fn account_error(a: &Account, message: String, help: &str) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        location: a.location.clone(),
        key_path: a.key_path.clone(),
        message,
        help: Some(help.to_owned()),
    }
}

/// Whether switching to `ids` is a no-op (already that account).
fn already(creds: &Creds, ids: &Ids) -> bool {
    ids.uid.is_none_or(|u| creds.uid == [u; 3]) && creds.gid == [ids.gid; 3]
}

/// The capabilities the switch needs and this process lacks, as text
/// (`CAP_SETUID and CAP_SETGID`); `None` when it can switch.
fn missing_caps(creds: &Creds, ids: &Ids) -> Option<String> {
    if already(creds, ids) {
        return None;
    }
    let mut missing = Vec::new();
    if ids.uid.is_some_and(|u| creds.uid != [u; 3]) && !creds.has(CAP_SETUID) {
        missing.push("CAP_SETUID");
    }
    // setgroups needs CAP_SETGID even when the group stays.
    if !creds.has(CAP_SETGID) {
        missing.push("CAP_SETGID");
    }
    (!missing.is_empty()).then(|| missing.join(" and "))
}

/// Switches to `ids`: supplementary groups (only `gid` is kept), group,
/// user; then checks the result and that root cannot be regained.
/// glibc applies each change to every thread of the process.
#[allow(unsafe_code)]
fn drop_privileges(ids: &Ids) -> Result<(), String> {
    let before = current_creds();
    if already(&before, ids) {
        return Ok(());
    }
    let what = ids.user_desc.as_deref().unwrap_or(&ids.group_desc);
    let fail = |step: &str| {
        format!(
            "cannot switch to {what}: {step} failed: {}; not running on with the privileges \
             gwd started with",
            io::Error::last_os_error()
        )
    };
    let gid: libc::gid_t = ids.gid;
    // SAFETY: setgroups reads one gid_t from the pointer we pass.
    if unsafe { libc::setgroups(1, &gid) } != 0 {
        return Err(fail("setgroups"));
    }
    // SAFETY: setgid takes a plain integer.
    if unsafe { libc::setgid(gid) } != 0 {
        return Err(fail("setgid"));
    }
    if let Some(uid) = ids.uid {
        // SAFETY: setuid takes a plain integer.
        if unsafe { libc::setuid(uid) } != 0 {
            return Err(fail("setuid"));
        }
    }
    let after = current_creds();
    let uid_ok = ids.uid.is_none_or(|u| after.uid == [u; 3]);
    if !uid_ok || after.gid != [ids.gid; 3] {
        return Err(format!(
            "cannot switch to {what}: now uid={:?} gid={:?}; not running on",
            after.uid, after.gid
        ));
    }
    if let Some(uid) = ids.uid
        && uid != 0
    {
        // SAFETY: setuid takes a plain integer.
        if unsafe { libc::setuid(0) } == 0 {
            return Err(format!(
                "switched to {what} but could switch back to root; not running on"
            ));
        }
    }
    Ok(())
}

/// Real, effective and saved ids, and the effective capabilities.
#[allow(unsafe_code)]
fn current_creds() -> Creds {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: getresuid writes three uid_t through the pointers we pass.
    unsafe { libc::getresuid(&mut r, &mut e, &mut s) };
    let uid = [r, e, s];
    // SAFETY: getresgid writes three gid_t through the pointers we pass.
    unsafe { libc::getresgid(&mut r, &mut e, &mut s) };
    let gid = [r, e, s];
    let caps = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| effective_caps(&s))
        // No /proc: root can do everything this needs, others nothing.
        .unwrap_or(if uid[1] == 0 { u64::MAX } else { 0 });
    Creds { uid, gid, caps }
}

/// The `CapEff:` line of `/proc/<pid>/status`.
fn effective_caps(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// Whether this process could create or replace the file `p` (its
/// directory exists: the config loader checked).
#[allow(unsafe_code)]
fn writable(p: &Path) -> io::Result<()> {
    let (target, mode) = match std::fs::symlink_metadata(p) {
        Ok(_) => (p, libc::W_OK),
        Err(_) => (
            match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            },
            libc::W_OK | libc::X_OK,
        ),
    };
    let c = CString::new(target.as_os_str().as_bytes())?;
    // SAFETY: c is a NUL-terminated path; faccessat only reads it.
    // AT_EACCESS: judge by the effective ids, as open(2) will.
    let rc = unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), mode, libc::AT_EACCESS) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

// ---- account database --------------------------------------------------

/// Runs a `get*_r` lookup with a buffer that grows on ERANGE. `f` returns
/// the call's result code and whether an entry was found.
fn with_buffer<T>(
    mut f: impl FnMut(&mut [u8]) -> (libc::c_int, Option<T>),
) -> io::Result<Option<T>> {
    let mut buf = vec![0u8; 1024];
    loop {
        match f(&mut buf) {
            (0, found) => return Ok(found),
            (libc::ERANGE, _) if buf.len() < 1 << 22 => buf.resize(buf.len() * 2, 0),
            // Some NSS modules say "not found" with an error code.
            (libc::ENOENT | libc::ESRCH, _) => return Ok(None),
            (rc, _) => return Err(io::Error::from_raw_os_error(rc)),
        }
    }
}

/// `(uid, primary gid)` of the user named `name`.
#[allow(unsafe_code)]
fn lookup_user(name: &str) -> io::Result<Option<(u32, u32)>> {
    let c = CString::new(name)?;
    with_buffer(|buf| {
        // SAFETY: passwd is plain data; all-zero is a valid value.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; the strings the
        // entry points to live in `buf`, which we do not read.
        let rc = unsafe {
            libc::getpwnam_r(
                c.as_ptr(),
                &mut pw,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut found,
            )
        };
        (rc, (!found.is_null()).then_some((pw.pw_uid, pw.pw_gid)))
    })
}

/// The primary gid of uid `uid`, if it has an account.
#[allow(unsafe_code)]
fn lookup_uid(uid: u32) -> io::Result<Option<u32>> {
    with_buffer(|buf| {
        // SAFETY: as in lookup_user.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: as in lookup_user.
        let rc = unsafe {
            libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut found)
        };
        (rc, (!found.is_null()).then_some(pw.pw_gid))
    })
}

/// The gid of the group named `name`.
#[allow(unsafe_code)]
fn lookup_group(name: &str) -> io::Result<Option<u32>> {
    let c = CString::new(name)?;
    with_buffer(|buf| {
        // SAFETY: group is plain data; all-zero is a valid value.
        let mut gr: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        // SAFETY: as in lookup_user.
        let rc = unsafe {
            libc::getgrnam_r(
                c.as_ptr(),
                &mut gr,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut found,
            )
        };
        (rc, (!found.is_null()).then_some(gr.gr_gid))
    })
}

// ---- pidfile -----------------------------------------------------------

/// A pidfile written at start. Dropping it removes the file if it still
/// holds this process's pid, through a descriptor of its directory
/// opened before chroot (so the path need not be reachable any more).
#[derive(Debug)]
struct Pidfile {
    path: PathBuf,
    dir: File,
    name: CString,
    content: String,
}

impl Pidfile {
    fn write(path: &Path) -> io::Result<Pidfile> {
        let dir_path = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
        let dir = File::open(dir_path)?;
        let content = format!("{}\n", std::process::id());
        // O_NOFOLLOW: the directory may be writable by the account gwd
        // drops to, which could plant a link to a file root would then
        // truncate at the next start.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        f.write_all(content.as_bytes())?;
        say!("gwd: pidfile {}", path.display());
        Ok(Pidfile {
            path: path.to_path_buf(),
            dir,
            name: CString::new(name.as_bytes())?,
            content,
        })
    }

    /// Removes the file if it still holds our pid (a newer gwd may have
    /// written its own since).
    fn remove(&self) -> io::Result<bool> {
        let mut now = String::new();
        openat_read(&self.dir, &self.name)?.read_to_string(&mut now)?;
        if now != self.content {
            return Ok(false);
        }
        unlinkat(&self.dir, &self.name)?;
        Ok(true)
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        match self.remove() {
            Ok(true) => {}
            Ok(false) => say!(
                "gwd: pidfile {} now holds another pid; left in place",
                self.path.display()
            ),
            Err(e) => say!("gwd: pidfile {} left in place: {e}", self.path.display()),
        }
    }
}

#[allow(unsafe_code)]
fn openat_read(dir: &File, name: &CStr) -> io::Result<File> {
    // SAFETY: name is NUL-terminated; openat only reads it.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a descriptor we just opened and nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}

#[allow(unsafe_code)]
fn unlinkat(dir: &File, name: &CStr) -> io::Result<()> {
    // SAFETY: name is NUL-terminated; unlinkat only reads it.
    if unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

// ---- running -------------------------------------------------------------

/// What a started gwd holds for the service manager: the pidfile (removed
/// when this is dropped) and the notifier.
#[derive(Debug)]
pub struct Service {
    /// Removes the file when dropped.
    _pidfile: Option<Pidfile>,
    notifier: Notifier,
}

impl Service {
    /// The systemd notifier (a no-op when gwd was not started with
    /// `NOTIFY_SOCKET`). Clone it to keep it in a task.
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }
}

/// Tells systemd (`Type=notify`) where gwd stands: ready, reloading,
/// stopping. A no-op when `NOTIFY_SOCKET` is not set. Sending never fails
/// gwd: an error is printed once per message and forgotten.
///
/// The messages are sd-notify's [`NotifyState`]s. The socket is connected
/// once, at start: sd-notify's own `notify()` connects by path for each
/// message, and the path (`/run/systemd/notify`) is out of reach after
/// `chroot`.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    sock: Option<Arc<UnixDatagram>>,
}

impl Notifier {
    /// Connects to `$NOTIFY_SOCKET` (a path, or `@name` for an abstract
    /// socket); without it, a notifier that sends nothing.
    pub fn from_env() -> Notifier {
        let Some(addr) = std::env::var_os("NOTIFY_SOCKET") else {
            return Notifier::default();
        };
        match connect_notify(addr.as_bytes()) {
            Ok(sock) => Notifier {
                sock: Some(Arc::new(sock)),
            },
            Err(e) => {
                say!(
                    "gwd: warning: cannot reach NOTIFY_SOCKET {}: {e}; systemd will not hear from gwd",
                    addr.to_string_lossy()
                );
                Notifier::default()
            }
        }
    }

    /// Startup is finished: every listener accepts (`READY=1`).
    pub fn ready(&self) {
        self.send(&[NotifyState::Ready, NotifyState::Status("ready")]);
    }

    /// A reload starts (`RELOADING=1` with `MONOTONIC_USEC`, which
    /// `Type=notify-reload` needs in the same message). Call
    /// [`Notifier::ready_after_reload`] when it is over, whatever the
    /// outcome.
    #[allow(dead_code, reason = "called around a reload (issue 13, being added)")]
    pub fn reloading(&self) {
        let mut msg = vec![
            NotifyState::Reloading,
            NotifyState::Status("reloading the configuration"),
        ];
        match NotifyState::monotonic_usec_now() {
            Ok(now) => msg.push(now),
            Err(e) => say!("gwd: warning: no monotonic clock for systemd: {e}"),
        }
        self.send(&msg);
    }

    /// A reload is over (`READY=1`), with `status` for `systemctl status`
    /// (e.g. "ready" or "reload failed: 2 errors; old configuration in force").
    #[allow(dead_code, reason = "called around a reload (issue 13, being added)")]
    pub fn ready_after_reload(&self, status: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// A stop begins: gwd drains then exits (`STOPPING=1`).
    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
    }

    /// `stop`, sending `STOPPING=1` when it completes.
    pub fn stopping_when(
        &self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let n = self.clone();
        async move {
            stop.await;
            n.stopping();
        }
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        let Some(sock) = &self.sock else { return };
        let msg = message(states);
        if let Err(e) = sock.send(msg.as_bytes()) {
            say!(
                "gwd: warning: cannot notify systemd ({}): {e}",
                msg.trim_end().replace('\n', " ")
            );
        }
    }
}

/// One datagram: each state on its own line (as sd_notify(3) expects).
fn message(states: &[NotifyState<'_>]) -> String {
    states.iter().map(|s| format!("{s}\n")).collect()
}

/// A datagram socket connected to `addr` (`/path` or `@abstract`).
fn connect_notify(addr: &[u8]) -> io::Result<UnixDatagram> {
    let sock = UnixDatagram::unbound()?;
    match addr.split_first() {
        Some((b'@', name)) => {
            use std::os::linux::net::SocketAddrExt;
            let a = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.connect_addr(&a)?;
        }
        Some((b'/', _)) => sock.connect(std::ffi::OsStr::from_bytes(addr))?,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "neither an absolute path nor an @abstract name",
            ));
        }
    }
    Ok(sock)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(uid: u32, gid: u32, caps: &[u32]) -> Creds {
        Creds {
            uid: [uid; 3],
            gid: [gid; 3],
            caps: caps.iter().fold(0, |c, n| c | 1 << n),
        }
    }

    fn ids(uid: Option<u32>, gid: u32) -> Ids {
        Ids {
            uid,
            gid,
            user_desc: uid.map(|u| format!("uid {u}")),
            group_desc: format!("gid {gid}"),
        }
    }

    #[test]
    fn capabilities_needed_to_switch() {
        let root = creds(0, 0, &[CAP_SETUID, CAP_SETGID, CAP_SYS_CHROOT]);
        assert_eq!(missing_caps(&root, &ids(Some(65534), 65534)), None);
        let user = creds(1000, 1000, &[]);
        // Already that account: nothing to do, nothing needed.
        assert_eq!(missing_caps(&user, &ids(Some(1000), 1000)), None);
        assert_eq!(missing_caps(&user, &ids(None, 1000)), None);
        assert_eq!(
            missing_caps(&user, &ids(Some(65534), 65534)).as_deref(),
            Some("CAP_SETUID and CAP_SETGID")
        );
        assert_eq!(
            missing_caps(&user, &ids(None, 65534)).as_deref(),
            Some("CAP_SETGID")
        );
        // Root in a bounding set without CAP_SETUID (systemd's
        // CapabilityBoundingSet=CAP_NET_BIND_SERVICE).
        let boxed_root = creds(0, 0, &[10]);
        assert_eq!(
            missing_caps(&boxed_root, &ids(Some(65534), 65534)).as_deref(),
            Some("CAP_SETUID and CAP_SETGID")
        );
        // Saved ids count: a process with a saved uid 0 is not "already" 1000.
        let mut half = creds(1000, 1000, &[]);
        half.uid[2] = 0;
        assert!(!already(&half, &ids(Some(1000), 1000)));
    }

    #[test]
    fn capabilities_from_proc_status() {
        let status = "Name:\tgwd\nUid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\n";
        assert_eq!(effective_caps(status), Some(0x1ff_ffff_ffff));
        assert_eq!(effective_caps("CapEff:\t0000000000000400\n"), Some(1 << 10));
        assert_eq!(effective_caps("Name:\tx\n"), None);
    }

    #[test]
    fn notify_messages() {
        assert_eq!(message(&[NotifyState::Ready]), "READY=1\n");
        assert_eq!(
            message(&[NotifyState::Reloading, NotifyState::MonotonicUsec(42)]),
            "RELOADING=1\nMONOTONIC_USEC=42\n"
        );
    }

    #[test]
    fn notifier_sends_to_a_socket_and_an_abstract_name() {
        let dir = std::env::temp_dir().join(format!("gwd-notify-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let rx = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            sock: Some(Arc::new(
                connect_notify(path.as_os_str().as_bytes()).unwrap(),
            )),
        };
        let mut buf = [0u8; 256];
        n.reloading();
        let len = rx.recv(&mut buf).unwrap();
        let got = std::str::from_utf8(&buf[..len]).unwrap();
        assert!(got.starts_with("RELOADING=1\n"), "{got}");
        let usec: u64 = got
            .lines()
            .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
            .unwrap()
            .parse()
            .unwrap();
        assert!(usec > 0);
        n.ready_after_reload("ready");
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=ready\n");
        std::fs::remove_dir_all(&dir).unwrap();

        use std::os::linux::net::SocketAddrExt;
        let name = format!("gwd-notify-unit-{}", std::process::id());
        let a = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = UnixDatagram::bind_addr(&a).unwrap();
        let tx = connect_notify(format!("@{name}").as_bytes()).unwrap();
        let n = Notifier {
            sock: Some(Arc::new(tx)),
        };
        n.stopping();
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"STOPPING=1\nSTATUS=stopping\n");

        assert!(connect_notify(b"relative").is_err());
        assert!(Notifier::default().sock.is_none());
        Notifier::default().ready();
    }

    #[test]
    fn pidfile_is_removed_only_while_it_holds_our_pid() {
        let dir = std::env::temp_dir().join(format!("gwd-pidfile-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gwd.pid");
        let p = Pidfile::write(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        drop(p);
        assert!(!path.exists());

        // Another process wrote its pid since: left alone.
        let p = Pidfile::write(&path).unwrap();
        std::fs::write(&path, "1\n").unwrap();
        drop(p);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n");

        // A link planted at the path is not followed.
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(dir.join("target"), &path).unwrap();
        assert!(Pidfile::write(&path).is_err());
        assert!(!dir.join("target").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn account_lookups() {
        // root exists on every Linux system.
        assert_eq!(lookup_user("root").unwrap(), Some((0, 0)));
        assert_eq!(lookup_uid(0).unwrap(), Some(0));
        assert_eq!(lookup_group("root").unwrap(), Some(0));
        assert_eq!(lookup_user("gwd-no-such-user-x").unwrap(), None);
        assert_eq!(lookup_group("gwd-no-such-group-x").unwrap(), None);
    }
}
