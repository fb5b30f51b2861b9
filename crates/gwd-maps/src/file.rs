//! Map and ACL file formats (HAProxy's).
//!
//! Map files: a line whose first byte is `#` is a comment (an indented `#`
//! is not). Leading blanks (space, tab) are skipped, and lines that are then
//! empty (or hold only blanks and CR) are skipped. The key is the first word
//! (ended by a space, tab or CR); the value is the rest of the line after the
//! blanks that follow the key, with trailing spaces, tabs and CRs removed.
//! Inner blanks are kept, backslashes are literal, there are no inline
//! comments. A key-only line has the value `""`.
//!
//! ACL files: the same comment and leading-blank rules; the pattern is the
//! rest of the line up to CR or LF (trailing spaces are part of it).

/// One entry line of a map file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapLine<'a> {
    /// 1-based line number.
    pub line: usize,
    /// The key (first word).
    pub key: &'a [u8],
    /// The value (possibly empty).
    pub value: &'a [u8],
}

/// One pattern line of an ACL file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AclLine<'a> {
    /// 1-based line number.
    pub line: usize,
    /// The pattern.
    pub pattern: &'a [u8],
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn lines(text: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    text.split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| l.first() != Some(&b'#'))
}

/// Splits a map file into entries, in file order.
///
/// ```
/// use gwd_maps::file::map_lines;
/// let text = b"# comment\n  # x\n/api  v 1 \r\nkeyonly\n\n";
/// let v = map_lines(text);
/// assert_eq!(v.len(), 3);
/// assert_eq!((v[0].key, v[0].value), (&b"#"[..], &b"x"[..]));
/// assert_eq!((v[1].line, v[1].key, v[1].value), (3, &b"/api"[..], &b"v 1"[..]));
/// assert_eq!(v[2].value, b"");
/// ```
pub fn map_lines(text: &[u8]) -> Vec<MapLine<'_>> {
    let mut out = Vec::new();
    for (line, l) in lines(text) {
        let start = l.iter().position(|&b| !is_blank(b)).unwrap_or(l.len());
        let l = &l[start..];
        let kend = l
            .iter()
            .position(|&b| is_blank(b) || b == b'\r')
            .unwrap_or(l.len());
        if kend == 0 {
            continue; // empty, blank-only, or only CR left
        }
        let key = &l[..kend];
        let rest = &l[kend..];
        let vstart = rest
            .iter()
            .position(|&b| !is_blank(b))
            .unwrap_or(rest.len());
        let mut value = &rest[vstart..];
        while let Some((&last, init)) = value.split_last() {
            if is_blank(last) || last == b'\r' {
                value = init;
            } else {
                break;
            }
        }
        out.push(MapLine { line, key, value });
    }
    out
}

/// Splits an ACL file into patterns, in file order.
///
/// ```
/// use gwd_maps::file::acl_lines;
/// let v = acl_lines(b"#c\n\t/admin\r\n\n  two words\n");
/// assert_eq!(v.iter().map(|l| l.pattern).collect::<Vec<_>>(), [&b"/admin"[..], b"two words"]);
/// ```
pub fn acl_lines(text: &[u8]) -> Vec<AclLine<'_>> {
    let mut out = Vec::new();
    for (line, l) in lines(text) {
        let start = l.iter().position(|&b| !is_blank(b)).unwrap_or(l.len());
        let l = &l[start..];
        let end = l.iter().position(|&b| b == b'\r').unwrap_or(l.len());
        if end == 0 {
            continue;
        }
        out.push(AclLine {
            line,
            pattern: &l[..end],
        });
    }
    out
}
