//! `[global]` keys for running as a service: `pidfile`, `user`/`uid`,
//! `group`/`gid`, `chroot`. What they resolve to, and their errors with
//! file:line:col, key path and help.

mod common;

use common::{err, ok, temp_files};
use gwd_config::*;

#[test]
fn service_keys_resolve() {
    let dir = temp_files(&[]);
    let d = dir.path().display();
    let c = ok(&format!(
        r#"[global]
pidfile = "{d}/gwd.pid"
user = "nobody"
group = "daemon"
chroot = "{d}"
"#
    ));
    let g = &c.global;
    assert_eq!(g.pidfile.as_deref(), Some(dir.join("gwd.pid").as_path()));
    assert_eq!(g.chroot.as_deref(), Some(dir.path()));
    let u = g.user.as_ref().unwrap();
    assert_eq!(u.id, AccountId::Name("nobody".into()));
    assert_eq!(u.key_path, "global.user");
    assert_eq!((u.location.line, u.location.column), (3, 8));
    let gr = g.group.as_ref().unwrap();
    assert_eq!(gr.id, AccountId::Name("daemon".into()));
    assert_eq!(gr.key_path, "global.group");
    assert_eq!((gr.location.line, gr.location.column), (4, 9));
}

#[test]
fn numbers_and_defaults() {
    let c = ok("[global]\nuid = 65534\ngid = 0\n");
    let g = &c.global;
    assert_eq!(g.user.as_ref().unwrap().id, AccountId::Number(65534));
    assert_eq!(g.user.as_ref().unwrap().key_path, "global.uid");
    assert_eq!(g.group.as_ref().unwrap().id, AccountId::Number(0));
    assert_eq!(g.pidfile, None);
    assert_eq!(g.chroot, None);

    // None of them by default: gwd stays who it was started as.
    let c = ok("[global]\nnbthread = 1\n");
    assert!(c.global.user.is_none() && c.global.group.is_none());
    assert!(c.global.pidfile.is_none() && c.global.chroot.is_none());

    // A pidfile in the current directory (the tests run in the crate's).
    let c = ok("[global]\npidfile = \"gwd.pid\"\n");
    assert_eq!(c.global.pidfile.as_deref(), Some("gwd.pid".as_ref()));
}

#[test]
fn service_key_errors() {
    let dir = temp_files(&["file"]);
    let d = dir.path().display();
    let text = format!(
        r#"[global]
pidfile = "{d}/missing/gwd.pid"
chroot = "{d}/file"
user = "nobody"
uid = 65534
group = ""
"#
    );
    assert_eq!(
        err(&text),
        format!(
            r#"error: the directory of `pidfile` `{d}/missing/gwd.pid` cannot be used: `{d}/missing`: no such file
  --> gw.toml:2:11 (global.pidfile)
  help: create the directory first (systemd: `RuntimeDirectory=gwd` makes /run/gwd), or choose another path

error: cannot use `chroot` directory `{d}/file`: it is not a directory
  --> gw.toml:3:10 (global.chroot)
  help: create an empty directory owned by root, e.g. `/var/empty`

error: `user` and `uid` are both set
  --> gw.toml:5:7 (global.uid)
  help: keep one: `user` names the account, `uid` gives its number

error: invalid `group` ``: it is empty
  --> gw.toml:6:9 (global.group)
  help: write the name of an existing group, or its number as `gid`"#
        )
    );
}

#[test]
fn service_key_types_and_ranges() {
    let dir = temp_files(&[]);
    let d = dir.path().display();
    let text = format!(
        r#"[global]
pidfile = "{d}"
chroot = "{d}/nowhere"
uid = -1
gid = 4294967295
"#
    );
    assert_eq!(
        err(&text),
        format!(
            r#"error: `pidfile` `{d}` is a directory
  --> gw.toml:2:11 (global.pidfile)
  help: name a file in it, e.g. `"/run/gwd/gwd.pid"`

error: cannot use `chroot` directory `{d}/nowhere`: no such file
  --> gw.toml:3:10 (global.chroot)
  help: create an empty directory owned by root, e.g. `/var/empty`

error: `uid` must be between 0 and 4294967294, found -1
  --> gw.toml:4:7 (global.uid)
  help: or name the account with `user`

error: `gid` must be between 0 and 4294967294, found 4294967295
  --> gw.toml:5:7 (global.gid)
  help: or name the account with `group`"#
        )
    );

    let text = "[global]\nuser = 0\ngroup = \"a b\"\npidfile = \"\"\n";
    assert_eq!(
        err(text),
        r#"error: `user` must be a string, found an integer
  --> gw.toml:2:8 (global.user)
  help: write it as `user = "gwd"`

error: invalid `group` `a b`: account names have no `:` and no spaces
  --> gw.toml:3:9 (global.group)
  help: write the name of an existing group, or its number as `gid`

error: `pidfile` is empty
  --> gw.toml:4:11 (global.pidfile)
  help: write the path of the file, e.g. `"/run/gwd/gwd.pid"`"#
    );
}

#[test]
fn service_keys_belong_in_global() {
    let text = r#"user = "gwd"
[frontend.www]
bind = [ { addr = ":8080" } ]
pidfile = "/run/gwd.pid"
"#;
    assert_eq!(
        err(text),
        r#"error: `user` is not allowed in the top level
  --> gw.toml:1:1 (user)
  help: `user` must be inside the `[global]` section

error: `pidfile` is not allowed in frontend `www`
  --> gw.toml:4:1 (frontend.www.pidfile)
  help: `pidfile` is a `[global]` setting: move it there"#
    );
}
