//! Parse errors with 1-based character columns.

use thiserror::Error;

/// What went wrong while parsing; lets callers branch without reading messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// Unexpected character or token (a stray `}`, text after an expression, a lone `%`, ...).
    Syntax,
    /// An opening `(`, `{`, `[` or quote without its closing partner.
    Unclosed,
    /// Nothing to parse where something was required (empty expression, ACL body or condition).
    Empty,
    /// The sample fetch name is not known.
    UnknownFetch,
    /// The converter name is not known.
    UnknownConverter,
    /// Wrong number or type of arguments to a fetch or converter.
    BadArgs,
    /// A converter cannot accept the type produced before it (e.g. `src,bool`).
    TypeMismatch,
    /// A regular expression failed to compile.
    BadRegex,
    /// An IP address or CIDR network failed to parse.
    BadIp,
    /// An integer (argument, pattern or range) failed to parse.
    BadInt,
    /// The `-m` match method is not known, or does not take patterns here.
    UnknownMatch,
    /// An unknown or misplaced `-x` flag in an ACL body, or a bad `%{...}` log-format flag.
    BadFlag,
    /// A valid HAProxy construct that gwd does not support (pattern files, `%ST`, ...).
    Unsupported,
    /// A condition names an ACL that is neither defined nor predefined.
    UnknownAcl,
    /// An ACL name contains characters outside `[A-Za-z0-9_.:-]`.
    BadAclName,
    /// A pattern is not valid for the match method (e.g. patterns given to `-m found`).
    BadPattern,
    /// A map or pattern file (`map(<file>)`, `-f <file>`) could not be used:
    /// it could not be read, a line was rejected, or it is used both as a map
    /// and as a plain ACL file.
    MapFile,
    /// A map converter or `-f`/`-M` was parsed without map access (plain
    /// [`crate::Expr::parse`], [`crate::Acls::define`], ...); use the `*_in`
    /// variants with a [`crate::ParseEnv`].
    NoMaps,
}

/// A located parse error.
///
/// `column` is the 1-based character (not byte) offset of the offending token in
/// the string that was handed to the parsing function (for [`crate::Acls::define`],
/// the body; for name errors, the name).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("column {column}: {message}")]
pub struct ParseError {
    /// 1-based character offset of the offending token.
    pub column: usize,
    /// Human-readable description, without the column.
    pub message: String,
    /// Optional hint (`did you mean ...?`, usage, ...).
    pub help: Option<String>,
    kind: ParseErrorKind,
}

impl ParseError {
    /// Builds an error; mostly useful to callers that re-locate errors.
    pub fn new(kind: ParseErrorKind, column: usize, message: impl Into<String>) -> Self {
        ParseError {
            column,
            message: message.into(),
            help: None,
            kind,
        }
    }

    /// Returns the error with a hint attached.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The category of the error.
    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }
}

/// Internal error located by byte offset in the top-level source string.
#[derive(Debug)]
pub(crate) struct Perr {
    pub kind: ParseErrorKind,
    pub pos: usize,
    pub msg: String,
    pub help: Option<String>,
}

impl Perr {
    pub(crate) fn new(kind: ParseErrorKind, pos: usize, msg: impl Into<String>) -> Self {
        Perr {
            kind,
            pos,
            msg: msg.into(),
            help: None,
        }
    }

    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub(crate) fn help_opt(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// Converts the byte offset into a 1-based character column of `src`.
    pub(crate) fn finish(self, src: &str) -> ParseError {
        ParseError {
            column: column_of(src, self.pos),
            message: self.msg,
            help: self.help,
            kind: self.kind,
        }
    }
}

pub(crate) fn column_of(src: &str, pos: usize) -> usize {
    src.char_indices().take_while(|(i, _)| *i < pos).count() + 1
}

/// Best "did you mean" candidate for `name`, if one is close enough.
pub(crate) fn suggest<'a>(name: &str, cands: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lname = name.to_ascii_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for c in cands {
        let lc = c.to_ascii_lowercase();
        let d = strsim::damerau_levenshtein(&lname, &lc);
        let limit = (lname.chars().count().max(lc.chars().count()) / 3).max(1);
        let close = d <= limit || strsim::jaro_winkler(&lname, &lc) >= 0.9;
        if close && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

pub(crate) fn did_you_mean<'a>(
    name: &str,
    cands: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    suggest(name, cands).map(|c| format!("did you mean `{c}`?"))
}
