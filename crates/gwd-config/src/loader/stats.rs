//! The stats page of a frontend (`stats = { uri, refresh, auth, realm,
//! hide-version }`) and `http-request use-service`.

use toml::de::DeValue;

use super::*;

/// Default `stats.uri` (HAProxy's).
pub(super) const DEFAULT_STATS_URI: &str = "/haproxy?stats";
/// Default `stats.realm`.
pub(super) const DEFAULT_STATS_REALM: &str = "gwd statistics";

/// HAProxy `stats` keywords gwd has no equivalent for, with why.
fn stats_misplaced(key: &str) -> Option<String> {
    match key {
        "enable" => Some(
            "the `stats` table itself enables the page: remove `enable` (set `uri` to choose \
             where it is served)"
                .to_owned(),
        ),
        "admin" | "scope" | "show-desc" | "show-legends" | "show-node" | "show-modules"
        | "http-request" | "bind-process" => Some(format!(
            "`stats {key}` is not supported by gwd; the page shows every proxy, read-only"
        )),
        "socket" | "timeout" | "maxconn" => Some(
            "the runtime API is `stats-socket` in `[global]`, not part of the stats page"
                .to_owned(),
        ),
        _ => None,
    }
}

impl Cx<'_> {
    /// `stats = { ... }` of a frontend or listen section; `at` is where the
    /// `stats` key was written.
    pub(super) fn stats_page(&mut self, at: usize, v: &Val<'_>, path: &str) -> Option<StatsPage> {
        let t = self.table(
            v,
            path,
            "write it as `stats = { uri = \"/stats\", auth = [\"admin:secret\"] }`",
        )?;
        let errors_before = self.error_count();
        self.check_keys(
            t,
            path,
            "the `stats` table",
            STATS_KEYS,
            &[],
            &stats_misplaced,
        );
        let mut page = StatsPage {
            uri: DEFAULT_STATS_URI.to_owned(),
            refresh: None,
            auth: Vec::new(),
            realm: DEFAULT_STATS_REALM.to_owned(),
            hide_version: false,
            location: self.location(at),
        };
        if let Some(uv) = t.get("uri") {
            let up = join(path, "uri");
            if let Some(u) = self.string(uv, &up, "`\"/stats\"`") {
                if u.starts_with('/') && !u.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    page.uri = u.to_owned();
                } else {
                    self.error(
                        uv.span().start,
                        &up,
                        format!("invalid stats uri `{u}`"),
                        help(
                            "write a path starting with `/` and without blanks, e.g. `\"/stats\"`",
                        ),
                    );
                }
            }
        }
        if let Some(rv) = t.get("refresh") {
            // 0 disables the refresh, like leaving the key out.
            page.refresh = self
                .duration(rv, &join(path, "refresh"))
                .filter(|d| !d.is_zero());
        }
        if let Some(av) = t.get("auth") {
            page.auth = self.stats_auth(av, &join(path, "auth"));
        }
        if let Some(rv) = t.get("realm")
            && let Some(r) = self.realm(rv, &join(path, "realm"))
        {
            page.realm = r;
        }
        if let Some(hv) = t.get("hide-version")
            && let Some(b) = self.boolean(hv, &join(path, "hide-version"))
        {
            page.hide_version = b;
        }
        (self.error_count() == errors_before).then_some(page)
    }

    /// The realm of a `401` (`stats.realm`, `http-request auth`): it goes
    /// between the quotes of `WWW-Authenticate: Basic realm="..."`.
    pub(super) fn realm(&mut self, v: &Val<'_>, path: &str) -> Option<String> {
        let r = self.string(v, path, "`\"gwd statistics\"`")?;
        if r.is_empty() || r.chars().any(|c| c.is_control() || c == '"' || c == '\\') {
            self.error(
                v.span().start,
                path,
                format!("invalid realm `{}`", r.escape_debug()),
                help("write a non-empty text without `\"`, `\\` or control characters"),
            );
            return None;
        }
        Some(r.to_owned())
    }

    /// `auth`: `"user:password"` or an array of them.
    fn stats_auth(&mut self, v: &Val<'_>, path: &str) -> Vec<StatsUser> {
        let items: Vec<(&Val<'_>, String)> = match v.get_ref() {
            DeValue::String(_) => vec![(v, path.to_owned())],
            DeValue::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, e)| (e, index(path, i)))
                .collect(),
            _ => {
                self.type_error(
                    v,
                    path,
                    "an array of strings",
                    help("write it as `auth = [\"admin:secret\"]`"),
                );
                return Vec::new();
            }
        };
        let mut users = Vec::new();
        for (e, p) in items {
            let Some(s) = self.string(e, &p, "`\"admin:secret\"`") else {
                continue;
            };
            match s.split_once(':') {
                Some((user, password)) if !user.is_empty() => users.push(StatsUser {
                    user: user.to_owned(),
                    password: password.to_owned(),
                }),
                _ => self.error(
                    e.span().start,
                    &p,
                    "a stats user must be written `user:password`",
                    help("write it as `\"admin:secret\"` (a non-empty user name, a colon, the password)"),
                ),
            }
        }
        users
    }

    /// The `service` of a `use-service` rule.
    pub(super) fn service(&mut self, v: &Val<'_>, path: &str) -> Option<HttpService> {
        let s = self.string(v, path, "`\"prometheus-exporter\"`")?;
        if let Some((_, svc)) = HttpService::ALL.iter().find(|(n, _)| *n == s) {
            return Some(*svc);
        }
        let names: Vec<&str> = HttpService::ALL.iter().map(|(n, _)| *n).collect();
        let h = match did_you_mean(s, names.iter().copied()) {
            Some(c) => format!("did you mean `\"{c}\"`?"),
            None => format!("the only service gwd provides is {}", list(&names)),
        };
        self.error(
            v.span().start,
            path,
            format!("unknown service `{s}`"),
            help(h),
        );
        None
    }
}
