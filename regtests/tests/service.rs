//! Running as a service, black-box: the pidfile, systemd's readiness
//! notifications, the switch to `user`/`group` after binding, `chroot`,
//! and `gwd check` as `ExecStartPre`.
//!
//! The switch itself needs root: run as root (as CI does), the tests
//! check the running process's ids in /proc; run as another user, they
//! check that gwd refuses to start instead of serving as the wrong user.

use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use gwd_regtests::client::Client;
use gwd_regtests::{Gwd, WAIT, run_gwd, run_gwd_with, scratch_dir};

/// A frontend that answers by itself (no backend to start).
const SITE: &str = r#"
[frontend.www]
bind = [ { addr = "127.0.0.1:0" } ]
timeout.client = "30s"
http-request = [ { action = "return", status = 200, body = "up" } ]
"#;

#[allow(unsafe_code)]
fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// `nobody`'s uid and primary gid, from `id`.
fn nobody() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, "nobody"]).output().unwrap();
        assert!(out.status.success(), "id {flag} nobody failed");
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    (id("-u"), id("-g"))
}

async fn answers(gwd: &Gwd) {
    let (status, _, body) = Client::h1(gwd.addr("www", 0)).await.get("x", "/").await;
    assert_eq!((status, body.as_str()), (200, "up"));
}

fn recv(rx: &UnixDatagram) -> String {
    let mut buf = [0u8; 1024];
    let n = rx
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("no notification within {WAIT:?}: {e}"));
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

#[tokio::test]
async fn pidfile_holds_the_pid_and_goes_at_a_clean_stop() {
    let dir = scratch_dir("pidfile");
    std::fs::create_dir(dir.join("run")).unwrap();
    let pidfile = dir.join("run/gwd.pid");
    // A stale file from a crash is replaced.
    std::fs::write(&pidfile, "999999\n").unwrap();
    let mut gwd = Gwd::start(&format!(
        "[global]\npidfile = \"{}\"\n{SITE}",
        pidfile.display()
    ));
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap(),
        format!("{}\n", gwd.pid())
    );
    answers(&gwd).await;
    gwd.signal(libc::SIGTERM);
    assert!(gwd.wait_exit().success());
    assert!(!pidfile.exists(), "pidfile left after a clean stop");
    assert_eq!(gwd.stderr.count(|l| l.contains("left in place")), 0);
}

#[tokio::test]
async fn notify_socket_hears_ready_reloading_then_stopping() {
    let dir = scratch_dir("notify");
    let path = dir.join("notify.sock");
    let rx = UnixDatagram::bind(&path).unwrap();
    rx.set_read_timeout(Some(WAIT)).unwrap();
    let mut gwd = Gwd::start_with(SITE, |c| {
        c.env("NOTIFY_SOCKET", &path);
    });
    let first = recv(&rx);
    assert!(first.lines().any(|l| l == "READY=1"), "{first:?}");
    // READY=1 means serving: a request sent now is answered.
    answers(&gwd).await;
    // A reload: RELOADING=1 with the monotonic clock, then READY=1 with
    // what it did (Type=notify-reload units wait for both).
    gwd.signal(libc::SIGHUP);
    let reloading = recv(&rx);
    assert!(
        reloading.lines().any(|l| l == "RELOADING=1"),
        "{reloading:?}"
    );
    assert!(
        reloading.lines().any(|l| l.starts_with("MONOTONIC_USEC=")),
        "{reloading:?}"
    );
    let ready = recv(&rx);
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    assert!(
        ready
            .lines()
            .any(|l| l.starts_with("STATUS=configuration reloaded in ")),
        "{ready:?}"
    );
    answers(&gwd).await;
    gwd.signal(libc::SIGTERM);
    let second = recv(&rx);
    assert!(second.lines().any(|l| l == "STOPPING=1"), "{second:?}");
    assert!(gwd.wait_exit().success());
    // Nothing else was sent.
    rx.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    assert!(rx.recv(&mut buf).is_err());
}

#[test]
fn check_refuses_unknown_user_and_group() {
    let dir = scratch_dir("check-user");
    let cfg = dir.join("gw.toml");
    std::fs::write(
        &cfg,
        format!("[global]\nuser = \"gwd-no-such-user\"\ngroup = \"gwd-no-such-group\"\n{SITE}"),
    )
    .unwrap();
    let path = cfg.display().to_string();
    let expected = format!(
        "error: unknown user `gwd-no-such-user`
  --> {path}:2:8 (global.user)
  help: create it (e.g. `useradd --system --no-create-home gwd`), or name an existing user
error: unknown group `gwd-no-such-group`
  --> {path}:3:9 (global.group)
  help: create it (e.g. `groupadd --system gwd`), or name an existing group
{path}: 2 error(s); configuration is invalid"
    );
    for args in [["check", "-f", &path], ["-c", "-f", &path]] {
        let (status, stdout, stderr) = run_gwd(&args);
        assert_eq!(status.code(), Some(1), "{args:?}");
        assert_eq!(stdout, "");
        assert_eq!(stderr, expected);
    }
    // The daemon refuses to start on it, before binding anything.
    let (status, _, stderr) = run_gwd(&["-f", &path]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("unknown user `gwd-no-such-user`"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("configuration is invalid; not starting"),
        "{stderr}"
    );
    assert!(!stderr.contains("gwd: listening"), "{stderr}");
}

/// `gwd check` as `ExecStartPre`: 0 on a valid service config, 2 without
/// a config.
#[test]
fn check_exit_codes() {
    let dir = scratch_dir("check-ok");
    let cfg = dir.join("gw.toml");
    let user = if euid() == 0 {
        "user = \"nobody\"\n"
    } else {
        ""
    };
    std::fs::write(
        &cfg,
        format!(
            "[global]\npidfile = \"{}\"\n{user}{SITE}",
            dir.join("gwd.pid").display()
        ),
    )
    .unwrap();
    let path = cfg.display().to_string();
    for args in [["check", "-f", &path], ["-c", "-f", &path]] {
        let (status, stdout, stderr) = run_gwd(&args);
        assert_eq!(status.code(), Some(0), "{args:?}: {stderr}");
        assert_eq!(stdout, format!("{path}: configuration is valid"));
    }
    // Checking writes nothing.
    assert!(!dir.join("gwd.pid").exists());
    let (status, _, _) = run_gwd(&["check"]);
    assert_eq!(status.code(), Some(2));
}

/// A free TCP port below 1024 on 127.0.0.1 (root only).
fn privileged_port() -> u16 {
    (900..1024)
        .rev()
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port below 1024")
}

/// Root binds a port below 1024, then serves as `nobody`: every thread's
/// real, effective, saved and file-system ids are nobody's, with no
/// supplementary group but nobody's own.
#[tokio::test]
async fn drops_to_the_user_after_binding() {
    if euid() != 0 {
        // Covered by `a_non_root_gwd_refuses_to_switch`.
        eprintln!("not root: the switch itself cannot be tested here");
        return;
    }
    let (uid, gid) = nobody();
    let dir = scratch_dir("drop");
    let pidfile = dir.join("gwd.pid");
    let port = privileged_port();
    let mut gwd = Gwd::start(&format!(
        r#"[global]
user = "nobody"
pidfile = "{}"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:{port}" }} ]
timeout.client = "30s"
http-request = [ {{ action = "return", status = 200, body = "up" }} ]
"#,
        pidfile.display()
    ));
    assert_eq!(gwd.addr("www", 0).port(), port);
    let pid = gwd.pid();
    gwd.stderr.wait_for("the switch", |l| {
        l == format!("gwd: running as uid={uid} gid={gid}")
    });
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    let mut n = 0;
    for t in tasks {
        let status = std::fs::read_to_string(t.unwrap().path().join("status")).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in {status}"))
                .split_whitespace()
                .map(|v| v.parse::<u32>().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(field("Uid:"), [uid; 4], "{status}");
        assert_eq!(field("Gid:"), [gid; 4], "{status}");
        assert_eq!(field("Groups:"), [gid], "{status}");
        n += 1;
    }
    assert!(n >= 1);
    answers(&gwd).await;
    gwd.signal(libc::SIGTERM);
    assert!(gwd.wait_exit().success());
    // The pidfile was written as root in a directory nobody cannot write:
    // it stays, and gwd says so.
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap(),
        format!("{pid}\n")
    );
    gwd.stderr.wait_for("the pidfile note", |l| {
        l.contains("gwd.pid left in place: Permission denied")
    });
}

/// A gwd that is not root (nor has CAP_SETUID/CAP_SETGID) and is asked to
/// switch users refuses, at check and at start, saying why. Run as root,
/// the test starts gwd as `nobody` to get there.
#[test]
fn a_non_root_gwd_refuses_to_switch() {
    let dir = scratch_dir("non-root");
    let cfg = dir.join("gw.toml");
    // Someone this process is not.
    let target = if euid() == 0 { "root" } else { "nobody" };
    std::fs::write(&cfg, format!("[global]\nuser = \"{target}\"\n{SITE}")).unwrap();
    let path = cfg.display().to_string();
    let as_nobody = |c: &mut Command| {
        if euid() == 0 {
            let (uid, gid) = nobody();
            c.uid(uid).gid(gid);
        }
    };
    let (status, stdout, stderr) = run_gwd_with(&["check", "-f", &path], as_nobody);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(stdout, "");
    assert!(
        stderr.starts_with("error: gwd runs as uid ")
            && stderr.contains(&format!(
                "without CAP_SETUID and CAP_SETGID: it cannot switch to user `{target}`"
            ))
            && stderr.contains(&format!("--> {path}:2:8 (global.user)")),
        "{stderr}"
    );
    let (status, _, stderr) = run_gwd_with(&["-f", &path], as_nobody);
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("it cannot switch to user"), "{stderr}");
    assert!(!stderr.contains("gwd: ready"), "{stderr}");
}

/// `chroot`: gwd serves from inside it, and still removes its pidfile
/// (outside the new root) at a clean stop.
#[tokio::test]
async fn chroot_after_binding() {
    if euid() != 0 {
        eprintln!("not root: chroot cannot be tested here");
        return;
    }
    let dir = scratch_dir("chroot");
    let jail = dir.join("empty");
    std::fs::create_dir(&jail).unwrap();
    let pidfile = dir.join("gwd.pid");
    let mut gwd = Gwd::start(&format!(
        "[global]\nchroot = \"{}\"\npidfile = \"{}\"\n{SITE}",
        jail.display(),
        pidfile.display()
    ));
    let root = std::fs::read_link(format!("/proc/{}/root", gwd.pid())).unwrap();
    assert_eq!(root, jail);
    let cwd = std::fs::read_link(format!("/proc/{}/cwd", gwd.pid())).unwrap();
    assert_eq!(cwd, jail);
    answers(&gwd).await;
    assert!(pidfile.exists());
    gwd.signal(libc::SIGTERM);
    assert!(gwd.wait_exit().success());
    assert!(!Path::new(&pidfile).exists(), "{:?}", gwd.stderr.all());
}
