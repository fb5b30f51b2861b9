//! `gwd pki`: a test-only PKI written as PEM files.
//!
//! Run again in the same directory it keeps what is there: the CA is
//! loaded back (so every certificate it issued earlier stays valid) and
//! only the certificates whose files are missing are issued. `--force`
//! starts over with a new CA and replaces every file it names. Private
//! keys are written mode 0600.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use gwd_app::say;
use gwd_tls::pki::{Ca, Existing, Validity, write_file};

/// What `gwd pki` was asked for.
#[derive(Debug)]
pub struct Request<'a> {
    pub out: &'a Path,
    pub ca_name: &'a str,
    pub server_stem: &'a str,
    pub server_names: &'a [String],
    /// `NAME` or `NAME=STEM`.
    pub clients: &'a [String],
    pub days: Option<u32>,
    pub force: bool,
}

pub fn run(req: &Request<'_>) -> ExitCode {
    match issue(req) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn issue(req: &Request<'_>) -> Result<(), String> {
    let validity = req.days.map_or(Validity::Fixed, Validity::Days);
    std::fs::create_dir_all(req.out)
        .map_err(|e| format!("cannot create {}: {e}", req.out.display()))?;
    let ca_crt = req.out.join("ca.crt");
    let ca_key = req.out.join("ca.key");
    let ca = match (there(&ca_crt), there(&ca_key), req.force) {
        (true, true, false) => {
            let read = |p: &Path| {
                std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
            };
            let ca = Ca::from_pem(&read(&ca_crt)?, &read(&ca_key)?).map_err(|e| {
                format!(
                    "{}: {e}\n  help: --force makes a new CA (certificates it signed earlier stop being trusted)",
                    ca_crt.display()
                )
            })?;
            println!(
                "using the existing CA {} (\"{}\"); --force replaces it",
                ca_crt.display(),
                ca.name()
            );
            ca
        }
        (false, false, _) | (_, _, true) => {
            let ca = Ca::generate(req.ca_name, validity)
                .map_err(|e| format!("cannot generate the CA: {e}"))?;
            // The key first: of two runs racing on a fresh directory,
            // only one gets to place it.
            put(&ca_key, ca.key_pem(), true, req.force)?;
            put(&ca_crt, ca.cert_pem(), false, req.force)?;
            ca
        }
        (has_crt, _, false) => {
            let (there, missing) = if has_crt {
                (&ca_crt, &ca_key)
            } else {
                (&ca_key, &ca_crt)
            };
            return Err(format!(
                "{} exists but {} does not: cannot sign with half a CA\n  help: restore the missing file, or pass --force to make a new CA",
                there.display(),
                missing.display()
            ));
        }
    };

    let names: Vec<&str> = req.server_names.iter().map(String::as_str).collect();
    let server = (
        req.out.join(format!("{}.crt", req.server_stem)),
        req.out.join(format!("{}.key", req.server_stem)),
    );
    if wanted(&server, req.force) {
        let (cert, key) = ca
            .server(&names, validity)
            .map_err(|e| format!("cannot sign the server certificate: {e}"))?;
        put(&server.1, &key, true, req.force)?;
        put(&server.0, &cert, false, req.force)?;
    } else {
        warn_if_other_names(&server.0, &names);
    }
    for c in req.clients {
        let (name, stem) = c.split_once('=').unwrap_or((c.as_str(), c.as_str()));
        let files = (
            req.out.join(format!("{stem}.crt")),
            req.out.join(format!("{stem}.key")),
        );
        if wanted(&files, req.force) {
            let (cert, key) = ca
                .client(name, validity)
                .map_err(|e| format!("cannot sign the client certificate {name}: {e}"))?;
            put(&files.1, &key, true, req.force)?;
            put(&files.0, &cert, false, req.force)?;
        }
    }
    Ok(())
}

/// Whether something (a file, or a link, even a dangling one) is at `p`.
fn there(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

/// Whether a certificate should be issued into `(crt, key)`: yes unless
/// either file is there (kept, and said so) and `--force` is not given.
fn wanted((crt, key): &(PathBuf, PathBuf), force: bool) -> bool {
    if force {
        return true;
    }
    for p in [crt, key] {
        if there(p) {
            println!(
                "kept {} (it exists; delete it and its key to reissue it with this CA, or --force to start over with a new CA)",
                p.display()
            );
            return false;
        }
    }
    true
}

/// A kept server certificate for other names than asked: said, since the
/// run would otherwise look like it issued them.
fn warn_if_other_names(crt: &Path, names: &[&str]) {
    let Ok(pem) = std::fs::read_to_string(crt) else {
        return;
    };
    let Some(dns) = gwd_tls::pki::dns_names(&pem) else {
        return;
    };
    let mut have: Vec<String> = dns.iter().map(|n| n.to_ascii_lowercase()).collect();
    let mut want: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    have.sort();
    want.sort();
    if have != want {
        say!(
            "warning: {} (kept) is for {}, not {}: delete it and its key to issue one for these names with this CA",
            crt.display(),
            have.join(", "),
            want.join(", ")
        );
    }
}

fn put(path: &Path, text: &str, secret: bool, force: bool) -> Result<(), String> {
    let existing = if force {
        Existing::Replace
    } else {
        Existing::Keep
    };
    write_file(path, text, secret, existing).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!(
                "cannot write {}: it appeared while this run was writing (another gwd pki run?); run again",
                path.display()
            )
        } else {
            format!("cannot write {}: {e}", path.display())
        }
    })?;
    println!("wrote {}", path.display());
    Ok(())
}
