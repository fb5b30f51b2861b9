//! Listening sockets and connections (tokio).

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;
use std::time::Duration;

use gwd_config::{AdminLevel, StatsAddr, StatsSocket};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixListener};

use crate::cli::LiveCli;

/// How long a connection may stay silent before it is closed (HAProxy's
/// default `stats timeout`).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest request line (or payload line) accepted. A line may hold many
/// commands (`;`); their replies are written one at a time, so memory
/// stays bounded by one command's reply whatever the line asks.
pub const MAX_LINE: usize = 64 << 10;

/// Why a runtime API socket could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("stats-socket {addr}: {source}")]
pub struct BindError {
    /// The address as configured.
    pub addr: String,
    /// The system error.
    #[source]
    pub source: io::Error,
}

#[derive(Debug)]
enum Sock {
    /// With the socket file's (device, inode): the file is removed at the
    /// end only while it is still this socket's (a newer gwd may have
    /// bound the path since, during a binary upgrade).
    Unix(UnixListener, PathBuf, Option<(u64, u64)>),
    Tcp(TcpListener),
}

/// A bound runtime API socket (Unix or TCP) with its access level.
#[derive(Debug)]
pub struct AdminListener {
    sock: Sock,
    level: AdminLevel,
}

impl AdminListener {
    /// Binds the socket of a `stats-socket` entry. A Unix socket gets the
    /// entry's `mode` and listens under a name of its own until
    /// [`publish`](Self::publish) (or [`serve`](Self::serve)) puts it at
    /// its path, replacing a stale file there. Must run inside a Tokio
    /// runtime.
    pub fn bind(entry: &StatsSocket) -> Result<AdminListener, BindError> {
        let err = |source| BindError {
            addr: match &entry.addr {
                StatsAddr::Unix(p) => p.display().to_string(),
                StatsAddr::Tcp(a) => a.to_string(),
            },
            source,
        };
        let sock = match &entry.addr {
            StatsAddr::Tcp(a) => {
                let std = std::net::TcpListener::bind(a).map_err(err)?;
                std.set_nonblocking(true).map_err(err)?;
                Sock::Tcp(TcpListener::from_std(std).map_err(err)?)
            }
            StatsAddr::Unix(p) => {
                // Bound under a name of its own, and put at `p` only by
                // `publish`: a gwd that fails to start (a binary upgrade
                // gone wrong) leaves the running one's socket in place.
                if let Ok(m) = std::fs::symlink_metadata(p) {
                    use std::os::unix::fs::FileTypeExt;
                    if !m.file_type().is_socket() {
                        return Err(err(io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            "a file that is not a socket is in the way",
                        )));
                    }
                }
                let staged = staged_path(p);
                let _ = std::fs::remove_file(&staged);
                let l = UnixListener::bind(&staged).map_err(err)?;
                use std::os::unix::fs::PermissionsExt;
                let placed =
                    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(entry.mode));
                if let Err(e) = placed {
                    let _ = std::fs::remove_file(&staged);
                    return Err(err(e));
                }
                use std::os::unix::fs::MetadataExt;
                let id = std::fs::metadata(&staged).ok().map(|m| (m.dev(), m.ino()));
                Sock::Unix(l, p.clone(), id)
            }
        };
        Ok(AdminListener {
            sock,
            level: entry.level,
        })
    }

    /// As [`bind`](Self::bind), taking over `inherited` (a TCP socket a
    /// running gwd handed over) for a TCP entry instead of binding its
    /// address again. A Unix entry binds its path anew (replacing the
    /// running gwd's file, which that one then leaves in place).
    pub fn bind_or_take(
        entry: &StatsSocket,
        inherited: Option<std::net::TcpListener>,
    ) -> Result<AdminListener, BindError> {
        match (&entry.addr, inherited) {
            (StatsAddr::Tcp(a), Some(std)) => {
                let err = |source| BindError {
                    addr: a.to_string(),
                    source,
                };
                std.set_nonblocking(true).map_err(err)?;
                Ok(AdminListener {
                    sock: Sock::Tcp(TcpListener::from_std(std).map_err(err)?),
                    level: entry.level,
                })
            }
            _ => Self::bind(entry),
        }
    }

    /// Puts a Unix socket at its configured path (replacing a stale file
    /// or the socket of the gwd this one takes over from). Until then it
    /// listens under a name of its own. Idempotent; nothing for TCP.
    pub fn publish(&self) -> Result<(), BindError> {
        if let Sock::Unix(_, p, _) = &self.sock {
            let staged = staged_path(p);
            if staged.exists() {
                std::fs::rename(&staged, p).map_err(|source| BindError {
                    addr: p.display().to_string(),
                    source,
                })?;
            }
        }
        Ok(())
    }

    /// A new descriptor of a TCP runtime API socket (to hand it to a new
    /// gwd); `None` for a Unix one.
    pub fn duplicate_tcp_fd(&self) -> Option<io::Result<std::os::fd::OwnedFd>> {
        match &self.sock {
            Sock::Tcp(l) => Some(l.as_fd().try_clone_to_owned()),
            Sock::Unix(..) => None,
        }
    }

    /// Where it listens: `127.0.0.1:9999` or the socket path.
    pub fn local_addr(&self) -> String {
        match &self.sock {
            Sock::Tcp(l) => l
                .local_addr()
                .map_or_else(|e| format!("?({e})"), |a| a.to_string()),
            Sock::Unix(_, p, _) => p.display().to_string(),
        }
    }

    /// The level its clients get.
    pub fn level(&self) -> AdminLevel {
        self.level
    }

    /// Accepts and serves clients until `stop` resolves; then stops
    /// accepting and removes a Unix socket file. Each client runs in its own
    /// task.
    pub async fn serve(self, cli: impl Into<LiveCli>, stop: impl Future<Output = ()>) {
        let cli = cli.into();
        let level = self.level;
        if let Err(e) = self.publish() {
            tracing::warn!(error = %e, "stats-socket not published");
        }
        tokio::pin!(stop);
        loop {
            let accepted = tokio::select! {
                () = &mut stop => break,
                r = accept(&self.sock) => r,
            };
            match accepted {
                Ok(Conn::Tcp(s)) => {
                    tokio::spawn(serve_client(s, cli.clone(), level));
                }
                Ok(Conn::Unix(s)) => {
                    // Unix connections can carry descriptors: `_getsocks`.
                    let (r, w) = s.into_split();
                    tokio::spawn(serve_halves(r, w, cli.clone(), level, |w| {
                        Some(w.as_ref().as_fd())
                    }));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "stats-socket accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        if let Sock::Unix(_, p, Some(id)) = &self.sock {
            use std::os::unix::fs::MetadataExt;
            let still_ours = std::fs::metadata(p)
                .ok()
                .is_some_and(|m| (m.dev(), m.ino()) == *id);
            if still_ours {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// Where a Unix socket is bound before [`AdminListener::publish`].
fn staged_path(p: &std::path::Path) -> PathBuf {
    let mut name = p.as_os_str().to_owned();
    name.push(format!(".{}.new", std::process::id()));
    PathBuf::from(name)
}

impl Drop for AdminListener {
    fn drop(&mut self) {
        // Never published (the start failed): its staged file goes.
        if let Sock::Unix(_, p, _) = &self.sock {
            let _ = std::fs::remove_file(staged_path(p));
        }
    }
}

enum Conn {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

async fn accept(sock: &Sock) -> io::Result<Conn> {
    match sock {
        Sock::Tcp(l) => l.accept().await.map(|(s, _)| Conn::Tcp(s)),
        Sock::Unix(l, _, _) => l.accept().await.map(|(s, _)| Conn::Unix(s)),
    }
}

/// Serves one client: request lines in, replies out, until the session
/// closes, the client leaves, or it stays idle for [`IDLE_TIMEOUT`].
pub async fn serve_client<S>(stream: S, cli: impl Into<LiveCli>, level: AdminLevel)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (r, w) = tokio::io::split(stream);
    serve_halves(r, w, cli, level, |_| None).await;
}

/// [`serve_client`] over a reader and a writer; `fd_of` gives the
/// connection's descriptor where it can carry others (Unix sockets).
async fn serve_halves<R, W>(
    r: R,
    mut w: W,
    cli: impl Into<LiveCli>,
    level: AdminLevel,
    fd_of: impl Fn(&W) -> Option<BorrowedFd<'_>>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let live = cli.into();
    let mut r = BufReader::new(r);
    let mut session = live.get().session(level);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let read = tokio::time::timeout(IDLE_TIMEOUT, read_line(&mut r, &mut buf)).await;
        let eof = match read {
            Err(_) | Ok(Err(_)) => break,
            Ok(Ok(0)) => true,
            Ok(Ok(_)) => false,
        };
        if buf.len() > MAX_LINE {
            let _ = w.write_all(b"Request line too long.\n\n").await;
            break;
        }
        if eof && buf.is_empty() {
            // A payload still open at end of input ends here, like an
            // empty line would.
            if session.has_pending_payload() {
                let out = session.feed_line("");
                let _ = w.write_all(out.as_bytes()).await;
            }
            break;
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        let line = String::from_utf8_lossy(&buf);
        // A reload since the last line: this one runs on the new config.
        session.set_cli(live.get());
        if line.trim() == "_getsocks" {
            // Binary upgrade: the listening sockets, then the close.
            let refusal = if level < AdminLevel::Admin {
                Some("Permission denied\n\n")
            } else if fd_of(&w).is_none() {
                Some("_getsocks needs a Unix socket.\n\n")
            } else {
                None
            };
            if let Some(text) = refusal {
                let _ = w.write_all(text.as_bytes()).await;
            } else {
                let _ = w.flush().await;
                let sockets = live.get().handover_sockets().unwrap_or_default();
                let list: Vec<(String, BorrowedFd<'_>)> = sockets
                    .iter()
                    .map(|(t, fd)| (t.clone(), fd.as_fd()))
                    .collect();
                if let Some(fd) = fd_of(&w) {
                    match crate::handover::send(fd, &list) {
                        Ok(()) => tracing::info!(
                            sockets = list.len(),
                            "listening sockets handed over (_getsocks)"
                        ),
                        Err(e) => tracing::warn!(error = %e, "_getsocks failed"),
                    }
                }
            }
            break;
        }
        let mut pending = session.start_line(&line);
        let mut failed = false;
        // A reload (however written: `\reload`, or a command whose payload
        // ends on this line) must not block a runtime worker.
        // (Only an admin session may reload: others never leave the
        // worker, so hostile lines and payloads cost nothing more.)
        let may_reload = level >= AdminLevel::Admin && pending.runs("reload");
        if may_reload {
            // A reload reads files and binds sockets: off the runtime's
            // workers, so traffic goes on meanwhile. (Its replies are
            // short: collected, then written.)
            let run = tokio::task::spawn_blocking(move || {
                let mut outs = Vec::new();
                while let Some(out) = session.next_output(&mut pending) {
                    outs.push(out);
                }
                (session, outs)
            });
            let Ok((back, outs)) = run.await else { break };
            session = back;
            for out in outs {
                if w.write_all(out.as_bytes()).await.is_err() {
                    failed = true;
                    break;
                }
            }
        } else {
            // One command's reply at a time: a slow reader holds back the
            // next command, not a growing reply.
            while let Some(out) = session.next_output(&mut pending) {
                if w.write_all(out.as_bytes()).await.is_err() {
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            break;
        }
        if session.is_closed() {
            break;
        }
        if eof {
            if session.has_pending_payload() {
                let out = session.feed_line("");
                let _ = w.write_all(out.as_bytes()).await;
            }
            break;
        }
    }
    let _ = w.flush().await;
    let _ = w.shutdown().await;
}

async fn read_line<R: AsyncBufReadExt + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut total = 0;
    loop {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            return Ok(total);
        }
        let (take, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if buf.len() <= MAX_LINE {
            buf.extend_from_slice(&avail[..take]);
        }
        r.consume(take);
        total += take;
        if done {
            return Ok(total);
        }
    }
}
