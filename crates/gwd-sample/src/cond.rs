//! Conditions: `if`/`unless` expressions over ACLs.

use std::sync::Arc;

use crate::acl::{AclBody, Acls, NamedAcl, parse_body};
use crate::context::SampleContext;
use crate::error::{ParseError, ParseErrorKind, Perr, suggest};
use crate::expr::Expr;
use crate::lex::Lexer;
use crate::maps::ParseEnv;

#[derive(Clone, Debug)]
enum AclRef {
    Named(NamedAcl),
    Inline(Arc<AclBody>),
}

#[derive(Clone, Debug)]
struct Term {
    neg: bool,
    acl: AclRef,
}

impl Term {
    fn eval(&self, ctx: &dyn SampleContext) -> bool {
        let v = match &self.acl {
            AclRef::Named(n) => n.eval(ctx),
            AclRef::Inline(b) => b.eval(ctx),
        };
        v != self.neg
    }
}

/// A compiled condition: ACL names and inline `{ ... }` bodies, each
/// optionally negated with `!`, AND-ed by juxtaposition and OR-ed with
/// `||` / `or` (AND binds tighter; there are no parentheses).
///
/// The condition holds its own reference-counted copy of the ACL bodies it
/// uses, so it does not borrow the [`Acls`] it was parsed with.
///
/// ```
/// use gwd_sample::{Acls, Condition, SampleContext};
///
/// struct Req(&'static str);
/// impl SampleContext for Req {
///     fn path(&self) -> Option<&str> { Some(self.0) }
/// }
///
/// let mut acls = Acls::new();
/// acls.define("static", "path_beg /static/ /img/").unwrap();
/// let c = Condition::parse("static !{ path_end .map } || { path /favicon.ico }", &acls).unwrap();
/// assert!(c.eval(&Req("/static/app.js")));
/// assert!(!c.eval(&Req("/static/app.js.map")));
/// assert!(c.eval(&Req("/favicon.ico")));
/// assert!(!c.clone().negate().eval(&Req("/favicon.ico")));
///
/// let err = Condition::parse("statik", &acls).unwrap_err();
/// assert_eq!(err.help.as_deref(), Some("did you mean `static`?"));
/// ```
#[derive(Clone, Debug)]
pub struct Condition {
    groups: Box<[Box<[Term]>]>,
    negated: bool,
}

impl Condition {
    /// Parses a condition (the text after `if` / `unless`) against `acls`
    /// and the predefined ACLs.
    ///
    /// Inline ACLs with pattern files (`{ src -f blocked.acl }`) need map
    /// access: use [`Condition::parse_in`].
    pub fn parse(s: &str, acls: &Acls) -> Result<Condition, ParseError> {
        Self::parse_in(s, acls, &mut ParseEnv::none())
    }

    /// [`Condition::parse`] with pattern and map files reached through `env`.
    pub fn parse_in(s: &str, acls: &Acls, env: &mut ParseEnv<'_>) -> Result<Condition, ParseError> {
        parse_cond(s, acls, env).map_err(|e| e.finish(s))
    }

    /// The negated condition (for `unless`).
    #[must_use]
    pub fn negate(mut self) -> Condition {
        self.negated = !self.negated;
        self
    }

    /// Every sample expression the condition evaluates (those of its
    /// inline ACLs and of every body of its named ACLs), in order, with
    /// repeats. The configuration uses it to check where a condition may be
    /// used ([`Expr::scope`]).
    ///
    /// ```
    /// use gwd_sample::{Acls, Condition, FetchScope};
    ///
    /// let mut acls = Acls::new();
    /// acls.define("local", "src 127.0.0.1").unwrap();
    /// let c = Condition::parse("local !{ ssl_c_used } || METH_GET", &acls).unwrap();
    /// let names: Vec<&str> = c.exprs().map(|e| e.fetch_name()).collect();
    /// assert_eq!(names, ["src", "ssl_c_used", "method"]);
    /// assert!(c.exprs().any(|e| e.scope() == FetchScope::Request));
    /// ```
    pub fn exprs(&self) -> impl Iterator<Item = &Expr> {
        self.groups.iter().flat_map(|g| g.iter()).flat_map(
            |t| -> Box<dyn Iterator<Item = &Expr> + '_> {
                match &t.acl {
                    AclRef::Named(n) => Box::new(n.bodies.iter().map(|b| b.expr())),
                    AclRef::Inline(b) => Box::new(std::iter::once(b.expr())),
                }
            },
        )
    }

    /// The groups that `http_auth_group(<userlist>) <groups>` ACLs of the
    /// condition match, as `(userlist, group)` pairs, for the
    /// configuration to check that each userlist declares them.
    ///
    /// ```
    /// use gwd_sample::{Acls, Condition};
    ///
    /// let c = Condition::parse("{ http_auth_group(admins) ops dev }", &Acls::new()).unwrap();
    /// let pairs: Vec<(&str, &str)> = c.auth_groups().collect();
    /// assert_eq!(pairs, [("admins", "ops"), ("admins", "dev")]);
    /// ```
    pub fn auth_groups(&self) -> impl Iterator<Item = (&str, &str)> {
        self.groups.iter().flat_map(|g| g.iter()).flat_map(
            |t| -> Box<dyn Iterator<Item = (&str, &str)> + '_> {
                let bodies: Box<dyn Iterator<Item = &crate::acl::AclBody>> = match &t.acl {
                    AclRef::Named(n) => Box::new(n.bodies.iter().map(|b| &**b)),
                    AclRef::Inline(b) => Box::new(std::iter::once(&**b)),
                };
                Box::new(bodies.flat_map(|b| {
                    let list = b.expr().userlist().unwrap_or_default();
                    b.auth_groups().iter().map(move |g| (list, &**g))
                }))
            },
        )
    }

    /// Evaluates the condition; ACLs whose fetch finds no sample are false.
    pub fn eval(&self, ctx: &dyn SampleContext) -> bool {
        let v = self.groups.iter().any(|g| g.iter().all(|t| t.eval(ctx)));
        v != self.negated
    }
}

fn unknown_acl(name: &str, pos: usize, acls: &Acls) -> Perr {
    let msg = format!("unknown ACL `{name}`");
    let help = if name == "if" || name == "unless" {
        format!("`{name}` is not part of the condition; pass only what follows it")
    } else if name.starts_with('{') || name.ends_with('}') {
        "braces of inline ACLs must be separate words: `{ path /a }`".to_string()
    } else if let Some(s) = suggest(
        name,
        acls.names()
            .chain(Acls::predefined_names().map(|n| -> &str { n })),
    ) {
        format!("did you mean `{s}`?")
    } else if acls.is_empty() {
        "no ACL is defined in this proxy; define it with `acl`, or use an inline `{ ... }` condition".to_string()
    } else {
        format!(
            "defined ACLs: {}",
            acls.names().collect::<Vec<_>>().join(", ")
        )
    };
    Perr::new(ParseErrorKind::UnknownAcl, pos, msg).help(help)
}

fn parse_cond(s: &str, acls: &Acls, env: &mut ParseEnv<'_>) -> Result<Condition, Perr> {
    let mut lx = Lexer::new(s);
    let mut groups: Vec<Vec<Term>> = vec![Vec::new()];
    let mut neg: Option<usize> = None; // position of a pending `!`
    let mut last_or: Option<(usize, &str)> = None;
    while let Some(w) = lx.word()? {
        let cur = groups.last_mut().expect("at least one group");
        if !w.quoted {
            match w.text.as_str() {
                "||" | "or" => {
                    if let Some(p) = neg {
                        return Err(Perr::new(
                            ParseErrorKind::Syntax,
                            p,
                            "`!` must be followed by an ACL",
                        ));
                    }
                    if cur.is_empty() {
                        return Err(Perr::new(
                            ParseErrorKind::Syntax,
                            w.pos,
                            format!("`{}` needs a condition on its left", w.text),
                        ));
                    }
                    groups.push(Vec::new());
                    last_or = Some((w.pos, if w.text == "or" { "or" } else { "||" }));
                    continue;
                }
                "}" => return Err(Perr::new(ParseErrorKind::Syntax, w.pos, "unexpected `}`")),
                _ => {}
            }
        }
        let mut name = w.text.as_str();
        let mut pos = w.pos;
        let mut negate = neg.take().is_some();
        if !w.quoted {
            while let Some(rest) = name.strip_prefix('!') {
                negate = !negate;
                name = rest;
                pos += 1;
            }
            if name.is_empty() {
                if negate {
                    neg = Some(w.pos);
                }
                continue;
            }
            if name == "{" {
                let body = parse_body(&mut lx, Some(pos), env)?;
                cur.push(Term {
                    neg: negate,
                    acl: AclRef::Inline(Arc::new(body)),
                });
                continue;
            }
        }
        let acl = acls
            .lookup(name)
            .ok_or_else(|| unknown_acl(name, pos, acls))?;
        cur.push(Term {
            neg: negate,
            acl: AclRef::Named(acl),
        });
    }
    if let Some(p) = neg {
        return Err(Perr::new(
            ParseErrorKind::Syntax,
            p,
            "`!` must be followed by an ACL",
        ));
    }
    if groups.last().is_some_and(Vec::is_empty) {
        return Err(match last_or {
            Some((p, op)) => Perr::new(
                ParseErrorKind::Syntax,
                p,
                format!("`{op}` needs a condition on its right"),
            ),
            None => Perr::new(
                ParseErrorKind::Empty,
                s.len() - s.trim_start().len(),
                "empty condition",
            )
            .help("name an ACL, e.g. `is_api`, or write an inline one: `{ path_beg /api }`"),
        });
    }
    Ok(Condition {
        groups: groups.into_iter().map(Vec::into_boxed_slice).collect(),
        negated: false,
    })
}
