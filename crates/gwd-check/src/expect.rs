//! `http-check expect [!] <kind> <pattern>`.

/// `http-check expect [!] <kind> <pattern>`: how an HTTP check's answer is
/// judged.
///
/// ```
/// use gwd_check::{Expect, ExpectKind};
///
/// let e = Expect::parse("! status 500-599").unwrap();
/// assert!(e.negate);
/// assert!(matches!(e.kind, ExpectKind::Status(ref r) if r == &[(500, 599)]));
/// ```
#[derive(Debug, Clone)]
pub struct Expect {
    /// `!`: the check passes when the pattern does *not* match.
    pub negate: bool,
    /// What is matched, against what.
    pub kind: ExpectKind,
}

/// The match of an [`Expect`].
#[derive(Debug, Clone)]
pub enum ExpectKind {
    /// `status <codes>`: the status code is in one of the inclusive ranges
    /// (a single code `c` is the range `(c, c)`).
    Status(Vec<(u16, u16)>),
    /// `rstatus <regex>`: the regex matches the three-digit status code.
    RStatus(regex::Regex),
    /// `string <text>`: the body contains the text.
    String(String),
    /// `rstring <regex>`: the regex matches the body.
    RString(regex::Regex),
}

/// Why an `http-check expect` line is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpectError {
    /// Nothing (or only `!`) was given.
    #[error("http-check expect: missing the match kind (status, rstatus, string or rstring)")]
    MissingKind,
    /// The kind is not one of `status`, `rstatus`, `string`, `rstring`.
    #[error(
        "http-check expect: unknown match kind '{0}' (expected status, rstatus, string or rstring)"
    )]
    UnknownKind(String),
    /// The kind has no pattern after it.
    #[error("http-check expect {0}: missing the pattern")]
    MissingPattern(&'static str),
    /// A code or range of a `status` list is not `100..=999` or is reversed.
    #[error(
        "http-check expect status: bad status code or range '{0}' \
         (expected codes 100-999 as in 200, 200-399 or 200,301-302)"
    )]
    BadStatus(String),
    /// The pattern of `rstatus` or `rstring` is not a valid regex.
    #[error("http-check expect {kind}: bad regex '{pattern}': {message}")]
    BadRegex {
        /// `rstatus` or `rstring`.
        kind: &'static str,
        /// The pattern as given.
        pattern: String,
        /// What the regex compiler said.
        message: String,
    },
}

impl Expect {
    /// Parses the arguments of `http-check expect`: `status 200`,
    /// `status 200-399`, `status 200,301-302`, `! status 500`, `rstatus ^2`,
    /// `string OK`, `rstring ^ok$`.
    ///
    /// `!` may stand alone or be glued to the kind (`!status 500`). The
    /// pattern is the rest of the line with the surrounding blanks removed,
    /// so a configuration parser that has already unquoted
    /// `string "Service OK"` can pass `string Service OK`. A `status` list
    /// takes comma-separated codes and inclusive ranges, with no blanks.
    pub fn parse(line: &str) -> Result<Expect, ExpectError> {
        let mut rest = line.trim();
        let mut negate = false;
        if let Some(r) = rest.strip_prefix('!') {
            negate = true;
            rest = r.trim_start();
        }
        if rest.is_empty() {
            return Err(ExpectError::MissingKind);
        }
        let (kind, pattern) = match rest.find(char::is_whitespace) {
            Some(i) => (&rest[..i], rest[i..].trim()),
            None => (rest, ""),
        };
        let kind_name: &'static str = match kind {
            "status" => "status",
            "rstatus" => "rstatus",
            "string" => "string",
            "rstring" => "rstring",
            other => return Err(ExpectError::UnknownKind(other.to_string())),
        };
        if pattern.is_empty() {
            return Err(ExpectError::MissingPattern(kind_name));
        }
        let regex = |kind: &'static str| {
            regex::Regex::new(pattern).map_err(|e| ExpectError::BadRegex {
                kind,
                pattern: pattern.to_string(),
                message: e.to_string(),
            })
        };
        let kind = match kind_name {
            "status" => ExpectKind::Status(parse_status_list(pattern)?),
            "rstatus" => ExpectKind::RStatus(regex("rstatus")?),
            "string" => ExpectKind::String(pattern.to_string()),
            _ => ExpectKind::RString(regex("rstring")?),
        };
        Ok(Expect { negate, kind })
    }

    /// Whether this expectation needs the body (`string`, `rstring`) rather
    /// than the status line alone.
    pub fn needs_body(&self) -> bool {
        matches!(self.kind, ExpectKind::String(_) | ExpectKind::RString(_))
    }
}

fn parse_status_list(list: &str) -> Result<Vec<(u16, u16)>, ExpectError> {
    list.split(',')
        .map(|part| {
            let bad = || ExpectError::BadStatus(part.to_string());
            let code = |s: &str| {
                s.parse::<u16>()
                    .ok()
                    .filter(|c| (100..=999).contains(c) && s.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(bad)
            };
            let (lo, hi) = match part.split_once('-') {
                Some((lo, hi)) => (code(lo)?, code(hi)?),
                None => {
                    let c = code(part)?;
                    (c, c)
                }
            };
            if lo > hi {
                return Err(bad());
            }
            Ok((lo, hi))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(line: &str) -> (bool, Vec<(u16, u16)>) {
        match Expect::parse(line) {
            Ok(Expect {
                negate,
                kind: ExpectKind::Status(r),
            }) => (negate, r),
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn status_forms() {
        assert_eq!(status("status 200"), (false, vec![(200, 200)]));
        assert_eq!(status("status 200-399"), (false, vec![(200, 399)]));
        assert_eq!(
            status("status 200,301-302"),
            (false, vec![(200, 200), (301, 302)])
        );
        assert_eq!(status("! status 500"), (true, vec![(500, 500)]));
        assert_eq!(status("!status 500"), (true, vec![(500, 500)]));
        assert_eq!(status("  status\t204  "), (false, vec![(204, 204)]));
    }

    #[test]
    fn regex_and_string_forms() {
        let e = Expect::parse("rstatus ^2").unwrap();
        assert!(!e.negate && !e.needs_body());
        assert!(matches!(e.kind, ExpectKind::RStatus(ref r) if r.as_str() == "^2"));
        let e = Expect::parse("string OK").unwrap();
        assert!(e.needs_body());
        assert!(matches!(e.kind, ExpectKind::String(ref s) if s == "OK"));
        let e = Expect::parse("string Service ready ").unwrap();
        assert!(matches!(e.kind, ExpectKind::String(ref s) if s == "Service ready"));
        let e = Expect::parse("! rstring ^ok$").unwrap();
        assert!(e.negate);
        assert!(matches!(e.kind, ExpectKind::RString(ref r) if r.as_str() == "^ok$"));
    }

    #[test]
    fn errors() {
        assert_eq!(Expect::parse("").unwrap_err(), ExpectError::MissingKind);
        assert_eq!(Expect::parse(" ! ").unwrap_err(), ExpectError::MissingKind);
        assert_eq!(
            Expect::parse("header name x").unwrap_err(),
            ExpectError::UnknownKind("header".into())
        );
        assert_eq!(
            Expect::parse("Status 200").unwrap_err(),
            ExpectError::UnknownKind("Status".into())
        );
        for kind in ["status", "rstatus", "string", "rstring"] {
            assert_eq!(
                Expect::parse(&format!("{kind}  ")).unwrap_err(),
                ExpectError::MissingPattern(kind)
            );
        }
        for bad in [
            "abc", "20", "1000", "099", "399-200", "200-", "-200", "200,", "200 300", "+200", "2a0",
        ] {
            assert_eq!(
                Expect::parse(&format!("status {bad}")).unwrap_err(),
                ExpectError::BadStatus(
                    bad.split(',')
                        .find(|p| parse_status_list(p).is_err())
                        .unwrap()
                        .into()
                ),
                "{bad}"
            );
        }
        let err = Expect::parse("rstring (unclosed").unwrap_err();
        assert!(matches!(
            err,
            ExpectError::BadRegex { kind: "rstring", ref pattern, .. } if pattern == "(unclosed"
        ));
        assert!(
            err.to_string()
                .starts_with("http-check expect rstring: bad regex '(unclosed'")
        );
        assert!(matches!(
            Expect::parse("rstatus [").unwrap_err(),
            ExpectError::BadRegex {
                kind: "rstatus",
                ..
            }
        ));
        assert_eq!(
            Expect::parse("status 2xx").unwrap_err().to_string(),
            "http-check expect status: bad status code or range '2xx' \
             (expected codes 100-999 as in 200, 200-399 or 200,301-302)"
        );
        assert_eq!(
            Expect::parse("string").unwrap_err().to_string(),
            "http-check expect string: missing the pattern"
        );
    }
}
