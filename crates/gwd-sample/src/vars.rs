//! Variables: `set-var(<scope>.<name>)`, `unset-var(...)` and the
//! `var(<scope>.<name>)` fetch.
//!
//! A variable holds one typed sample (string, integer, boolean or
//! address: the type of the expression that set it, as HAProxy). Its
//! scope says how long it lives; the proxy keeps one [`Vars`] per scope
//! instance (process, connection, transaction) and answers
//! [`crate::SampleContext::var`].

use std::fmt;

use crate::sample::Sample;

/// Where a variable lives (HAProxy's scopes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VarScope {
    /// `proc`: the whole process, every connection.
    Proc,
    /// `sess`: one visitor connection, all its requests.
    Sess,
    /// `txn`: one request and its response.
    Txn,
    /// `req`: one request, while it is processed (gone once the response
    /// rules run).
    Req,
    /// `res`: one response, while it is processed.
    Res,
}

impl VarScope {
    /// The scope's prefix as written.
    pub fn as_str(self) -> &'static str {
        match self {
            VarScope::Proc => "proc",
            VarScope::Sess => "sess",
            VarScope::Txn => "txn",
            VarScope::Req => "req",
            VarScope::Res => "res",
        }
    }
}

/// A variable's full name: its scope and its name in that scope.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VarName {
    /// Its scope.
    pub scope: VarScope,
    /// Its name, without the scope.
    pub name: Box<str>,
}

impl VarName {
    /// Parses `<scope>.<name>` (`txn.user`); the name is letters, digits,
    /// `.` and `_` (HAProxy's). The error says what is wrong.
    ///
    /// ```
    /// use gwd_sample::{VarName, VarScope};
    /// let v = VarName::parse("txn.my.var").unwrap();
    /// assert_eq!((v.scope, &*v.name), (VarScope::Txn, "my.var"));
    /// assert!(VarName::parse("foo.x").is_err());
    /// assert!(VarName::parse("txn.").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<VarName, String> {
        let Some((scope, name)) = s.split_once('.') else {
            return Err(format!(
                "variable `{s}` has no scope: write `<scope>.<name>` with a scope among proc, sess, txn, req, res"
            ));
        };
        let scope = match scope {
            "proc" => VarScope::Proc,
            "sess" => VarScope::Sess,
            "txn" => VarScope::Txn,
            "req" => VarScope::Req,
            "res" => VarScope::Res,
            other => {
                return Err(format!(
                    "unknown variable scope `{other}`: use proc, sess, txn, req or res"
                ));
            }
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        {
            return Err(format!(
                "invalid variable name `{name}`: use letters, digits, `.` and `_`"
            ));
        }
        Ok(VarName {
            scope,
            name: name.into(),
        })
    }
}

impl fmt::Display for VarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.scope.as_str(), self.name)
    }
}

/// The variables of one scope instance. Few variables are expected: a
/// vector searched in order, no allocation until the first is set.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    vars: Vec<(VarName, Sample<'static>)>,
}

impl Vars {
    /// An empty set.
    pub fn new() -> Vars {
        Vars::default()
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &VarName) -> Option<&Sample<'static>> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Sets `name` to `value`, replacing any value it had.
    pub fn set(&mut self, name: &VarName, value: Sample<'_>) {
        let value = value.into_owned();
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value,
            None => self.vars.push((name.clone(), value)),
        }
    }

    /// Removes `name`.
    pub fn unset(&mut self, name: &VarName) {
        self.vars.retain(|(n, _)| n != name);
    }

    /// Removes every variable of `scope`.
    pub fn clear_scope(&mut self, scope: VarScope) {
        self.vars.retain(|(n, _)| n.scope != scope);
    }

    /// Whether no variable is set.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn set_get_unset_and_clear() {
        let x = VarName::parse("txn.x").unwrap();
        let y = VarName::parse("req.y").unwrap();
        let mut v = Vars::new();
        assert!(v.get(&x).is_none());
        v.set(&x, Sample::from("a"));
        v.set(&x, Sample::Int(3));
        v.set(&y, Sample::Bool(true));
        assert_eq!(v.get(&x), Some(&Sample::Int(3)));
        v.clear_scope(VarScope::Req);
        assert!(v.get(&y).is_none());
        v.unset(&x);
        assert!(v.is_empty());
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(
            VarName::parse("sess.a_b.c").unwrap().to_string(),
            "sess.a_b.c"
        );
        assert!(VarName::parse("x").is_err());
        assert!(VarName::parse("txn.a-b").is_err());
        assert!(VarName::parse("txn").is_err());
    }
}
