//! One haproxy.cfg line cut into words, as HAProxy's parser cuts it.
//!
//! Words are separated by blanks. A `#` outside quotes starts a comment.
//! A backslash makes a space, `#`, `\\`, `"` or `'` after it literal (and
//! `$` inside double quotes), `\t`, `\n`, `\r` stand for those control
//! characters and `\xHH` for that byte; before anything else it stays
//! (`\1` in a regex replacement is `\1`). `$NAME` inside double quotes is
//! an environment variable HAProxy expands: refused here.
//! Double quotes group blanks into a word and keep backslash escapes;
//! single quotes group blanks and take everything literally. Each word
//! keeps where it started and ended in the line, so the text after a
//! keyword (a condition, a format string) can be taken as written.

/// One word of a line: its text with quotes and escapes resolved, and
/// its byte span in the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    pub(crate) text: String,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Why a line cannot be cut into words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LineError {
    /// A quote opened and never closed.
    UnclosedQuote(char),
    /// `\x` not followed by two hexadecimal digits (HAProxy refuses it).
    BadHex,
    /// `$NAME` or `${NAME}` inside double quotes: HAProxy puts the
    /// environment variable's value there when it starts; gwd has no
    /// such expansion.
    EnvVar(String),
}

/// HAProxy's word separators (C's `isspace`).
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

/// The words of `line` and where its comment starts (the line's length
/// when it has none).
pub(crate) fn split(line: &str) -> Result<(Vec<Word>, usize), LineError> {
    let mut words = Vec::new();
    let mut cur: Option<Word> = None;
    let mut quote: Option<char> = None;
    let mut chars = line.char_indices().peekable();
    let mut comment_at = line.len();
    while let Some((i, c)) = chars.next() {
        let word = cur.get_or_insert_with(|| Word {
            text: String::new(),
            start: i,
            end: i,
        });
        match (quote, c) {
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (Some('\''), c) => word.text.push(c),
            (q, '\\') => match chars.peek().map(|&(_, n)| n) {
                Some('t') => {
                    chars.next();
                    word.text.push('\t');
                }
                Some('n') => {
                    chars.next();
                    word.text.push('\n');
                }
                Some('r') => {
                    chars.next();
                    word.text.push('\r');
                }
                Some(n @ (' ' | '#' | '\\' | '\'' | '"')) => {
                    chars.next();
                    word.text.push(n);
                }
                Some('$') if q == Some('"') => {
                    chars.next();
                    word.text.push('$');
                }
                Some('x') => {
                    chars.next();
                    let hex: String = (0..2)
                        .filter_map(|_| chars.next_if(|(_, h)| h.is_ascii_hexdigit()))
                        .map(|(_, h)| h)
                        .collect();
                    let byte = u8::from_str_radix(&hex, 16)
                        .ok()
                        .filter(|_| hex.len() == 2)
                        .ok_or(LineError::BadHex)?;
                    // A byte above 0x7f would not be text: refused as HAProxy
                    // refuses a bad escape, rather than changed.
                    if !byte.is_ascii() {
                        return Err(LineError::BadHex);
                    }
                    word.text.push(char::from(byte));
                }
                // Anything else keeps its backslash (`\1` in a regex
                // replacement, `\.` in a pattern), as HAProxy keeps it.
                _ => word.text.push('\\'),
            },
            (Some('"'), '$') => {
                let after = &line[i + 1..];
                let name: String = match after.strip_prefix('{') {
                    Some(inner) => match inner.find('}') {
                        Some(end) => format!("{{{}}}", &inner[..end]),
                        None => "{".to_owned(),
                    },
                    None => after
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect(),
                };
                if name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '{') {
                    return Err(LineError::EnvVar(format!("${name}")));
                }
                word.text.push('$');
            }
            (Some(_), c) => word.text.push(c),
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => {
                comment_at = i;
                if word.start == i {
                    cur = None;
                }
                break;
            }
            (None, c) if is_blank(c) => {
                if word.start == i {
                    cur = None;
                } else if let Some(mut w) = cur.take() {
                    w.end = i;
                    words.push(w);
                }
                continue;
            }
            (None, c) => word.text.push(c),
        }
        if let Some(w) = cur.as_mut() {
            w.end = chars.peek().map_or(line.len(), |&(j, _)| j);
        }
    }
    if let Some(q) = quote {
        return Err(LineError::UnclosedQuote(q));
    }
    if let Some(w) = cur.take() {
        words.push(w);
    }
    Ok((words, comment_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        split(line).unwrap().0.into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn blanks_quotes_escapes_and_comments() {
        assert_eq!(
            texts("  bind :8080   ssl\tcrt a.pem"),
            ["bind", ":8080", "ssl", "crt", "a.pem"]
        );
        assert_eq!(
            texts(r#"log-format "%ci:%cp [%tr] %{+Q}r""#),
            ["log-format", "%ci:%cp [%tr] %{+Q}r"]
        );
        assert_eq!(
            texts(r"unique-id-format %{+X}o\ %ci:%cp"),
            ["unique-id-format", "%{+X}o %ci:%cp"]
        );
        assert_eq!(texts(r"x 'a \n b' a\#b # comment"), ["x", r"a \n b", "a#b"]);
        assert_eq!(texts(r#"x "a\"b" c"d e"f"#), ["x", "a\"b", "cd ef"]);
        assert_eq!(texts("# only a comment"), Vec::<String>::new());
        assert_eq!(
            texts(r#"return string "ok\n""#),
            ["return", "string", "ok\n"]
        );
        assert_eq!(
            texts(r"replace-path /v1/(.*) /v2/\1 ^a\.b$"),
            ["replace-path", "/v1/(.*)", "/v2/\\1", "^a\\.b$"]
        );
        assert_eq!(
            split("x 'open").unwrap_err(),
            LineError::UnclosedQuote('\'')
        );
    }

    #[test]
    fn spans_point_into_the_line() {
        let line = r#"http-request deny if { path "/a b" } # why"#;
        let (words, comment) = split(line).unwrap();
        assert_eq!(&line[comment..], "# why");
        let if_word = words.iter().find(|w| w.text == "if").unwrap();
        assert_eq!(line[if_word.end..comment].trim(), r#"{ path "/a b" }"#);
        assert_eq!(&line[words[5].start..words[5].end], r#""/a b""#);
    }

    #[test]
    fn haproxy_escapes_separators_and_environment() {
        assert_eq!(texts(r"a\x41b"), ["aAb"]);
        assert_eq!(split(r"a\x4").unwrap_err(), LineError::BadHex);
        assert_eq!(split(r"a\xzz").unwrap_err(), LineError::BadHex);
        assert_eq!(texts(r#""a\$b" c\$d"#), ["a$b", r"c\$d"]);
        assert_eq!(
            split(r#""x${MYV}y""#).unwrap_err(),
            LineError::EnvVar("${MYV}".into())
        );
        assert_eq!(
            split(r#""$HOME""#).unwrap_err(),
            LineError::EnvVar("$HOME".into())
        );
        assert_eq!(texts(r#""5$" '$HOME' $HOME"#), ["5$", "$HOME", "$HOME"]);
        assert_eq!(texts("a\u{b}b\u{c}c\rd"), ["a", "b", "c", "d"]);
        // A backslash before a tab is not an escape: the tab separates.
        assert_eq!(texts("a\\\tb"), ["a\\", "b"]);
    }
}
