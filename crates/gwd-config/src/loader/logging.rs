//! Logging keys: `log` (in `[global]`, `[defaults]`, frontends and listen
//! sections), `log-format`, `option.httplog`, `option.dontlognull`,
//! `option.log-separate-errors`, `unique-id-format`, `unique-id-header`.

use std::sync::Arc;

use gwd_log::{LogLine, LogTarget, parse_log_line};
use gwd_sample::LogFormat;

use super::*;

/// Logging keys a section sets (`None` = not set here).
#[derive(Clone, Debug, Default)]
pub(super) struct LogOverrides {
    lines: Option<Vec<LogLine>>,
    /// `Some(None)`: `option.httplog = true` (the default line again).
    format: Option<Option<LogFormat>>,
    dontlognull: Option<bool>,
    separate_errors: Option<bool>,
    unique_id_format: Option<LogFormat>,
    unique_id_header: Option<String>,
}

/// Logging settings inherited from `[defaults]`.
#[derive(Clone, Debug, Default)]
pub(super) struct LogInherited {
    lines: Vec<LogLine>,
    format: Option<LogFormat>,
    dontlognull: bool,
    separate_errors: bool,
    unique_id_format: Option<LogFormat>,
    unique_id_header: Option<String>,
}

impl LogInherited {
    pub(super) fn with(&self, o: &LogOverrides) -> LogInherited {
        LogInherited {
            lines: o.lines.clone().unwrap_or_else(|| self.lines.clone()),
            format: o.format.clone().unwrap_or_else(|| self.format.clone()),
            dontlognull: o.dontlognull.unwrap_or(self.dontlognull),
            separate_errors: o.separate_errors.unwrap_or(self.separate_errors),
            unique_id_format: o
                .unique_id_format
                .clone()
                .or_else(|| self.unique_id_format.clone()),
            unique_id_header: o
                .unique_id_header
                .clone()
                .or_else(|| self.unique_id_header.clone()),
        }
    }

    /// The frontend's settings, `log global` replaced by the global targets.
    pub(super) fn resolve(&self, global: &[Arc<LogTarget>]) -> Arc<Logging> {
        let mut targets = Vec::new();
        for l in &self.lines {
            match l {
                LogLine::Global => targets.extend(global.iter().cloned()),
                LogLine::Target(t) => targets.push(Arc::new(t.clone())),
            }
        }
        Arc::new(Logging {
            targets,
            format: self.format.clone(),
            dontlognull: self.dontlognull,
            separate_errors: self.separate_errors,
            unique_id_format: self.unique_id_format.clone(),
            unique_id_header: self.unique_id_header.clone(),
        })
    }
}

impl Cx<'_> {
    /// `log = "..."` or `log = ["...", ...]`: HAProxy's `log` lines, the
    /// words after `log`.
    pub(super) fn log_lines(&mut self, v: &Val<'_>, path: &str, global: bool) -> Vec<LogLine> {
        let one = std::slice::from_ref(v);
        let items = match v.get_ref() {
            DeValue::Array(a) => a.as_ref(),
            DeValue::String(_) => one,
            _ => {
                self.type_error(
                    v,
                    path,
                    "an array of strings",
                    help("write `log = [\"127.0.0.1:514 local0\"]` (one string per `log` line)"),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for item in items {
            let Some(s) = self.string(item, path, "`\"127.0.0.1:514 local0\"`") else {
                continue;
            };
            match parse_log_line(s) {
                Ok(LogLine::Global) if global => self.error(
                    item.span().start,
                    path,
                    "`log global` means the `[global]` targets: it has no place in `[global]`",
                    help("name a target there: `\"127.0.0.1:514 local0\"`"),
                ),
                Ok(l) => out.push(l),
                Err(e) => {
                    let at = self.string_char_pos(item, s[..e.at.min(s.len())].chars().count() + 1);
                    self.error(at, path, format!("invalid log line: {}", e.msg), e.help);
                }
            }
        }
        out
    }

    /// The global targets.
    pub(super) fn global_log(&mut self, t: &DeTable<'_>) -> Vec<Arc<LogTarget>> {
        let Some(v) = t.get("log") else {
            return Vec::new();
        };
        self.log_lines(v, "global.log", true)
            .into_iter()
            .filter_map(|l| match l {
                LogLine::Target(t) => Some(Arc::new(t)),
                LogLine::Global => None,
            })
            .collect()
    }

    fn access_log_format(&mut self, v: &Val<'_>, path: &str) -> Option<LogFormat> {
        let s = self.string(v, path, "`\"%ci:%cp [%tr] %ft %b/%s %ST %{+Q}r\"`")?;
        match LogFormat::parse_log_in(s, &mut self.env(v)) {
            Ok(f) => Some(f),
            Err(e) => {
                self.expr_error(v, path, "log-format string", &e);
                None
            }
        }
    }

    /// The logging keys of a defaults/frontend/listen table (`get` sees
    /// only the keys valid in the section) and of its `option` table.
    pub(super) fn log_overrides(
        &mut self,
        t: &DeTable<'_>,
        valid: &[&str],
        opts: Option<&DeTable<'_>>,
        path: &str,
    ) -> LogOverrides {
        let get = |k: &str| if valid.contains(&k) { t.get(k) } else { None };
        let mut o = LogOverrides::default();
        if let Some(v) = get("log") {
            o.lines = Some(self.log_lines(v, &join(path, "log"), false));
        }
        if let Some(opts) = opts {
            let p = join(path, "option");
            if let Some(v) = opts.get("httplog")
                && self.boolean(v, &join(&p, "httplog")) == Some(true)
            {
                o.format = Some(None);
            }
            if let Some(v) = opts.get("dontlognull") {
                o.dontlognull = self.boolean(v, &join(&p, "dontlognull"));
            }
            if let Some(v) = opts.get("log-separate-errors") {
                o.separate_errors = self.boolean(v, &join(&p, "log-separate-errors"));
            }
        }
        if let Some(v) = get("log-format")
            && let Some(f) = self.access_log_format(v, &join(path, "log-format"))
        {
            o.format = Some(Some(f));
        }
        if let Some(v) = get("unique-id-format") {
            o.unique_id_format = self.access_log_format(v, &join(path, "unique-id-format"));
        }
        if let Some(v) = get("unique-id-header") {
            o.unique_id_header = self.header_name(v, &join(path, "unique-id-header"));
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::{LogDest, parse_str};

    const BASE: &str = r#"
[global]
log = ["127.0.0.1:5514 local0", "/dev/log format rfc5424 local1 notice"]

[defaults]
log = "global"
option.dontlognull = true
unique-id-format = "%{+X}o %ci:%cp_%fi:%fp_%Ts_%rt:%pid"
unique-id-header = "X-Unique-ID"

[frontend.www]
bind = [ { addr = "127.0.0.1:8080" } ]
log-format = "%ci [%tr] %ST %ID %{+Q}r"

[frontend.quiet]
bind = [ { addr = "127.0.0.1:8081" } ]
log = []
option.log-separate-errors = true
"#;

    #[test]
    fn log_global_inherits_and_sections_override() {
        let cfg = parse_str(BASE, Path::new("gw.toml")).unwrap();
        assert_eq!(cfg.global.log.len(), 2);
        let www = &cfg.frontends[0].log;
        assert_eq!(www.targets.len(), 2);
        assert_eq!(
            www.targets[0].target,
            LogDest::Udp("127.0.0.1:5514".parse().unwrap())
        );
        assert!(www.format.is_some() && www.dontlognull);
        assert_eq!(www.unique_id_header.as_deref(), Some("X-Unique-ID"));
        assert!(www.unique_id_format.is_some());
        let quiet = &cfg.frontends[1].log;
        assert!(quiet.targets.is_empty() && quiet.format.is_none());
        assert!(quiet.separate_errors && quiet.dontlognull);
    }

    #[test]
    fn errors_name_the_key_and_column() {
        let bad = BASE.replace("%ST %ID", "%ST %Tx");
        let e = parse_str(&bad, Path::new("gw.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown log-format variable `%Tx`"), "{e}");
        assert!(e.contains("frontend.www.log-format"), "{e}");
        assert!(e.contains("gw.toml:13:29"), "{e}");
        let bad = BASE.replace("local1 notice", "local1 loud");
        let e = parse_str(&bad, Path::new("gw.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown level `loud`"), "{e}");
        assert!(e.contains("gw.toml:3:65"), "{e}");
        let bad = BASE.replace(
            "log = \"global\"",
            "log = \"127.0.0.1:514 format json local0\"",
        );
        let e = parse_str(&bad, Path::new("gw.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`format json` is not a log framing"), "{e}");
        assert!(e.contains("%{+json}o"), "{e}");
        let bad = BASE.replace("[global]\nlog = [", "[global]\nlog = [\"global\", ");
        let e = parse_str(&bad, Path::new("gw.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no place in `[global]`"), "{e}");
    }
}
