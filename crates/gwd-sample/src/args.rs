//! Argument lists of fetches and converters: `name(a,b,...)`.

use crate::error::{ParseErrorKind, Perr};

/// One parsed argument, quotes and escapes resolved.
#[derive(Debug)]
pub(crate) struct Arg {
    pub text: String,
    /// Byte offset of the argument in the top-level source.
    pub pos: usize,
}

/// Parses `( ... )` starting at `open` (which holds `(`) and ending no later
/// than `end`. Returns the arguments and the offset just past `)`.
///
/// Arguments are separated by `,`; a backslash escapes `,` `(` `)` `\`
/// quotes and space, and is kept before any other character (`\1`, `\.`);
/// `"..."` and `'...'` group text (commas and parentheses inside are literal);
/// unquoted leading and trailing blanks are dropped; balanced unquoted
/// parentheses are kept literally (`regsub(^/(a|b)/,x)`). `()` is an empty list.
pub(crate) fn parse_args(src: &str, open: usize, end: usize) -> Result<(Vec<Arg>, usize), Perr> {
    let mut args = Vec::new();
    let mut i = open + 1;
    let bytes = src.as_bytes();
    loop {
        while i < end && (bytes[i] == b' ' || bytes[i] == b'\t') {
            i += 1;
        }
        let pos = i;
        let mut text = String::new();
        let mut keep = 0usize; // length of text that must survive right-trimming
        let mut touched = false;
        let mut depth = 0usize; // unquoted nested parentheses, kept literally
        let closer = loop {
            if i >= end {
                return Err(Perr::new(ParseErrorKind::Unclosed, open, "unclosed `(`")
                    .help("close the argument list with `)`"));
            }
            let c = src[i..].chars().next().unwrap_or(' ');
            match c {
                '\\' => {
                    touched = true;
                    i += 1;
                    match src[i..end].chars().next() {
                        Some(n @ (',' | '(' | ')' | '\\' | '"' | '\'' | ' ')) => {
                            text.push(n);
                            i += n.len_utf8();
                        }
                        _ => text.push('\\'),
                    }
                    keep = text.len();
                }
                '"' | '\'' => {
                    touched = true;
                    let qpos = i;
                    i += 1;
                    loop {
                        let Some(n) = src[i..end].chars().next() else {
                            return Err(Perr::new(
                                ParseErrorKind::Unclosed,
                                qpos,
                                format!("unclosed quote `{c}`"),
                            ));
                        };
                        i += n.len_utf8();
                        if n == c {
                            break;
                        }
                        if n == '\\' && c == '"' {
                            if let Some(m) = src[i..end].chars().next() {
                                text.push(m);
                                i += m.len_utf8();
                            }
                            continue;
                        }
                        text.push(n);
                    }
                    keep = text.len();
                }
                ',' | ')' if depth == 0 => break c,
                c => {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    text.push(c);
                    i += c.len_utf8();
                    if !c.is_whitespace() {
                        keep = text.len();
                    }
                }
            }
        };
        text.truncate(keep);
        i += 1;
        if closer == ')' && args.is_empty() && text.is_empty() && !touched {
            return Ok((args, i));
        }
        args.push(Arg { text, pos });
        if closer == ')' {
            return Ok((args, i));
        }
    }
}

/// Validation helpers over one call's arguments.
pub(crate) struct Call<'a> {
    pub name: &'a str,
    pub pos: usize,
    pub args: &'a [Arg],
    pub usage: &'a str,
}

impl Call<'_> {
    pub fn count(&self, min: usize, max: usize) -> Result<(), Perr> {
        let n = self.args.len();
        if n < min {
            let what = if min == max {
                format!("{min}")
            } else {
                format!("at least {min}")
            };
            let s = if min == 1 { "" } else { "s" };
            return Err(Perr::new(
                ParseErrorKind::BadArgs,
                self.pos,
                format!("`{}` expects {what} argument{s}, got {n}", self.name),
            )
            .help(format!("usage: {}", self.usage)));
        }
        if n > max {
            let msg = if max == 0 {
                format!("`{}` takes no argument", self.name)
            } else {
                format!(
                    "`{}` expects at most {max} argument{}, got {n}",
                    self.name,
                    if max == 1 { "" } else { "s" }
                )
            };
            return Err(Perr::new(ParseErrorKind::BadArgs, self.args[max].pos, msg)
                .help(format!("usage: {}", self.usage)));
        }
        Ok(())
    }

    /// Argument `i` as text, if present.
    pub fn str(&self, i: usize) -> Option<&str> {
        self.args.get(i).map(|a| a.text.as_str())
    }

    /// Argument `i` as non-empty text (required).
    pub fn nonempty(&self, i: usize, what: &str) -> Result<&str, Perr> {
        match self.args.get(i) {
            Some(a) if !a.text.is_empty() => Ok(&a.text),
            Some(a) => Err(self.bad(
                a.pos,
                format!("`{}` expects {what}, got an empty argument", self.name),
            )),
            None => Err(self.bad(self.pos, format!("`{}` expects {what}", self.name))),
        }
    }

    /// Argument `i` as an integer; `None` when absent or empty.
    pub fn int(&self, i: usize) -> Result<Option<i64>, Perr> {
        match self.args.get(i) {
            None => Ok(None),
            Some(a) if a.text.is_empty() => Ok(None),
            Some(a) => a.text.parse::<i64>().map(Some).map_err(|_| {
                Perr::new(
                    ParseErrorKind::BadInt,
                    a.pos,
                    format!("`{}`: invalid integer `{}`", self.name, a.text),
                )
                .help(format!("usage: {}", self.usage))
            }),
        }
    }

    pub fn bad(&self, pos: usize, msg: String) -> Perr {
        Perr::new(ParseErrorKind::BadArgs, pos, msg).help(format!("usage: {}", self.usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> (Vec<String>, usize) {
        let (a, e) = parse_args(s, 0, s.len()).unwrap();
        (a.into_iter().map(|a| a.text).collect(), e)
    }

    #[test]
    fn splits_trims_and_unquotes() {
        assert_eq!(texts("()"), (vec![], 2));
        assert_eq!(texts("( )"), (vec![], 3));
        assert_eq!(texts("(a)"), (vec!["a".into()], 3));
        assert_eq!(texts("( a , b )x"), (vec!["a".into(), "b".into()], 9));
        assert_eq!(texts("(1,)"), (vec!["1".into(), "".into()], 4));
        assert_eq!(texts("(1,\" \")"), (vec!["1".into(), " ".into()], 7));
        assert_eq!(texts("(\\,,')(')"), (vec![",".into(), ")(".into()], 9));
        assert_eq!(texts("(\"\")"), (vec!["".into()], 4));
        assert_eq!(texts("((a,b),c)"), (vec!["(a,b)".into(), "c".into()], 9));
        assert_eq!(texts(r"(\.\1\\)"), (vec![r"\.\1\".into()], 8));
    }

    #[test]
    fn unclosed() {
        let e = parse_args("(a,b", 0, 4).unwrap_err();
        assert_eq!((e.kind, e.pos), (ParseErrorKind::Unclosed, 0));
        let e = parse_args("(a,'b)", 0, 6).unwrap_err();
        assert_eq!((e.kind, e.pos), (ParseErrorKind::Unclosed, 3));
    }
}
