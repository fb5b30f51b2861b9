//! Handing listening sockets to a new gwd process (binary upgrade).
//!
//! The new process connects to a Unix runtime API socket of level admin
//! and sends `_getsocks` (HAProxy's name for the same step). The running
//! process answers with its listening sockets as file descriptors
//! (`SCM_RIGHTS`), each with a tag saying what it is, then closes the
//! connection. Both processes then accept on the same sockets: no
//! connection is refused while the new one starts and the old one stops.
//!
//! The wire format is gwd's own (the two ends are the same program): a
//! sequence of messages, each one `sendmsg` whose bytes are
//!
//! ```text
//! gwd-handover 1 <pid> <count> <more>\n
//! <tag>\n            (count lines)
//! ```
//!
//! and whose control data carries the `count` descriptors in tag order;
//! `more` is 1 while further messages follow, 0 on the last. A message
//! carries at most [`PER_MESSAGE`] descriptors (the kernel's limit is
//! 253). Tags hold no newline; the sender refuses one that does.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// Descriptors per message.
pub const PER_MESSAGE: usize = 64;

/// Most descriptors taken in one handover (a peer that keeps saying
/// "more" is cut off here).
pub const MAX_SOCKETS: usize = 4096;

/// The longest message text accepted (tags included).
const MAX_TEXT: usize = 64 << 10;

/// A socket handed over: what it is, and the descriptor.
#[derive(Debug)]
pub struct HandedSocket {
    /// The sender's description, e.g. `bind www 127.0.0.1:80 127.0.0.1:80`.
    pub tag: String,
    pub fd: OwnedFd,
}

/// What a running gwd handed over.
#[derive(Debug, Default)]
pub struct Handover {
    /// The process that sent them (to be told to stop once the new one
    /// serves): the socket's peer as the kernel says (`SO_PEERCRED`),
    /// which the message's own pid must match.
    pub pid: u32,
    pub sockets: Vec<HandedSocket>,
}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Sends `sockets` (tag, descriptor) on `stream` as `_getsocks`' answer.
/// A blocking write on a socket that may be non-blocking: waits (bounded)
/// while the peer's buffer is full.
pub fn send(stream: BorrowedFd<'_>, sockets: &[(String, BorrowedFd<'_>)]) -> io::Result<()> {
    if let Some((tag, _)) = sockets.iter().find(|(t, _)| t.contains('\n')) {
        return Err(bad(format!("socket tag with a newline: {tag:?}")));
    }
    let pid = std::process::id();
    let chunks: Vec<&[(String, BorrowedFd<'_>)]> = if sockets.is_empty() {
        vec![&[]]
    } else {
        sockets.chunks(PER_MESSAGE).collect()
    };
    let last = chunks.len() - 1;
    for (i, chunk) in chunks.into_iter().enumerate() {
        let mut text = format!(
            "gwd-handover 1 {pid} {} {}\n",
            chunk.len(),
            u8::from(i != last)
        );
        for (tag, _) in chunk {
            text.push_str(tag);
            text.push('\n');
        }
        let fds: Vec<BorrowedFd<'_>> = chunk.iter().map(|(_, fd)| *fd).collect();
        let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(PER_MESSAGE))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(&fds)) {
            return Err(bad("descriptor message too large"));
        }
        let mut tries = 0;
        loop {
            match rustix::net::sendmsg(
                stream,
                &[IoSlice::new(text.as_bytes())],
                &mut control,
                SendFlags::NOSIGNAL,
            ) {
                Ok(n) if n == text.len() => break,
                // The descriptors went with the first byte; a short write
                // of the text is finished without them.
                Ok(n) => {
                    write_rest(stream, &text.as_bytes()[n..])?;
                    break;
                }
                Err(e) if e == rustix::io::Errno::AGAIN && tries < 1000 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

fn write_rest(stream: BorrowedFd<'_>, mut rest: &[u8]) -> io::Result<()> {
    let mut tries = 0;
    while !rest.is_empty() {
        match rustix::io::write(stream, rest) {
            Ok(n) => rest = &rest[n..],
            Err(e) if e == rustix::io::Errno::AGAIN && tries < 1000 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Connects to the runtime API socket at `path`, asks for the listening
/// sockets and returns them. Every step is bounded by `timeout`.
///
/// The socket must be a Unix one of level admin: a TCP socket cannot carry
/// descriptors, and a lower level is refused.
pub fn receive(path: &Path, timeout: Duration) -> io::Result<Handover> {
    let deadline = std::time::Instant::now() + timeout;
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    // Who is at the other end, as the kernel says: only a process of this
    // user (or root) may hand sockets over, and only it is told to stop.
    let peer = rustix::net::sockopt::socket_peercred(s.as_fd())?;
    let me = rustix::process::geteuid();
    if peer.uid != me && !peer.uid.is_root() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the process at {} runs as uid {}, not as this process's uid {}",
                path.display(),
                peer.uid.as_raw(),
                me.as_raw()
            ),
        ));
    }
    s.write_all(b"_getsocks\n")?;
    let h = receive_until(&mut s, Some(deadline))?;
    let peer_pid = u32::try_from(peer.pid.as_raw_nonzero().get()).unwrap_or(0);
    if h.pid != peer_pid || h.pid <= 1 {
        return Err(bad(format!(
            "the handover says pid {}, the socket's peer is pid {peer_pid}",
            h.pid
        )));
    }
    Ok(h)
}

/// Reads a [`send`]'s messages from `s`.
pub fn receive_from(s: &mut UnixStream) -> io::Result<Handover> {
    receive_until(s, None)
}

fn receive_until(s: &mut UnixStream, deadline: Option<std::time::Instant>) -> io::Result<Handover> {
    let mut out = Handover::default();
    loop {
        if deadline.is_some_and(|d| std::time::Instant::now() > d) {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the running gwd took too long to hand its sockets over",
            ));
        }
        let mut buf = vec![0u8; MAX_TEXT];
        let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(PER_MESSAGE))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = rustix::net::recvmsg(
            s.as_fd(),
            &mut [IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )?;
        let mut fds: Vec<OwnedFd> = Vec::new();
        for msg in control.drain() {
            if let RecvAncillaryMessage::ScmRights(r) = msg {
                fds.extend(r);
            }
        }
        if got.bytes == 0 {
            return Err(bad("the running gwd closed without handing sockets over"));
        }
        buf.truncate(got.bytes);
        // The text of one message may arrive in pieces after its first
        // bytes (which carried the descriptors): read up to its last tag.
        let header_end = loop {
            if let Some(i) = buf.iter().position(|b| *b == b'\n') {
                break i;
            }
            read_more(s, &mut buf)?;
        };
        let header = std::str::from_utf8(&buf[..header_end]).map_err(|_| bad("bad header"))?;
        let words: Vec<&str> = header.split(' ').collect();
        let (pid, count, more) = match words.as_slice() {
            ["gwd-handover", "1", pid, count, more] => (
                pid.parse::<u32>().map_err(|_| bad("bad pid"))?,
                count.parse::<usize>().map_err(|_| bad("bad count"))?,
                *more == "1",
            ),
            _ => {
                // A refusal in the text protocol (`Permission denied`, ...).
                let mut text = String::from_utf8_lossy(&buf).into_owned();
                let mut rest = String::new();
                let _ = s.read_to_string(&mut rest);
                text.push_str(&rest);
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("the running gwd refused: {}", text.trim()),
                ));
            }
        };
        if count > PER_MESSAGE {
            return Err(bad("too many descriptors in one message"));
        }
        while buf[header_end + 1..]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            < count
        {
            read_more(s, &mut buf)?;
        }
        if fds.len() != count {
            return Err(bad(format!(
                "{} descriptor(s) received for {count} socket(s)",
                fds.len()
            )));
        }
        let tags = std::str::from_utf8(&buf[header_end + 1..]).map_err(|_| bad("bad tag"))?;
        out.pid = pid;
        if out.sockets.len() + count > MAX_SOCKETS {
            return Err(bad(format!("more than {MAX_SOCKETS} sockets handed over")));
        }
        out.sockets.extend(
            tags.split('\n')
                .take(count)
                .zip(fds)
                .map(|(tag, fd)| HandedSocket {
                    tag: tag.to_owned(),
                    fd,
                }),
        );
        if !more {
            return Ok(out);
        }
    }
}

/// The local address of `fd` when it is a listening TCP socket; an error
/// naming what it is otherwise (a handed-over descriptor is checked, not
/// trusted by its tag).
pub fn listening_tcp_addr(fd: BorrowedFd<'_>) -> io::Result<std::net::SocketAddr> {
    use rustix::net::{SocketType, sockopt};
    if sockopt::socket_type(fd)? != SocketType::STREAM {
        return Err(bad("not a stream socket"));
    }
    if !sockopt::socket_acceptconn(fd)? {
        return Err(bad("not a listening socket"));
    }
    let addr = rustix::net::getsockname(fd)?;
    std::net::SocketAddr::try_from(addr).map_err(|_| bad("not a TCP/IP socket"))
}

fn read_more(s: &mut UnixStream, buf: &mut Vec<u8>) -> io::Result<()> {
    if buf.len() > MAX_TEXT {
        return Err(bad("handover message too long"));
    }
    let mut more = [0u8; 4096];
    let n = s.read(&mut more)?;
    if n == 0 {
        return Err(bad("the running gwd closed in the middle of a message"));
    }
    buf.extend_from_slice(&more[..n]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_cross_a_unix_socket_with_their_tags() {
        let (a, mut b) = UnixStream::pair().unwrap();
        // 70 sockets: two messages.
        let listeners: Vec<std::net::TcpListener> = (0..70)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let list: Vec<(String, BorrowedFd<'_>)> = listeners
            .iter()
            .map(|l| (format!("bind www {}", l.local_addr().unwrap()), l.as_fd()))
            .collect();
        let sender = std::thread::scope(|sc| {
            let h = sc.spawn(|| send(a.as_fd(), &list));
            let got = receive_from(&mut b).unwrap();
            h.join().unwrap().unwrap();
            got
        });
        assert_eq!(sender.pid, std::process::id());
        assert_eq!(sender.sockets.len(), 70);
        for (l, h) in listeners.iter().zip(&sender.sockets) {
            assert_eq!(h.tag, format!("bind www {}", l.local_addr().unwrap()));
            // The descriptor is the same socket: it has the same address.
            let dup = std::net::TcpListener::from(h.fd.try_clone().unwrap());
            assert_eq!(dup.local_addr().unwrap(), l.local_addr().unwrap());
        }
    }

    #[test]
    fn nothing_to_hand_over_is_one_empty_message() {
        let (a, mut b) = UnixStream::pair().unwrap();
        send(a.as_fd(), &[]).unwrap();
        let got = receive_from(&mut b).unwrap();
        assert!(got.sockets.is_empty());
    }

    #[test]
    fn a_text_refusal_is_an_error_naming_it() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(b"Permission denied\n\n").unwrap();
        drop(a);
        let e = receive_from(&mut b).unwrap_err();
        assert!(e.to_string().contains("Permission denied"), "{e}");
    }
}
