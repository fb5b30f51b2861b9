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
//!
//! Reading ([`read`]): only a regular file (or a link to one) of at most
//! [`MAX_FILE_BYTES`]; a device, FIFO or directory given by mistake
//! (`/dev/zero`) is refused instead of being read until memory runs out.

use std::io::{Error, ErrorKind, Read};
use std::path::Path;

/// A map or ACL file larger than this is refused. 256 MiB is several
/// million lines, far beyond any list loaded in practice (200,000 regexes
/// are under 6 MiB); it only stops a wrong path from exhausting memory.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Reads a map or ACL file: a regular file (or a link to one) of at most
/// [`MAX_FILE_BYTES`]. Other paths fail with [`ErrorKind::InvalidInput`]
/// ("not a regular file"; nothing is opened, so a FIFO cannot block),
/// larger files with [`ErrorKind::FileTooLarge`] ("larger than 256 MiB").
pub fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    read_capped(path, MAX_FILE_BYTES)
}

fn not_regular() -> Error {
    Error::new(ErrorKind::InvalidInput, "not a regular file")
}

pub(crate) fn read_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    // Checked before opening: opening a FIFO waits for a writer.
    if !std::fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    let file = std::fs::File::open(path)?;
    // Checked again on what was opened, in case the path changed since.
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    let mut text = Vec::with_capacity(meta.len().min(cap) as usize);
    // A file growing while read still stops one byte past the cap.
    file.take(cap + 1).read_to_end(&mut text)?;
    if text.len() as u64 > cap {
        let size = if cap >= 1 << 20 {
            format!("{} MiB", cap >> 20)
        } else {
            format!("{cap} bytes")
        };
        return Err(Error::new(
            ErrorKind::FileTooLarge,
            format!("larger than {size}"),
        ));
    }
    Ok(text)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A fresh directory for one test.
    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gwd-maps-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn refused(path: &Path) -> String {
        let e = read(path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{}: {e}", path.display());
        e.to_string()
    }

    #[test]
    fn devices_fifos_and_directories_are_refused() {
        let d = scratch("special");
        assert_eq!(refused(&d), "not a regular file");
        if Path::new("/dev/zero").exists() {
            assert_eq!(refused(Path::new("/dev/zero")), "not a regular file");
        }
        // A FIFO is refused without being opened (opening it would wait
        // for a writer).
        let fifo = d.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success());
        if made {
            assert_eq!(refused(&fifo), "not a regular file");
        }
        // A link to a regular file is read.
        let f = d.join("a.map");
        std::fs::write(&f, b"k v\n").unwrap();
        let link = d.join("link.map");
        if std::os::unix::fs::symlink(&f, &link).is_ok() {
            assert_eq!(read(&link).unwrap(), b"k v\n");
        }
        assert_eq!(
            read(&d.join("missing")).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn files_over_the_cap_are_refused() {
        let d = scratch("cap");
        let f = d.join("ten");
        std::fs::write(&f, b"0123456789").unwrap();
        assert_eq!(read_capped(&f, 10).unwrap(), b"0123456789");
        std::fs::write(&f, b"0123456789\n").unwrap();
        let e = read_capped(&f, 10).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::FileTooLarge);
        assert_eq!(e.to_string(), "larger than 10 bytes");
        assert_eq!(read_capped(&f, 3 << 20).unwrap().len(), 11);
        assert_eq!(MAX_FILE_BYTES, 256 << 20);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn load_file_goes_through_the_checks() {
        use crate::{MapRef, RefKind};
        let d = scratch("load");
        let m = MapRef::new("m", RefKind::Map);
        let e = m.load_file(&d).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: not a regular file", d.display())
        );
        assert!(!e.is_not_found());
        if Path::new("/dev/zero").exists() {
            let e = m.load_file("/dev/zero").unwrap_err();
            assert_eq!(e.to_string(), "/dev/zero: not a regular file");
        }
        assert!(m.load_file(d.join("missing")).unwrap_err().is_not_found());
        let f = d.join("ok.map");
        std::fs::write(&f, b"a 1\nb 2\n").unwrap();
        assert_eq!(m.load_file(&f).unwrap(), 2);
        let _ = std::fs::remove_dir_all(&d);
    }
}
