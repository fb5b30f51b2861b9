//! Typed errors. The `Display` text of the runtime errors is HAProxy's CLI
//! reply, so a runtime socket can print it unchanged.

use crate::{MatchKind, ValueType};

/// An error from a runtime operation or a matcher registration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// `del` found no entry with that key or id.
    #[error("Key not found.")]
    KeyNotFound,
    /// `set` found no entry with that key or id.
    #[error("entry not found.")]
    EntryNotFound,
    /// A version outside the accepted window (see [`MapRef::commit`](crate::MapRef::commit)).
    #[error("Version number out of range.")]
    VersionOutOfRange,
    /// A key that one of the reference's match kinds cannot parse (bad
    /// integer range, address or regex).
    #[error("'{key}' is not a valid '{}' pattern: {reason}", kind.name())]
    InvalidKey {
        /// The kind that rejected it.
        kind: MatchKind,
        /// The key, lossily decoded.
        key: String,
        /// Why.
        reason: String,
    },
    /// A value that a use of the reference cannot read as its type
    /// (`map_*_int`, `map_*_ip`). The text is HAProxy's CLI reply.
    #[error("unable to parse '{value}'.")]
    InvalidValue {
        /// The type that rejected it.
        ty: ValueType,
        /// The value, lossily decoded.
        value: String,
    },
}

impl MapError {
    /// True for [`MapError::KeyNotFound`] and [`MapError::EntryNotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, MapError::KeyNotFound | MapError::EntryNotFound)
    }
    /// True for [`MapError::VersionOutOfRange`].
    pub fn is_version_out_of_range(&self) -> bool {
        matches!(self, MapError::VersionOutOfRange)
    }
    /// True for [`MapError::InvalidKey`].
    pub fn is_invalid_key(&self) -> bool {
        matches!(self, MapError::InvalidKey { .. })
    }
    /// True for [`MapError::InvalidValue`].
    pub fn is_invalid_value(&self) -> bool {
        matches!(self, MapError::InvalidValue { .. })
    }
}

/// An error while loading a map or ACL file. Names the file, and the line
/// for content errors.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The path as given.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line's key was rejected by one of the reference's match kinds.
    #[error("{file}:{line}: {source}")]
    Line {
        /// The path or source name as given.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        source: MapError,
    },
    /// An entry already in the reference (added at runtime, so without a
    /// known line) was rejected by a new use.
    #[error("{file}: {source}")]
    Existing {
        /// The reference's name.
        file: String,
        /// What was wrong.
        source: MapError,
    },
    /// The version given for the load is out of range.
    #[error("{file}: {source}")]
    Version {
        /// The path or source name as given.
        file: String,
        /// Always [`MapError::VersionOutOfRange`].
        source: MapError,
    },
}

impl LoadError {
    /// The file (or source name) concerned.
    pub fn file(&self) -> &str {
        match self {
            LoadError::Io { file, .. }
            | LoadError::Line { file, .. }
            | LoadError::Existing { file, .. }
            | LoadError::Version { file, .. } => file,
        }
    }
    /// True when the file does not exist (an `opt@` map is then empty).
    pub fn is_not_found(&self) -> bool {
        matches!(self, LoadError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
    /// The content error (key or value), if it is one.
    pub fn map_error(&self) -> Option<&MapError> {
        match self {
            LoadError::Line { source, .. }
            | LoadError::Existing { source, .. }
            | LoadError::Version { source, .. } => Some(source),
            LoadError::Io { .. } => None,
        }
    }
    /// The 1-based line, for content errors.
    pub fn line(&self) -> Option<usize> {
        match self {
            LoadError::Line { line, .. } => Some(*line),
            _ => None,
        }
    }
}
