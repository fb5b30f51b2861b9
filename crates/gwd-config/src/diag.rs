//! Diagnostics: what a load found wrong ([`Diagnostic`], with its
//! [`Location`] and [`Severity`]), their rendering, and the
//! [`LoadErrors`] returned by a failed load.

use std::fmt;
use std::path::PathBuf;

/// A place in a config file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// The config file, as given to the loader.
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
}

/// One error or warning found while loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error (fails the load) or warning.
    pub severity: Severity,
    /// Where the problem is.
    pub location: Location,
    /// Dotted key path, e.g. `frontend.www.bind[0].addr`.
    pub key_path: String,
    /// One line, without the location.
    pub message: String,
    /// A fix to suggest, e.g. "did you mean `default_backend`?".
    pub help: Option<String>,
}

/// How serious a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The configuration is refused.
    Error,
    /// The configuration loads; the operator should know.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

impl fmt::Display for Location {
    /// `file:line:column`, or just `file` when the line is unknown (0).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
        }
    }
}

impl Diagnostic {
    /// Whether this diagnostic makes the load fail.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Whether this diagnostic is only a warning.
    pub fn is_warning(&self) -> bool {
        self.severity == Severity::Warning
    }

    /// Renders the diagnostic rustc-style, without a trailing newline:
    ///
    /// ```text
    /// error: <message>
    ///   --> gw.toml:12:5 (frontend.www.bind[0].addr)
    ///   help: <help>
    /// ```
    ///
    /// The `(key path)` is left out when empty, and the `help` line when
    /// there is none.
    ///
    /// ```
    /// use gwd_config::{Diagnostic, Location, Severity};
    /// let d = Diagnostic {
    ///     severity: Severity::Error,
    ///     location: Location { file: "gw.toml".into(), line: 3, column: 1 },
    ///     key_path: "frontend.www".into(),
    ///     message: "frontend `www` has no bind".into(),
    ///     help: Some("add `bind = [ { addr = \":8080\" } ]`".into()),
    /// };
    /// assert_eq!(
    ///     d.render(),
    ///     "error: frontend `www` has no bind\n  --> gw.toml:3:1 (frontend.www)\n  help: add `bind = [ { addr = \":8080\" } ]`"
    /// );
    /// ```
    pub fn render(&self) -> String {
        let mut out = format!(
            "{}: {}\n  --> {}",
            self.severity, self.message, self.location
        );
        if !self.key_path.is_empty() {
            out.push_str(&format!(" ({})", self.key_path));
        }
        if let Some(help) = &self.help {
            out.push_str("\n  help: ");
            out.push_str(help);
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    /// Same text as [`Diagnostic::render`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// Why a configuration could not be loaded: every error found, and the
/// warnings found alongside them, in file order (line, then column).
///
/// `Display` renders each diagnostic as a block ([`Diagnostic::render`]),
/// blocks separated by a blank line.
///
/// ```
/// let err = gwd_config::parse_str("[frontend.www]\n", "gw.toml".as_ref()).unwrap_err();
/// assert_eq!(err.error_count(), 1);
/// assert!(err.to_string().starts_with("error: frontend `www` has no bind\n  --> gw.toml:1:1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadErrors {
    /// Every error and warning found.
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadErrors {
    /// The errors (diagnostics that fail the load).
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// The warnings found alongside the errors.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_warning())
    }

    /// How many errors there are (at least one in a returned `LoadErrors`).
    pub fn error_count(&self) -> usize {
        self.errors().count()
    }

    /// How many warnings there are.
    pub fn warning_count(&self) -> usize {
        self.warnings().count()
    }
}

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str("\n\n")?;
            }
            f.write_str(&d.render())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(sev: Severity, line: usize, path: &str, help: Option<&str>) -> Diagnostic {
        Diagnostic {
            severity: sev,
            location: Location {
                file: "conf/gw.toml".into(),
                line,
                column: 7,
            },
            key_path: path.into(),
            message: "something".into(),
            help: help.map(Into::into),
        }
    }

    #[test]
    fn render_variants() {
        assert_eq!(
            diag(Severity::Error, 2, "global.nbthread", Some("fix it")).render(),
            "error: something\n  --> conf/gw.toml:2:7 (global.nbthread)\n  help: fix it"
        );
        assert_eq!(
            diag(Severity::Warning, 2, "", None).render(),
            "warning: something\n  --> conf/gw.toml:2:7"
        );
        assert_eq!(
            diag(Severity::Error, 0, "", None).render(),
            "error: something\n  --> conf/gw.toml"
        );
    }

    #[test]
    fn load_errors_counts_and_display() {
        let e = LoadErrors {
            diagnostics: vec![
                diag(Severity::Error, 1, "a", None),
                diag(Severity::Warning, 2, "b", None),
                diag(Severity::Error, 3, "c", None),
            ],
        };
        assert_eq!(e.error_count(), 2);
        assert_eq!(e.warning_count(), 1);
        assert_eq!(
            e.to_string(),
            "error: something\n  --> conf/gw.toml:1:7 (a)\n\n\
             warning: something\n  --> conf/gw.toml:2:7 (b)\n\n\
             error: something\n  --> conf/gw.toml:3:7 (c)"
        );
        assert!(e.diagnostics[0].is_error() && !e.diagnostics[0].is_warning());
        assert!(e.diagnostics[1].is_warning());
    }
}
