//! `[userlist.<name>]` sections (HAProxy's `userlist`), read before the
//! proxies so that `http_auth(<name>)` in their rules is checked against
//! them.

use toml::de::DeTable;

use super::*;
use crate::userlist::{Password, User, Userlist, hash_form};

impl Cx<'_> {
    /// Every `[userlist.<name>]`; their names go to `self.userlists`.
    pub(super) fn userlists(&mut self, v: &Val<'_>) -> Vec<Userlist> {
        let mut out: Vec<Userlist> = Vec::new();
        let Some(t) = self.table(
            v,
            "userlist",
            "each userlist is a named `[userlist.<name>]` section",
        ) else {
            return out;
        };
        for (k, lv) in t.iter() {
            let name: &str = k.get_ref();
            let path = join("userlist", name);
            if !valid_name(name) {
                self.error(
                    k.span().start,
                    &path,
                    format!("invalid userlist name `{name}`"),
                    help("names may contain letters, digits, `-`, `_`, `.` and `:`"),
                );
                continue;
            }
            let Some(lt) = self.table(
                lv,
                &path,
                "write `[userlist.<name>]` with `user = [ ... ]` and `group = [ ... ]`",
            ) else {
                continue;
            };
            if let Some(l) = self.userlist(name, lt, &path) {
                self.userlists.push((name.to_owned(), l.groups.clone()));
                out.push(l);
            }
        }
        out
    }

    fn userlist(&mut self, name: &str, t: &DeTable<'_>, path: &str) -> Option<Userlist> {
        let what = format!("userlist `{name}`");
        self.check_keys(t, path, &what, &["user", "group"], &[], &|_| None);
        let before = self.error_count();
        // Groups first: users name them.
        let mut groups: Vec<String> = Vec::new();
        let mut group_users: Vec<(String, String, usize, String)> = Vec::new();
        if let Some(gv) = t.get("group") {
            let gp = join(path, "group");
            for (i, e) in self
                .array(
                    gv,
                    &gp,
                    "write `group = [ { name = \"ops\", users = [\"bob\"] } ]`",
                )
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let ep = index(&gp, i);
                let Some(et) = self.table(e, &ep, "write `{ name = \"ops\", users = [\"bob\"] }`")
                else {
                    continue;
                };
                self.check_keys(et, &ep, "a `group` entry", &["name", "users"], &[], &|_| {
                    None
                });
                let Some(g) = self
                    .required(
                        et,
                        e.span().start,
                        &ep,
                        "name",
                        "a `group` entry",
                        "\"ops\"",
                    )
                    .and_then(|v| self.auth_name(v, &join(&ep, "name")))
                else {
                    continue;
                };
                if groups.contains(&g) {
                    self.error(
                        e.span().start,
                        &ep,
                        format!("group `{g}` is declared twice"),
                        help("merge the two entries"),
                    );
                    continue;
                }
                if let Some(uv) = et.get("users") {
                    let up = join(&ep, "users");
                    for (j, u) in self
                        .array(uv, &up, "write `users = [\"bob\", \"carol\"]`")
                        .unwrap_or_default()
                        .iter()
                        .enumerate()
                    {
                        let upj = index(&up, j);
                        if let Some(n) = self.auth_name(u, &upj) {
                            group_users.push((n, g.clone(), u.span().start, upj));
                        }
                    }
                }
                groups.push(g);
            }
        }
        let mut users: Vec<User> = Vec::new();
        if let Some(uv) = t.get("user") {
            let up = join(path, "user");
            for (i, e) in self
                .array(
                    uv,
                    &up,
                    "write `user = [ { name = \"alice\", password = \"$6$...\" } ]`",
                )
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let ep = index(&up, i);
                match self.user(e, &ep, &groups) {
                    Some(u) if users.iter().any(|x| x.name == u.name) => self.error(
                        e.span().start,
                        &ep,
                        format!("user `{}` is declared twice", u.name),
                        help("keep one entry per user"),
                    ),
                    Some(u) => users.push(u),
                    None => {}
                }
            }
        }
        for (user, group, at, p) in group_users {
            match users.iter_mut().find(|u| u.name == user) {
                Some(u) if !u.groups.contains(&group) => u.groups.push(group),
                Some(_) => {}
                None => self.error(
                    at,
                    &p,
                    format!("group `{group}` names user `{user}`, who is not in {what}"),
                    help("add the user to `user = [ ... ]` or leave it out of the group"),
                ),
            }
        }
        (self.error_count() == before).then(|| Userlist::new(name.to_owned(), users, groups))
    }

    fn user(&mut self, e: &Val<'_>, ep: &str, groups: &[String]) -> Option<User> {
        let et = self.table(e, ep, "write `{ name = \"alice\", password = \"$6$...\" }`")?;
        self.check_keys(
            et,
            ep,
            "a `user` entry",
            &["name", "password", "insecure-password", "groups"],
            &[],
            &|_| None,
        );
        let at = e.span().start;
        let name = self
            .required(et, at, ep, "name", "a `user` entry", "\"alice\"")
            .and_then(|v| self.auth_name(v, &join(ep, "name")));
        let password = match (et.get("password"), et.get_key_value("insecure-password")) {
            (Some(_), Some((k, _))) => {
                self.error(
                    k.span().start,
                    &join(ep, "insecure-password"),
                    "a user has `password` or `insecure-password`, not both",
                    help("keep `password` (a crypt(3) hash)"),
                );
                None
            }
            (Some(v), None) => {
                let p = join(ep, "password");
                let h = self.string(v, &p, "`\"$6$...\"`")?;
                if hash_form(h).is_some() {
                    Some(Password::Hash(h.to_owned()))
                } else {
                    self.error(
                        v.span().start,
                        &p,
                        "this password is not a crypt(3) hash gwd can verify",
                        help("use a `$6$` (sha512-crypt, `openssl passwd -6`), `$5$`, `$1$` or `$2b$`/`$2y$`/`$2a$` (bcrypt) hash, or `insecure-password` for clear text"),
                    );
                    None
                }
            }
            (None, Some((_, v))) => {
                let p = join(ep, "insecure-password");
                Some(Password::Clear(
                    self.string(v, &p, "`\"s3cret\"`")?.to_owned(),
                ))
            }
            (None, None) => {
                self.error(
                    at,
                    ep,
                    "a `user` entry has no `password`",
                    help("add `password = \"$6$...\"` (`openssl passwd -6` makes one) or `insecure-password = \"...\"`"),
                );
                None
            }
        };
        let mut member = Vec::new();
        if let Some(gv) = et.get("groups") {
            let gp = join(ep, "groups");
            for (j, g) in self
                .array(gv, &gp, "write `groups = [\"ops\"]`")
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let gpj = index(&gp, j);
                let Some(n) = self.auth_name(g, &gpj) else {
                    continue;
                };
                if groups.contains(&n) {
                    member.push(n);
                } else {
                    let h = match did_you_mean(&n, groups.iter().map(String::as_str)) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => "declare it: `group = [ { name = \"...\" } ]`".to_owned(),
                    };
                    self.error(
                        g.span().start,
                        &gpj,
                        format!("unknown group `{n}`"),
                        help(h),
                    );
                }
            }
        }
        Some(User {
            name: name?,
            password: password?,
            groups: member,
        })
    }

    /// A user or group name: no `:` (it ends the user in Basic
    /// credentials), no control character, not empty.
    fn auth_name(&mut self, v: &Val<'_>, path: &str) -> Option<String> {
        let s = self.string(v, path, "`\"alice\"`")?;
        if s.is_empty() || s.contains(':') || s.chars().any(char::is_control) {
            self.error(
                v.span().start,
                path,
                format!("invalid name `{s}`"),
                help("user and group names are not empty and have no `:` or control character"),
            );
            return None;
        }
        Some(s.to_owned())
    }

    /// Refuses `http_auth(<name>)` naming no userlist.
    pub(super) fn check_userlist_ref(
        &mut self,
        e: &gwd_sample::Expr,
        at: usize,
        path: &str,
    ) -> bool {
        let Some(name) = e.userlist() else {
            return true;
        };
        if self.userlists.iter().any(|(n, _)| n == name) {
            return true;
        }
        let h = match did_you_mean(name, self.userlists.iter().map(|(n, _)| n.as_str())) {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!("declare it: `[userlist.{name}]` with `user = [ ... ]`"),
        };
        self.error(at, path, format!("unknown userlist `{name}`"), help(h));
        false
    }

    /// Refuses a condition (of any rule list, `use_backend` included)
    /// whose `http_auth`/`http_auth_group` names no userlist, or a group
    /// its userlist does not declare.
    pub(super) fn check_condition_userlists(
        &mut self,
        c: &gwd_sample::Condition,
        at: usize,
        path: &str,
    ) {
        let mut reported: Vec<&str> = Vec::new();
        for e in c.exprs() {
            if let Some(list) = e.userlist()
                && !reported.contains(&list)
            {
                reported.push(list);
                self.check_userlist_ref(e, at, path);
            }
        }
        self.check_auth_groups(c, at, path);
    }

    /// Refuses `http_auth_group(<userlist>) <group>` naming a group the
    /// userlist does not declare (HAProxy: "invalid group"): such an ACL
    /// could never match, so a rule meant to let a group in would lock
    /// everyone out, or one meant to keep it out would do nothing.
    pub(super) fn check_auth_groups(&mut self, c: &gwd_sample::Condition, at: usize, path: &str) {
        let mut bad = Vec::new();
        for (list, group) in c.auth_groups() {
            let Some((_, groups)) = self.userlists.iter().find(|(n, _)| n == list) else {
                continue; // an unknown userlist is reported where it is used
            };
            if !groups.iter().any(|g| g == group) {
                let h = match did_you_mean(group, groups.iter().map(String::as_str)) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None if groups.is_empty() => format!(
                        "userlist `{list}` declares no group: add `group = [ {{ name = \"{group}\" }} ]`"
                    ),
                    None => format!(
                        "its groups are {}",
                        groups
                            .iter()
                            .map(|g| format!("`{g}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                bad.push((format!("userlist `{list}` has no group `{group}`"), h));
            }
        }
        for (msg, h) in bad {
            self.error(at, path, msg, help(h));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::{HttpRequestAction, Password, parse_str};

    const CFG: &str = r#"
[userlist.admins]
group = [ { name = "ops", users = ["bob"] }, { name = "dev" } ]
user = [
  { name = "alice", password = "$6$saltsalt$JV6rkFgxoWXPSBkfOn2dQke2iT8fL.OraqmFLrlj3mNwaz7tQuzY6l4KzwCrMKP0kIjIJ80/UJGSOOMLSkbB4/", groups = ["dev"] },
  { name = "bob", password = "$5$saltsalt$t7Kj8mIGBfDkYxgEzoewrJINMU5Jc9W3QvnyXvqEjH4" },
  { name = "dave", insecure-password = "plain" },
]

[frontend.www]
bind = [ { addr = "127.0.0.1:8080" } ]
acl.ok = "http_auth(admins)"
http-request = [
  { action = "auth", realm = "Admins area", unless = "ok" },
  { action = "auth", if = "!{ http_auth_group(admins) ops }" },
  { action = "return", status = 200, lf-body = "%[http_auth_group(admins)]" },
]
"#;

    #[test]
    fn userlists_load_with_their_groups() {
        let cfg = parse_str(CFG, Path::new("gw.toml")).unwrap();
        let l = &cfg.userlists[0];
        assert_eq!(l.name, "admins");
        assert_eq!(l.groups, ["ops", "dev"]);
        let u: Vec<_> = l
            .users
            .iter()
            .map(|u| (&u.name[..], &u.groups[..]))
            .collect();
        assert_eq!(u[0], ("alice", &["dev".to_string()][..]));
        assert_eq!(u[1], ("bob", &["ops".to_string()][..]));
        assert_eq!(l.users[2].password, Password::Clear("plain".into()));
        assert!(l.check_basic(b"bob:s3cret5").is_some());
        let realms: Vec<_> = cfg.frontends[0].http_request[..2]
            .iter()
            .map(|r| match &r.action {
                HttpRequestAction::Auth { realm } => realm.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(realms, [Some("Admins area".to_string()), None]);
    }

    fn error(cfg: &str) -> String {
        parse_str(cfg, Path::new("gw.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn bad_userlists_are_explained() {
        // An unknown userlist in a `use_backend` condition (it used to be
        // checked in `http-request` rules only).
        let e = error(&CFG.replace(
            "[frontend.www]",
            "[frontend.www]\nuse_backend = [ { backend = \"b\", if = \"{ http_auth(nouser) }\" } ]",
        ));
        assert!(e.contains("unknown userlist `nouser`"), "{e}");
        // A group the userlist does not declare (HAProxy 2.6: "invalid
        // group"): the ACL could never match.
        let e = error(&CFG.replace(
            "http_auth_group(admins) ops }",
            "http_auth_group(admins) opz }",
        ));
        assert!(e.contains("userlist `admins` has no group `opz`"), "{e}");
        assert!(e.contains("did you mean `ops`?"), "{e}");
        let e = error(&CFG.replace("$5$saltsalt$t7Kj", "$5$saltsalt$t7K"));
        assert!(e.contains("not a crypt(3) hash gwd can verify"), "{e}");
        assert!(e.contains("userlist.admins.user[1].password"), "{e}");
        let e = error(&CFG.replace("groups = [\"dev\"]", "groups = [\"devs\"]"));
        assert!(
            e.contains("unknown group `devs`") && e.contains("did you mean `dev`?"),
            "{e}"
        );
        let e = error(&CFG.replace("users = [\"bob\"]", "users = [\"bobby\"]"));
        assert!(
            e.contains("names user `bobby`, who is not in userlist `admins`"),
            "{e}"
        );
        let e = error(&CFG.replace("http_auth(admins)", "http_auth(admin)"));
        assert!(
            e.contains("unknown userlist `admin`") && e.contains("`admins`"),
            "{e}"
        );
        let e = error(&CFG.replace(
            "insecure-password = \"plain\"",
            "insecure-password = \"plain\", password = \"x\"",
        ));
        assert!(e.contains("not both"), "{e}");
        let e = error(&CFG.replace(
            "{ name = \"dave\", insecure-password = \"plain\" }",
            "{ name = \"bob\", insecure-password = \"plain\" }",
        ));
        assert!(e.contains("user `bob` is declared twice"), "{e}");
        let e = error(&CFG.replace("name = \"dave\"", "name = \"da:ve\""));
        assert!(e.contains("invalid name `da:ve`"), "{e}");
        let e = error(&CFG.replace("realm = \"Admins area\"", "realm = \"a\\\"b\""));
        assert!(e.contains("invalid realm"), "{e}");
        let e = error(&CFG.replace(
            "{ name = \"dave\", insecure-password = \"plain\" }",
            "{ name = \"dave\" }",
        ));
        assert!(e.contains("has no `password`"), "{e}");
    }
}
