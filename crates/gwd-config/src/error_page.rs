//! Error pages as configured (`errorfile`, `errorloc*`, `http-error`),
//! read and checked at load.
//!
//! A page is prepared bytes, except an `http-error` with log-format parts
//! (`lf-body`, `lf-file`, `%[...]` in `hdr` values): its [`PageFormat`]
//! is rendered for each answer, against what the transaction knows
//! without its request (connection, proxies, variables, captures, unique
//! id, the answer's status), and `Content-Length` follows the rendered
//! body.

use gwd_sample::LogFormat;

/// An answer that replaces gwd's error page for one status (`errorfile`,
/// `errorloc`, `errorloc302`, `errorloc303`, `http-error`).
#[derive(Debug, Clone)]
pub struct ErrorPage {
    /// The status sent (the file's own; 302 or 303 for `errorloc*`).
    pub status: u16,
    /// The file's reason phrase, if any.
    pub reason: Option<String>,
    /// Header fields in file order, names as written; `Content-Length`
    /// always present, hop-by-hop fields left out. Empty with
    /// [`ErrorPage::lf`].
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, byte for byte (unused with [`ErrorPage::lf`]).
    pub body: Vec<u8>,
    /// `http-error` log-format parts, rendered per answer.
    pub lf: Option<PageFormat>,
}

/// The per-answer parts of an `http-error` page.
#[derive(Debug, Clone)]
pub struct PageFormat {
    /// `hdr` entries in order (plain values as literal formats), written
    /// before `Content-Length` (HAProxy's order).
    pub headers: Vec<(String, LogFormat)>,
    /// The body (`lf-body`, `lf-file`, or the plain `body`/`file`).
    pub body: LogFormat,
    /// `content-type`, written after `Content-Length`.
    pub content_type: Option<(String, Vec<u8>)>,
}

/// A proxy's error pages by the status they replace (inherited from
/// `[defaults]`, then its own). A request answered after a backend was
/// chosen uses the backend's page first, then the frontend's.
pub type ErrorPages = std::collections::BTreeMap<u16, std::sync::Arc<ErrorPage>>;
