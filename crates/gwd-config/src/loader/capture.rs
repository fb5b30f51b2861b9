//! `capture` entries of a frontend (HAProxy's `capture request|response
//! header` and `declare capture`) and the `capture` action of
//! `http-request`/`http-response` rules.
//!
//! The frontend's slots are read before its rules ([`Cx::captures`] holds
//! them while the section's rules are parsed), so an `http-request
//! capture ... len` rule appends its slot after the entries and an `id`
//! rule is checked against them; a backend's rules see no slots
//! (`len` is refused there, any `id` is accepted and checked at run time).

use gwd_sample::{CaptureDir, Expr};
use toml::de::DeTable;

use super::rules::RuleList;
use super::*;

/// The longest `len` accepted: a slot is allocated per request, so its
/// size stays bounded (HAProxy caps it by its buffer size).
const MAX_CAPTURE_LEN: i64 = 65536;

impl Cx<'_> {
    /// `capture = [ { request-header = "Host", len = 20 }, { response-header
    /// = "Server", len = 20 }, { declare = "request", len = 64 } ]`.
    pub(super) fn capture_entries(&mut self, v: &Val<'_>, path: &str) -> CaptureSlots {
        let mut slots = CaptureSlots::default();
        let Some(arr) = self.array(
            v,
            path,
            "write captures as `capture = [ { request-header = \"Host\", len = 20 } ]` (one entry per haproxy.cfg line)",
        ) else {
            return slots;
        };
        for (i, ev) in arr.iter().enumerate() {
            let ep = index(path, i);
            let Some(t) = self.table(
                ev,
                &ep,
                "write each capture as `{ request-header = \"Host\", len = 20 }`",
            ) else {
                continue;
            };
            if let Some((k, _)) = t.get_key_value("cookie") {
                self.error(
                    k.span().start,
                    &join(&ep, "cookie"),
                    "`capture cookie` is not supported yet",
                    help("capture the whole header: `{ request-header = \"Cookie\", len = 64 }`, or log `%[req.cook(<name>)]` in `log-format`"),
                );
                continue;
            }
            self.check_keys(
                t,
                &ep,
                "a `capture` entry",
                &["request-header", "response-header", "declare", "len"],
                &[],
                &|_| None,
            );
            let at = ev.span().start;
            let forms: Vec<_> = ["request-header", "response-header", "declare"]
                .into_iter()
                .filter_map(|k| t.get_key_value(k).map(|(key, v)| (k, key.span().start, v)))
                .collect();
            let (form, v) = match forms.as_slice() {
                [(form, _, v)] => (*form, *v),
                [] => {
                    self.error(
                        at,
                        &ep,
                        "a `capture` entry has no `request-header`, `response-header` or `declare`",
                        help("write `{ request-header = \"Host\", len = 20 }`"),
                    );
                    continue;
                }
                [_, (form, key_at, _), ..] => {
                    self.error(
                        *key_at,
                        &join(&ep, form),
                        "a `capture` entry has one of `request-header`, `response-header` and `declare`",
                        help("write one entry per haproxy.cfg `capture` line"),
                    );
                    continue;
                }
            };
            let len = self
                .required(t, at, &ep, "len", "a `capture` entry", "20")
                .and_then(|lv| self.capture_len(lv, &join(&ep, "len")));
            let fp = join(&ep, form);
            let (dir, header) = match form {
                "declare" => match self.string(v, &fp, "`\"request\"`") {
                    Some("request") => (CaptureDir::Request, None),
                    Some("response") => (CaptureDir::Response, None),
                    Some(other) => {
                        self.error(
                            v.span().start,
                            &fp,
                            format!("invalid capture direction `{other}`"),
                            help("write `declare = \"request\"` or `declare = \"response\"`"),
                        );
                        continue;
                    }
                    None => continue,
                },
                _ => {
                    let Some(name) = self.header_name(v, &fp) else {
                        continue;
                    };
                    let dir = if form == "request-header" {
                        CaptureDir::Request
                    } else {
                        CaptureDir::Response
                    };
                    (dir, Some(name.to_ascii_lowercase()))
                }
            };
            let Some(len) = len else { continue };
            let slot = CaptureSlot { header, len };
            match dir {
                CaptureDir::Request => slots.request.push(slot),
                CaptureDir::Response => slots.response.push(slot),
            }
        }
        slots
    }

    fn capture_len(&mut self, v: &Val<'_>, path: &str) -> Option<usize> {
        let n = self.integer(v, path, "`len = 20`")?;
        if (1..=MAX_CAPTURE_LEN).contains(&n) {
            usize::try_from(n).ok()
        } else {
            self.error(
                v.span().start,
                path,
                format!("invalid capture length `{n}`"),
                help(format!(
                    "a capture keeps 1 to {MAX_CAPTURE_LEN} bytes of the value"
                )),
            );
            None
        }
    }

    /// The `capture` action: `{ action = "capture", expr = "...", len = 20 }`
    /// (`http-request`, frontends) or `id = 0`.
    pub(super) fn capture_action(
        &mut self,
        t: &DeTable<'_>,
        at: usize,
        path: &str,
        rl: RuleList,
    ) -> Option<HttpRequestAction> {
        let what = "`capture` rule";
        let ev = self.required(t, at, path, "expr", what, "\"req.hdr(host)\"")?;
        let ep = join(path, "expr");
        let text = self.string(ev, &ep, "`\"req.hdr(host)\"`")?;
        let expr = match Expr::parse_in(text, &mut self.env(ev)) {
            Ok(e) => e,
            Err(e) => {
                self.expr_error(ev, &ep, "expression", &e);
                return None;
            }
        };
        let dir = if rl == RuleList::Request {
            CaptureDir::Request
        } else {
            CaptureDir::Response
        };
        let side = if dir == CaptureDir::Request {
            "request"
        } else {
            "response"
        };
        match (t.get("len"), t.get_key_value("id")) {
            (Some(_), Some((k, _))) => {
                self.error(
                    k.span().start,
                    &join(path, "id"),
                    "a `capture` rule has `len` (a new slot) or `id` (a declared one), not both",
                    help("keep one of them"),
                );
                None
            }
            (Some(lv), None) => {
                let lp = join(path, "len");
                if rl != RuleList::Request {
                    self.error(
                        lv.span().start,
                        &lp,
                        "an http-response `capture` rule takes `id`, not `len`",
                        help("declare the slot in the frontend: `capture = [ { declare = \"response\", len = 20 } ]`, then `id = <its number>` (HAProxy's rule)"),
                    );
                    return None;
                }
                let len = self.capture_len(lv, &lp)?;
                let Some(slots) = self.captures.as_mut() else {
                    self.error(
                        lv.span().start,
                        &lp,
                        "a backend's `capture` rule cannot add a slot (`len`)",
                        help("declare the slot in the frontend (`capture = [ { declare = \"request\", len = 20 } ]`) and name it with `id`"),
                    );
                    return None;
                };
                slots.request.push(CaptureSlot { header: None, len });
                Some(HttpRequestAction::Capture {
                    expr,
                    id: slots.request.len() - 1,
                })
            }
            (None, Some((_, iv))) => {
                let ip = join(path, "id");
                let n = self.integer(iv, &ip, "`id = 0`")?;
                let declared = self.captures.as_ref().map(|c| c.of(dir).len());
                let id = usize::try_from(n).ok();
                match (id, declared) {
                    (Some(id), None) => Some(HttpRequestAction::Capture { expr, id }),
                    (Some(id), Some(d)) if id < d => Some(HttpRequestAction::Capture { expr, id }),
                    _ => {
                        self.error(
                            iv.span().start,
                            &ip,
                            format!("no {side} capture slot `{n}`"),
                            help(format!(
                                "the frontend declares {} {side} slot(s), numbered from 0 in the order of its `capture` entries",
                                declared.unwrap_or(0)
                            )),
                        );
                        None
                    }
                }
            }
            (None, None) => {
                self.error(
                    at,
                    path,
                    "a `capture` rule has no `len` or `id`",
                    help("add `len = 20` (a new slot) or `id = 0` (a declared one)"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::{CaptureSlot, HttpRequestAction, parse_str};

    const CAPTURES: &str = r#"
[frontend.www]
bind = [ { addr = "127.0.0.1:8080" } ]
capture = [
  { request-header = "Host", len = 5 },
  { response-header = "Server", len = 40 },
  { request-header = "User-Agent", len = 40 },
  { declare = "response", len = 4 },
]
http-request = [ { action = "capture", expr = "req.hdr(x-a)", len = 3 }, { action = "capture", expr = "src", id = 0 } ]
http-response = [ { action = "capture", expr = "res.hdr(x-res)", id = 1 } ]
default_backend = "app"

[backend.app]
http-request = [ { action = "capture", expr = "path", id = 9 } ]
server = [ { name = "s", addr = "127.0.0.1:9000" } ]
"#;

    fn slot(header: Option<&str>, len: usize) -> CaptureSlot {
        CaptureSlot {
            header: header.map(Into::into),
            len,
        }
    }

    #[test]
    fn slots_in_declaration_order_then_rules() {
        let cfg = parse_str(CAPTURES, Path::new("gw.toml")).unwrap();
        let c = &cfg.frontends[0].captures;
        assert_eq!(
            c.request,
            [
                slot(Some("host"), 5),
                slot(Some("user-agent"), 40),
                slot(None, 3)
            ]
        );
        assert_eq!(c.response, [slot(Some("server"), 40), slot(None, 4)]);
        let ids: Vec<_> = cfg.frontends[0]
            .http_request
            .iter()
            .chain(&cfg.frontends[0].http_response)
            .chain(&cfg.backends[0].http_request)
            .map(|r| match &r.action {
                HttpRequestAction::Capture { id, .. } => *id,
                other => panic!("{other:?}"),
            })
            .collect();
        // A backend's `id` is checked at run time against the request's
        // frontend.
        assert_eq!(ids, [2, 0, 1, 9]);
    }

    fn error(cfg: &str) -> String {
        parse_str(cfg, Path::new("gw.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn bad_captures_are_explained() {
        let e = error(&CAPTURES.replace("id = 1 }", "id = 2 }"));
        assert!(e.contains("no response capture slot `2`"), "{e}");
        assert!(e.contains("declares 2 response slot(s)"), "{e}");
        let e = error(&CAPTURES.replace("expr = \"path\", id = 9", "expr = \"path\", len = 9"));
        assert!(
            e.contains("a backend's `capture` rule cannot add a slot"),
            "{e}"
        );
        let e = error(&CAPTURES.replace("x-res)\", id = 1", "x-res)\", len = 1"));
        assert!(e.contains("takes `id`, not `len`"), "{e}");
        let e = error(&CAPTURES.replace("len = 5", "len = 0"));
        assert!(e.contains("invalid capture length `0`"), "{e}");
        let e = error(&CAPTURES.replace(
            "{ declare = \"response\", len = 4 }",
            "{ cookie = \"SID\", len = 4 }",
        ));
        assert!(e.contains("`capture cookie` is not supported yet"), "{e}");
        let e = error(&CAPTURES.replace("declare = \"response\"", "declare = \"both\""));
        assert!(e.contains("invalid capture direction `both`"), "{e}");
        let e =
            error(&CAPTURES.replace("Host\", len = 5", "Host\", declare = \"request\", len = 5"));
        assert!(e.contains("has one of `request-header`"), "{e}");
        let e = error(&CAPTURES.replace(
            "{ request-header = \"Host\", len = 5 }",
            "{ request-header = \"Host\" }",
        ));
        assert!(e.contains("has no `len`"), "{e}");
        let e = error(&CAPTURES.replace("len = 3 }", "len = 3, id = 0 }"));
        assert!(e.contains("not both"), "{e}");
        let e = error(&CAPTURES.replace("expr = \"src\", id = 0", "expr = \"src\""));
        assert!(e.contains("no `len` or `id`"), "{e}");
        let e = error(&CAPTURES.replace(
            "[backend.app]\n",
            "[backend.app]\ncapture = [ { request-header = \"Host\", len = 5 } ]\n",
        ));
        assert!(e.contains("`capture` is a frontend setting"), "{e}");
        let e = error(&CAPTURES.replace(
            "default_backend = \"app\"",
            "default_backend = \"app\"\ndeclare = \"capture request len 5\"",
        ));
        assert!(e.contains("`declare capture` is a `capture` entry"), "{e}");
    }
}
