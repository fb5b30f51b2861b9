//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use gwd_config::{Config, LoadErrors, parse_str};

/// Parses `text` as `gw.toml`.
pub fn parse(text: &str) -> Result<Config, LoadErrors> {
    parse_str(text, Path::new("gw.toml"))
}

/// Parses `text`, which must load; panics with the rendered errors if not.
pub fn ok(text: &str) -> Config {
    match parse(text) {
        Ok(c) => c,
        Err(e) => panic!("config failed to load:\n{e}"),
    }
}

/// Parses `text`, which must fail; returns the rendered diagnostics.
pub fn err(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("config loaded but should not have:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// Rendered warnings of a config that loads, but for the missing-timeouts
/// ones (tests of other warnings leave timeouts out for brevity;
/// `missing_timeouts_are_warned` covers those).
pub fn warnings(text: &str) -> String {
    other_warnings(&ok(text))
        .iter()
        .map(|w| w.render())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The warnings of `c` other than the missing-timeouts ones.
pub fn other_warnings(c: &Config) -> Vec<&gwd_config::Diagnostic> {
    c.warnings
        .iter()
        .filter(|w| !w.message.contains("has no `timeout."))
        .collect()
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The path of `name` inside it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh temp directory holding the given files (PEM-looking content is
/// enough: the loader only checks that they are readable).
pub fn temp_files(names: &[&str]) -> TempDir {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "gwd-config-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    for n in names {
        std::fs::write(dir.join(n), b"-----BEGIN CERTIFICATE-----\n").unwrap();
    }
    TempDir(dir)
}
