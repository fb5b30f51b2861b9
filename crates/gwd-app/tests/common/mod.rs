//! What the counting-allocator tests share: a plain keep-alive server on
//! its own threads (so its allocations are not gwd's).

use std::io::{Read, Write};
use std::net::TcpListener;

pub const BODY: &[u8] = b"0123456789abcdef0123456789abcdef";

/// A keep-alive server: every request head gets the same small answer.
pub fn server() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let mut answer =
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", BODY.len())
                                .into_bytes();
                        answer.extend_from_slice(BODY);
                        if s.write_all(&answer).is_err() {
                            return;
                        }
                    }
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    addr
}
