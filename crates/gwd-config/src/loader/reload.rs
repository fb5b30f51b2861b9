//! Loading a configuration given the one that runs: map and ACL files that
//! did not change keep their running references, run-time changes
//! included (see `MapRegistry::reusing` in gwd-sample and docs/CONFIG.md,
//! "Map files on reload").
//!
//! The text is parsed twice, so that the running configuration is not
//! changed before the new one is known to be valid:
//!
//! 1. with a registry that only *checks* the references it means to keep
//!    (reading them; the rules get stand-ins). Any error ends the load
//!    here, the running references untouched;
//! 2. the kept references get the new configuration's uses, all or
//!    nothing (`MapRegistry::keep_reused`; a run-time change since pass 1
//!    that breaks a use fails the load, nothing changed), then the text is
//!    parsed again on that registry: the rules get matchers on the kept
//!    references, files already read in pass 1 are not read again.
//!
//! Pass 2 sees the same text and the same map references as pass 1, so it
//! fails only when the file system changed in between (a certificate
//! removed); the kept references then get back exactly what they had.

use std::path::Path;

use gwd_sample::MapRegistry;

use super::document::parse_with;
use crate::diag::LoadErrors;
use crate::model::{Config, Diagnostic, Location, Severity};

/// `parse`, keeping the references of `running`'s unchanged map files.
pub(crate) fn parse_reusing(
    src: &str,
    file: &Path,
    running: &MapRegistry,
) -> Result<Config, LoadErrors> {
    let (cfg, pending) = parse_reusing_pending(src, file, running)?;
    pending.commit();
    Ok(cfg)
}

/// The kept map references of a configuration loaded for a reload, whose
/// new uses are not final yet: [`commit`](Self::commit) once the new
/// configuration is in force, [`undo`](Self::undo) (or drop the
/// configuration, then this) when it will not run, and the running
/// references get back exactly what they had.
#[derive(Debug)]
#[must_use = "dropping it undoes the new configuration's map uses"]
pub struct PendingMaps(gwd_sample::Rebinding);

impl PendingMaps {
    /// The new configuration is in force.
    pub fn commit(self) {
        self.0.finish();
    }

    /// The new configuration will not run: it is dropped (its matchers
    /// with it), then the kept references get back their uses.
    pub fn undo(self, config: Config) {
        drop(config);
        self.0.undo();
    }
}

/// [`parse_reusing`] leaving the commit to the caller.
pub(crate) fn parse_reusing_pending(
    src: &str,
    file: &Path,
    running: &MapRegistry,
) -> Result<(Config, PendingMaps), LoadErrors> {
    parse_reusing_with(src, file, running, || {})
}

/// [`parse_reusing`], calling `between` between the two passes (tests make
/// pass 2 fail there).
fn parse_reusing_with(
    src: &str,
    file: &Path,
    running: &MapRegistry,
    between: impl FnOnce(),
) -> Result<(Config, PendingMaps), LoadErrors> {
    // Pass 1: validate. Its configuration reads stand-ins: only its
    // registry goes on.
    let Config { mut maps, .. } = parse_with(src, file, MapRegistry::reusing(running))?;
    let rebinding = maps.keep_reused().map_err(|message| LoadErrors {
        diagnostics: vec![Diagnostic {
            severity: Severity::Error,
            location: Location {
                file: file.to_path_buf(),
                line: 0,
                column: 0,
            },
            key_path: String::new(),
            message,
            help: Some("load the configuration again once the map is fixed".to_owned()),
        }],
    })?;
    between();
    // Pass 2: build. On error its partial configuration (and every matcher
    // it made on the kept references) is gone when `parse_with` returns,
    // which undoing requires.
    match parse_with(src, file, maps) {
        Ok(cfg) => Ok((cfg, PendingMaps(rebinding))),
        Err(e) => {
            rebinding.undo();
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gwd_sample::{MatchKind, MatchSpec};

    /// A directory of its own, removed on drop.
    struct Dir(std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_second_pass_that_fails_gives_the_kept_references_back_their_uses() {
        let d = Dir(std::env::temp_dir().join(format!("gwd-config-reload-{}", std::process::id())));
        std::fs::create_dir_all(&d.0).unwrap();
        let map = d.0.join("ports.map");
        let crt = d.0.join("gw.pem");
        std::fs::write(&map, "http 80\n").unwrap();
        std::fs::write(&crt, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let (map, crt) = (map.display(), crt.display());
        let old = format!(
            "[frontend.www]\nbind = [ {{ addr = \"127.0.0.1:0\" }} ]\n\
             http-request = [ {{ action = \"set-header\", name = \"X-P\", value = \"%[path,map({map})]\" }} ]\n"
        );
        let running = super::super::parse(&old, Path::new("gw.toml")).unwrap();
        let kept = running.maps.get(&map.to_string()).unwrap().map.clone();
        let (specs, uses) = (kept.specs(), kept.uses());

        // The new configuration adds a TLS bind (its certificate goes away
        // between the passes) and reads the map with `beg` as integers.
        let new = format!(
            "[frontend.www]\nbind = [ {{ addr = \"127.0.0.1:0\" }}, {{ addr = \"127.0.0.1:0\", ssl = true, crt = \"{crt}\" }} ]\n\
             http-request = [ {{ action = \"set-header\", name = \"X-P\", value = \"%[path,map_beg_int({map})]\" }} ]\n"
        );
        let mut in_between = None;
        let e = parse_reusing_with(&new, Path::new("gw.toml"), &running.maps, || {
            // Pass 2 is about to run: the new uses are in place.
            in_between = Some((kept.specs().len(), kept.value_types().len()));
            std::fs::remove_file(crt.to_string()).unwrap();
        })
        .unwrap_err();
        assert!(e.to_string().contains("cannot read `crt` file"), "{e}");
        assert_eq!(
            in_between,
            Some((2, 1)),
            "pass 1 passed, the uses were added"
        );
        assert_eq!(kept.specs(), specs);
        assert_eq!(specs, [MatchSpec::new(MatchKind::Str)]);
        assert_eq!(kept.uses(), uses);
        assert!(kept.value_types().is_empty());
        kept.set(b"http", b"eighty").unwrap();
        assert_eq!(running.maps.get(&map.to_string()).unwrap().id, 0);
    }
}
