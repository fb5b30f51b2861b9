//! Answers gwd makes itself (error pages, `http-request return`, the
//! stats page and the Prometheus text): a head and a complete body, with
//! its length, written by whichever protocol the visitor speaks.

use bytes::Bytes;
use gwd_head::{ResponseHead, StatusCode};

/// A complete local answer.
#[derive(Debug, Clone)]
pub(crate) struct LocalReply {
    pub head: ResponseHead,
    /// Empty for a HEAD request (the head still says the GET length).
    pub body: Bytes,
}

impl LocalReply {
    /// `status` with `body` (left out, but its length kept, for HEAD).
    pub fn new(
        status: StatusCode,
        content_type: Option<&str>,
        body: Bytes,
        head_only: bool,
    ) -> LocalReply {
        let mut head = ResponseHead::new(status);
        if let Some(ct) = content_type
            && let Err(e) = head.fields.try_append(b"content-type", ct.as_bytes())
        {
            tracing::debug!(content_type = %ct, error = %e, "content-type left out");
        }
        head.fields
            .append(b"content-length", body.len().to_string().as_bytes());
        LocalReply {
            head,
            body: if head_only { Bytes::new() } else { body },
        }
    }

    /// gwd's error page for `status`.
    pub fn error(status: StatusCode) -> LocalReply {
        let mut r = LocalReply::new(
            status,
            Some("text/html"),
            Bytes::from(crate::error_page::page_html(status)),
            false,
        );
        r.head.fields.append(b"cache-control", b"no-cache");
        r
    }

    pub fn status(&self) -> u16 {
        self.head.status.as_u16()
    }
}
