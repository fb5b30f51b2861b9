//! Loading map and ACL texts and files, all or nothing: every line is
//! validated against the registered indexes and value types before the
//! version changes, and entries keep their source line for later errors.

use super::{LineTable, MapRef, RefKind};
use crate::entry::EntryRef;
use crate::error::LoadError;
use std::path::Path;

impl MapRef {
    /// Appends the entries of a map-format text to the current version (or
    /// `ver`), all or nothing: a key rejected by one of the registered
    /// matchers, or a value rejected by a registered use, fails the load
    /// with `source:line` and changes nothing.
    pub fn load_map_str(&self, source: &str, text: &[u8]) -> Result<usize, LoadError> {
        let lines = crate::file::map_lines(text);
        self.load_lines(
            source,
            None,
            lines.iter().map(|l| (l.line, l.key, l.value)),
            true,
        )
    }

    /// [`load_map_str`](Self::load_map_str) into version `ver`.
    pub fn load_map_str_at(&self, ver: u32, source: &str, text: &[u8]) -> Result<usize, LoadError> {
        let lines = crate::file::map_lines(text);
        self.load_lines(
            source,
            Some(ver),
            lines.iter().map(|l| (l.line, l.key, l.value)),
            true,
        )
    }

    /// Appends the patterns of an ACL-format text (one per line, no values).
    pub fn load_acl_str(&self, source: &str, text: &[u8]) -> Result<usize, LoadError> {
        let lines = crate::file::acl_lines(text);
        self.load_lines(
            source,
            None,
            lines.iter().map(|l| (l.line, l.pattern, &b""[..])),
            false,
        )
    }

    /// Reads `path` and loads it: map format for [`RefKind::Map`], ACL format
    /// for [`RefKind::Acl`]. Errors name the file (and line); a missing file
    /// is a [`LoadError::Io`] for which [`LoadError::is_not_found`] holds.
    /// Only a regular file of at most [`crate::file::MAX_FILE_BYTES`] is
    /// read (see [`crate::file::read`]): a device, FIFO or directory, or a
    /// larger file, is a [`LoadError::Io`] too.
    pub fn load_file(&self, path: impl AsRef<Path>) -> Result<usize, LoadError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = crate::file::read(path).map_err(|source| LoadError::Io {
            file: file.clone(),
            source,
        })?;
        match self.inner.kind {
            RefKind::Map => self.load_map_str(&file, &text),
            RefKind::Acl => self.load_acl_str(&file, &text),
        }
    }

    fn load_lines<'a>(
        &self,
        source: &str,
        ver: Option<u32>,
        lines: impl Iterator<Item = (usize, &'a [u8], &'a [u8])>,
        check_values: bool,
    ) -> Result<usize, LoadError> {
        let inner = &self.inner;
        let mut w = inner.lock();
        let ver = ver.unwrap_or(w.curr);
        w.check_open(ver).map_err(|source_err| LoadError::Version {
            file: source.to_string(),
            source: source_err,
        })?;
        // Validate and build entries before touching anything.
        let mut staged = Vec::new();
        let mut line_nos = Vec::new();
        let first_seq = w.next_seq;
        let mut seq = first_seq;
        for (line, key, value) in lines {
            let at_line = |e| LoadError::Line {
                file: source.to_string(),
                line,
                source: e,
            };
            let preps = w.preps(key).map_err(at_line)?;
            if check_values {
                w.check_value(value).map_err(at_line)?;
            }
            staged.push((EntryRef::new(seq, key, value), preps));
            line_nos.push(u32::try_from(line).unwrap_or(u32::MAX));
            seq += 1;
        }
        let n = staged.len();
        w.next_seq = seq;
        if n > 0 {
            w.lines.push(LineTable {
                ver,
                source: source.into(),
                first_seq,
                lines: line_nos.into(),
            });
        }
        let mut s = w.snap(ver);
        s.insert_bulk(self.seed(), staged);
        s.finish_bulk();
        inner.store(&mut w, ver, s);
        Ok(n)
    }
}
