//! `[global]` keys for running as a service: `pidfile`, `user`/`uid`,
//! `group`/`gid`, `chroot`.
//!
//! What can be checked without the account database is checked here (the
//! paths exist, numbers are in range, a name and a number are not both
//! given); the binary looks the names up, at check and at start.

use std::path::{Path, PathBuf};

use toml::de::DeTable;

use super::*;

/// The largest uid or gid accepted: `(uid_t)-1` means "unchanged" to the
/// kernel, so it cannot name an account.
const MAX_ID: i64 = u32::MAX as i64 - 1;

impl Cx<'_> {
    /// Reads the service keys of the `[global]` table `t` into `g`.
    pub(super) fn process_keys(&mut self, t: &DeTable<'_>, g: &mut Global) {
        if let Some(v) = t.get("pidfile") {
            g.pidfile = self.pidfile(v, "global.pidfile");
        }
        if let Some(v) = t.get("chroot") {
            g.chroot = self.chroot(v, "global.chroot");
        }
        g.user = self.account(t, "user", "uid", "`user = \"gwd\"`", "`uid = 990`");
        g.group = self.account(t, "group", "gid", "`group = \"gwd\"`", "`gid = 990`");
    }

    /// `pidfile`: a file path whose directory exists (gwd creates the
    /// file, it does not create directories).
    fn pidfile(&mut self, v: &Val<'_>, path: &str) -> Option<PathBuf> {
        let s = self.string(v, path, "`pidfile = \"/run/gwd/gwd.pid\"`")?;
        let at = v.span().start;
        if s.is_empty() {
            self.error(
                at,
                path,
                "`pidfile` is empty",
                help("write the path of the file, e.g. `\"/run/gwd/gwd.pid\"`"),
            );
            return None;
        }
        let p = PathBuf::from(s);
        if p.is_dir() {
            self.error(
                at,
                path,
                format!("`pidfile` `{s}` is a directory"),
                help("name a file in it, e.g. `\"/run/gwd/gwd.pid\"`"),
            );
            return None;
        }
        let dir = pidfile_dir(&p);
        let reason = match std::fs::metadata(dir) {
            Err(e) => Some(io_reason(&e)),
            Ok(m) if !m.is_dir() => Some("it is not a directory".to_owned()),
            Ok(_) => None,
        };
        match reason {
            None => Some(p),
            Some(r) => {
                self.error(
                    at,
                    path,
                    format!(
                        "the directory of `pidfile` `{s}` cannot be used: `{}`: {r}",
                        dir.display()
                    ),
                    help(
                        "create the directory first (systemd: `RuntimeDirectory=gwd` makes \
                         /run/gwd), or choose another path",
                    ),
                );
                None
            }
        }
    }

    /// `chroot`: an existing directory.
    fn chroot(&mut self, v: &Val<'_>, path: &str) -> Option<PathBuf> {
        let s = self.string(v, path, "`chroot = \"/var/empty\"`")?;
        let at = v.span().start;
        if s.is_empty() {
            self.error(
                at,
                path,
                "`chroot` is empty",
                help("write the path of an existing directory, e.g. `\"/var/empty\"`"),
            );
            return None;
        }
        let reason = match std::fs::metadata(s) {
            Err(e) => Some(io_reason(&e)),
            Ok(m) if !m.is_dir() => Some("it is not a directory".to_owned()),
            Ok(_) => None,
        };
        match reason {
            None => Some(PathBuf::from(s)),
            Some(r) => {
                self.error(
                    at,
                    path,
                    format!("cannot use `chroot` directory `{s}`: {r}"),
                    help("create an empty directory owned by root, e.g. `/var/empty`"),
                );
                None
            }
        }
    }

    /// `user`/`uid` or `group`/`gid`: at most one of the two keys.
    fn account(
        &mut self,
        t: &DeTable<'_>,
        name_key: &str,
        number_key: &str,
        name_example: &str,
        number_example: &str,
    ) -> Option<Account> {
        let by_name = t.get(name_key);
        let by_number = t.get(number_key);
        if let (Some(_), Some(n)) = (by_name, by_number) {
            self.error(
                n.span().start,
                &join("global", number_key),
                format!("`{name_key}` and `{number_key}` are both set"),
                help(format!(
                    "keep one: `{name_key}` names the account, `{number_key}` gives its number"
                )),
            );
            return None;
        }
        if let Some(v) = by_name {
            let p = join("global", name_key);
            let s = self.string(v, &p, name_example)?;
            let at = v.span().start;
            if let Some(why) = bad_account_name(s) {
                self.error(
                    at,
                    &p,
                    format!("invalid `{name_key}` `{}`: {why}", s.escape_debug()),
                    help(format!(
                        "write the name of an existing {name_key}, or its number as `{number_key}`"
                    )),
                );
                return None;
            }
            return Some(Account {
                id: AccountId::Name(s.to_owned()),
                location: self.location(at),
                key_path: p,
            });
        }
        let v = by_number?;
        let p = join("global", number_key);
        let at = v.span().start;
        match self.integer(v, &p, number_example)? {
            n if (0..=MAX_ID).contains(&n) => Some(Account {
                id: AccountId::Number(u32::try_from(n).ok()?),
                location: self.location(at),
                key_path: p,
            }),
            n => {
                self.error(
                    at,
                    &p,
                    format!("`{number_key}` must be between 0 and {MAX_ID}, found {n}"),
                    help(format!("or name the account with `{name_key}`")),
                );
                None
            }
        }
    }
}

/// The directory a pidfile is created in (`"gwd.pid"` is in `.`).
fn pidfile_dir(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Why `s` cannot be a user or group name, if it cannot.
fn bad_account_name(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        Some("it is empty")
    } else if s.contains('\0') {
        Some("it contains a NUL character")
    } else if s.contains(':') || s.contains(char::is_whitespace) {
        Some("account names have no `:` and no spaces")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfile_dirs() {
        assert_eq!(pidfile_dir(Path::new("gwd.pid")), Path::new("."));
        assert_eq!(pidfile_dir(Path::new("run/gwd.pid")), Path::new("run"));
        assert_eq!(pidfile_dir(Path::new("/gwd.pid")), Path::new("/"));
        assert_eq!(
            pidfile_dir(Path::new("/run/gwd/gwd.pid")),
            Path::new("/run/gwd")
        );
    }

    #[test]
    fn account_names() {
        assert_eq!(bad_account_name("gwd"), None);
        assert_eq!(bad_account_name("_gwd-1.x"), None);
        assert!(bad_account_name("").is_some());
        assert!(bad_account_name("a b").is_some());
        assert!(bad_account_name("a:b").is_some());
        assert!(bad_account_name("a\0").is_some());
    }
}
