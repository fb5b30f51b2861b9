//! Word splitting for ACL bodies and conditions, HAProxy config-line style.
//!
//! Words are separated by whitespace. Outside single quotes a backslash
//! escapes a space, `\`, `"`, `'`, `#`, `$`, and `\n` `\r` `\t` `\xHH` are
//! recognised; any other backslash pair is kept as is (so regexes such as
//! `\.` survive). Single quotes are fully literal.

use crate::error::{ParseErrorKind, Perr};

/// One unquoted word with its byte span in the source.
#[derive(Debug)]
pub(crate) struct Word {
    pub text: String,
    pub pos: usize,
    /// True when any quote or escape was involved: such a word is never an
    /// operator or flag (`"||"` is a pattern).
    pub quoted: bool,
}

pub(crate) struct Lexer<'s> {
    pub src: &'s str,
    pub pos: usize,
}

impl<'s> Lexer<'s> {
    pub fn new(src: &'s str) -> Self {
        Lexer { src, pos: 0 }
    }

    pub fn skip_ws(&mut self) {
        let rest = &self.src[self.pos..];
        let trimmed = rest.trim_start();
        self.pos += rest.len() - trimmed.len();
    }

    /// Next word with quotes and escapes resolved.
    pub fn word(&mut self) -> Result<Option<Word>, Perr> {
        self.skip_ws();
        if self.pos >= self.src.len() {
            return Ok(None);
        }
        let start = self.pos;
        let mut text = String::new();
        let mut quoted = false;
        let mut quote: Option<(char, usize)> = None;
        let mut it = self.src[start..].char_indices().peekable();
        let mut end = self.src.len();
        while let Some((i, c)) = it.next() {
            match quote {
                None if c.is_whitespace() => {
                    end = start + i;
                    break;
                }
                None if c == '\'' || c == '"' => {
                    quote = Some((c, start + i));
                    quoted = true;
                }
                Some(('\'', _)) if c == '\'' => quote = None,
                Some(('\'', _)) => text.push(c),
                Some(('"', _)) if c == '"' => quote = None,
                _ if c == '\\' => {
                    quoted = true;
                    match it.peek().map(|&(_, n)| n) {
                        Some(n @ (' ' | '\\' | '"' | '\'' | '#' | '$')) => {
                            text.push(n);
                            it.next();
                        }
                        Some('n') => {
                            text.push('\n');
                            it.next();
                        }
                        Some('r') => {
                            text.push('\r');
                            it.next();
                        }
                        Some('t') => {
                            text.push('\t');
                            it.next();
                        }
                        Some('x') => {
                            let rest = &self.src[start + i + 2..];
                            match rest.get(..2).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                                Some(b) => {
                                    text.push(char::from(b));
                                    it.next();
                                    it.next();
                                    it.next();
                                }
                                None => text.push('\\'),
                            }
                        }
                        _ => text.push('\\'),
                    }
                }
                _ => text.push(c),
            }
        }
        if let Some((q, qpos)) = quote {
            return Err(Perr::new(
                ParseErrorKind::Unclosed,
                qpos,
                format!("unclosed quote `{q}`"),
            ));
        }
        self.pos = end;
        Ok(Some(Word {
            text,
            pos: start,
            quoted,
        }))
    }

    /// Next raw word for a sample expression: whitespace inside parentheses
    /// or quotes does not split it. Returns the byte span.
    pub fn expr_word(&mut self) -> Option<(usize, usize)> {
        self.skip_ws();
        if self.pos >= self.src.len() {
            return None;
        }
        let start = self.pos;
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        let mut escaped = false;
        let mut end = self.src.len();
        for (i, c) in self.src[start..].char_indices() {
            if escaped {
                escaped = false;
                continue;
            }
            match (quote, c) {
                (_, '\\') => escaped = true,
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') if depth > 0 => quote = Some(c),
                (None, '(') => depth += 1,
                (None, ')') => depth = depth.saturating_sub(1),
                (None, c) if c.is_whitespace() && depth == 0 => {
                    end = start + i;
                    break;
                }
                _ => {}
            }
        }
        self.pos = end;
        Some((start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<(String, usize, bool)> {
        let mut lx = Lexer::new(s);
        let mut v = Vec::new();
        while let Some(w) = lx.word().unwrap() {
            v.push((w.text, w.pos, w.quoted));
        }
        v
    }

    #[test]
    fn splits_and_unquotes() {
        assert_eq!(
            words(r#"a  "b c" 'd\e' f\ g \. \x41"#),
            vec![
                ("a".into(), 0, false),
                ("b c".into(), 3, true),
                ("d\\e".into(), 9, true),
                ("f g".into(), 15, true),
                ("\\.".into(), 20, true),
                ("A".into(), 23, true),
            ]
        );
    }

    #[test]
    fn unclosed_quote_points_at_quote() {
        let mut lx = Lexer::new("ab \"cd");
        lx.word().unwrap();
        let e = lx.word().unwrap_err();
        assert_eq!((e.kind, e.pos), (ParseErrorKind::Unclosed, 3));
    }

    #[test]
    fn expr_word_keeps_parens_together() {
        let mut lx = Lexer::new("  req.hdr(x-a, 1),field(1,\" \") rest");
        assert_eq!(lx.expr_word(), Some((2, 30)));
        assert_eq!(lx.word().unwrap().unwrap().text, "rest");
        assert_eq!(lx.expr_word(), None);
    }
}
