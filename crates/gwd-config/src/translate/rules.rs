//! `http-request`, `http-response`, `http-after-response` and
//! `tcp-request` lines, and the section-level `redirect`: one rule table
//! per line, as docs/CONFIG.md's translation table shows.

use super::emit::V;
use super::words::Word;
use super::{Cx, Outcome, put};

/// The words of a rule before its condition, and its `if`/`unless`
/// table entry, taken from the line as written.
pub(super) fn split_condition<'w>(
    cx: &Cx<'_>,
    words: &'w [Word],
) -> (&'w [Word], Option<(String, V)>) {
    // As written: a quoted "if" is a value, not the condition.
    match words
        .iter()
        .position(|w| cx.is_bare(w, "if") || cx.is_bare(w, "unless"))
    {
        Some(i) => {
            let cond = cx.raw_after(&words[i]);
            (&words[..i], Some((words[i].text.clone(), V::s(cond))))
        }
        None => (words, None),
    }
}

/// One rule line (`words[0]` is the action), in the rule family
/// `family` (`http-request`, `http-response`, ...).
pub(super) fn rule(cx: &Cx<'_>, family: &str, words: &[Word]) -> Result<V, Outcome> {
    let (words, cond) = split_condition(cx, words);
    let Some((action, args)) = words.split_first() else {
        return Err(Outcome::Bad(format!("`{family}` needs an action")));
    };
    let mut t: Vec<(String, V)> = Vec::new();
    let a = action.text.as_str();
    let arg = |i: usize| -> Result<String, Outcome> {
        args.get(i)
            .map(|w| w.text.clone())
            .ok_or_else(|| Outcome::Bad(format!("`{family} {a}` is missing an argument")))
    };
    // `set-var(txn.x)` and friends carry their variable in the action.
    if let Some((name, var)) = a
        .split_once('(')
        .and_then(|(n, rest)| rest.strip_suffix(')').map(|v| (n, v)))
        && matches!(name, "set-var" | "set-var-fmt" | "unset-var")
    {
        t.push(("action".into(), V::s(name)));
        t.push(("var".into(), V::s(var)));
        match name {
            "set-var" => t.push(("expr".into(), V::s(join(args)))),
            "set-var-fmt" => t.push(("format".into(), V::s(join(args)))),
            _ => {}
        }
        return Ok(finish(t, cond));
    }
    t.push(("action".into(), V::s(a)));
    match a {
        "deny" | "tarpit" => {
            let mut i = 0;
            while i < args.len() {
                match args[i].text.as_str() {
                    "deny_status" => {
                        put(&mut t, "status", V::int_or_str(&arg(i + 1)?));
                        i += 2;
                    }
                    other => return Err(unsupported_option(family, a, other)),
                }
            }
        }
        "set-header" | "add-header" => {
            t.push(("name".into(), V::s(arg(0)?)));
            t.push(("value".into(), V::s(join(&args[1..]))));
        }
        "del-header" => {
            t.push(("name".into(), V::s(arg(0)?)));
            if args.len() > 1 {
                return Err(unsupported_option(family, a, &args[1].text));
            }
        }
        "replace-header" | "replace-value" => {
            t.push(("name".into(), V::s(arg(0)?)));
            t.push(("regex".into(), V::s(arg(1)?)));
            t.push(("value".into(), V::s(arg(2)?)));
        }
        "set-path" | "set-pathq" | "set-uri" | "set-query" | "set-method" => {
            t.push(("value".into(), V::s(join(args))));
        }
        "replace-path" | "replace-pathq" | "replace-uri" => {
            t.push(("regex".into(), V::s(arg(0)?)));
            t.push(("value".into(), V::s(arg(1)?)));
        }
        "set-status" => {
            t.push(("status".into(), V::int_or_str(&arg(0)?)));
            if args.get(1).is_some_and(|w| w.text == "reason") {
                t.push(("reason".into(), V::s(arg(2)?)));
            }
        }
        "set-log-level" => t.push(("level".into(), V::s(arg(0)?))),
        "use-service" => t.push(("service".into(), V::s(arg(0)?))),
        "auth" => match args {
            [] => {}
            [r, realm] if r.text == "realm" => t.push(("realm".into(), V::s(realm.text.clone()))),
            _ => return Err(unsupported_option(family, a, &args[0].text)),
        },
        "capture" => {
            t.push(("expr".into(), V::s(arg(0)?)));
            match args.get(1).map(|w| w.text.as_str()) {
                Some(k @ ("len" | "id")) => t.push((k.into(), V::int_or_str(&arg(2)?))),
                _ => {
                    return Err(Outcome::Bad(format!(
                        "`{family} capture <sample>` needs `len <n>` or `id <n>`"
                    )));
                }
            }
        }
        "return" => ret(&mut t, family, args)?,
        "redirect" => redirect(&mut t, family, args)?,
        a if a.starts_with("set-map(")
            || a.starts_with("del-map(")
            || a.starts_with("add-acl(")
            || a.starts_with("del-acl(") =>
        {
            let (verb, rest) = a.split_once('(').unwrap_or((a, ""));
            t[0] = ("action".into(), V::s(verb));
            t.push(("map".into(), V::s(rest.trim_end_matches(')'))));
            t.push(("key".into(), V::s(arg(0)?)));
            if verb == "set-map" {
                t.push(("value".into(), V::s(arg(1)?)));
            }
        }
        other => {
            return Err(Outcome::NotSupported(format!(
                "the `{family}` action `{other}` is not supported yet"
            )));
        }
    }
    Ok(finish(t, cond))
}

/// `return [status <code>] [content-type <type>] [string|lf-string <text>] [hdr <name> <fmt>]...`
fn ret(t: &mut Vec<(String, V)>, family: &str, args: &[Word]) -> Result<(), Outcome> {
    let mut hdrs = Vec::new();
    let mut i = 0;
    let need = |i: usize| -> Result<String, Outcome> {
        args.get(i).map(|w| w.text.clone()).ok_or_else(|| {
            Outcome::Bad(format!(
                "`{family} return`: `{}` needs a value",
                args[i - 1].text
            ))
        })
    };
    while i < args.len() {
        match args[i].text.as_str() {
            "status" => put(t, "status", V::int_or_str(&need(i + 1)?)),
            "content-type" => put(t, "content-type", V::s(need(i + 1)?)),
            "string" => put(t, "body", V::s(need(i + 1)?)),
            "lf-string" => put(t, "lf-body", V::s(need(i + 1)?)),
            "hdr" => {
                hdrs.push(V::Tab(vec![
                    ("name".into(), V::s(need(i + 1)?)),
                    ("value".into(), V::s(need(i + 2)?)),
                ]));
                i += 1;
            }
            "file" | "lf-file" | "errorfile" | "errorfiles" | "default-errorfiles" => {
                return Err(Outcome::NotSupported(format!(
                    "`{family} return {}` is not supported yet: write the body with `string`",
                    args[i].text
                )));
            }
            other => return Err(unsupported_option(family, "return", other)),
        }
        i += 2;
    }
    if !hdrs.is_empty() {
        t.push(("hdr".into(), V::Arr(hdrs)));
    }
    Ok(())
}

/// `redirect location|prefix|scheme <to> [code <n>] [drop-query] [append-slash] ...`
pub(super) fn redirect(
    t: &mut Vec<(String, V)>,
    family: &str,
    args: &[Word],
) -> Result<(), Outcome> {
    let mut i = 0;
    while i < args.len() {
        let k = args[i].text.as_str();
        let value = || -> Result<String, Outcome> {
            args.get(i + 1)
                .map(|w| w.text.clone())
                .ok_or_else(|| Outcome::Bad(format!("`{family} redirect`: `{k}` needs a value")))
        };
        match k {
            "location" | "prefix" | "scheme" | "set-cookie" | "clear-cookie" => {
                put(t, k, V::s(value()?));
                i += 2;
            }
            "code" => {
                put(t, "code", V::int_or_str(&value()?));
                i += 2;
            }
            "drop-query" | "append-slash" | "ignore-empty" => {
                put(t, k, V::Bool(true));
                i += 1;
            }
            other => return Err(unsupported_option(family, "redirect", other)),
        }
    }
    Ok(())
}

/// `tcp-request session|connection|content <action> ...`.
pub(super) fn tcp_request(cx: &Cx<'_>, words: &[Word]) -> Result<(String, V), Outcome> {
    let Some((phase, rest)) = words.split_first() else {
        return Err(Outcome::Bad("`tcp-request` needs a phase".into()));
    };
    match phase.text.as_str() {
        "session" | "connection" | "content" => {}
        "inspect-delay" => {
            let Some(d) = rest.first() else {
                return Err(Outcome::Bad(
                    "`tcp-request inspect-delay` needs a time".into(),
                ));
            };
            return Ok(("tcp-request.inspect-delay".into(), V::s(d.text.clone())));
        }
        other => {
            return Err(Outcome::NotSupported(format!(
                "`tcp-request {other}` is not supported yet"
            )));
        }
    }
    let family = format!("tcp-request {}", phase.text);
    let (words, cond) = split_condition(cx, rest);
    let Some((action, args)) = words.split_first() else {
        return Err(Outcome::Bad(format!("`{family}` needs an action")));
    };
    let mut t = vec![("action".into(), V::s(action.text.clone()))];
    match action.text.as_str() {
        "accept" | "reject" if args.is_empty() => {}
        "attach-srv" if phase.text == "session" => {
            let Some(server) = args.first() else {
                return Err(Outcome::Bad("`attach-srv` needs a server".into()));
            };
            t.push(("server".into(), V::s(server.text.clone())));
            let mut i = 1;
            while i < args.len() {
                match (args[i].text.as_str(), args.get(i + 1)) {
                    ("name", Some(v)) => t.push(("name".into(), V::s(v.text.clone()))),
                    (other, _) => {
                        return Err(unsupported_option(
                            "tcp-request session",
                            "attach-srv",
                            other,
                        ));
                    }
                }
                i += 2;
            }
        }
        other => {
            return Err(Outcome::NotSupported(format!(
                "the `{family}` action `{other}` is not supported yet"
            )));
        }
    }
    Ok((format!("tcp-request.{}", phase.text), finish(t, cond)))
}

fn finish(mut t: Vec<(String, V)>, cond: Option<(String, V)>) -> V {
    if let Some(c) = cond {
        t.push(c);
    }
    V::Tab(t)
}

/// Words joined by one space (an expression or format written as several
/// words, which HAProxy reads as one argument list).
fn join(words: &[Word]) -> String {
    words
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn unsupported_option(family: &str, action: &str, option: &str) -> Outcome {
    Outcome::NotSupported(format!(
        "`{family} {action}`: the option `{option}` is not supported yet"
    ))
}
