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
    /// gwd's own error page for its status, which an `errorfile` or
    /// `errorloc` may replace ([`LocalReply::replaced_by`]).
    pub error_page: bool,
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
            error_page: false,
        }
    }

    /// gwd's error page for `status`.
    pub fn error(status: StatusCode) -> LocalReply {
        // HAProxy's error pages carry these three lines in this order.
        let mut r = LocalReply::new(
            status,
            None,
            Bytes::from(crate::error_page::page_html(status)),
            false,
        );
        r.head.fields.append(b"cache-control", b"no-cache");
        r.head.fields.append(b"content-type", b"text/html");
        r.error_page = true;
        r
    }

    /// The configured page that replaces this error page: the first of
    /// `pages` (backend's, then frontend's) that has one for its status.
    /// `None` when this is not an error page or none is configured.
    /// `ctx` renders the log-format parts of an `http-error` page (the
    /// transaction without its request; see `gwd_config::PageFormat`).
    pub fn replaced_by<'p>(
        &self,
        pages: impl IntoIterator<Item = &'p gwd_config::ErrorPages>,
        ctx: &dyn gwd_sample::SampleContext,
    ) -> Option<LocalReply> {
        if !self.error_page {
            return None;
        }
        let code = self.status();
        let page = pages.into_iter().find_map(|p| p.get(&code))?;
        let mut reply = LocalReply::from_page(page, ctx);
        // A 401's challenge is part of the answer, not of its page: a
        // custom page keeps it, or browsers never ask for credentials
        // (HAProxy adds it to the page too).
        for v in self.head.fields.get_all("www-authenticate") {
            let _ = reply.head.fields.try_append(b"www-authenticate", v);
        }
        Some(reply)
    }

    /// An `errorfile`/`errorloc`/`http-error` answer: status, reason,
    /// fields in file order and body as configured, log-format parts
    /// rendered against `ctx`.
    pub fn from_page(
        page: &gwd_config::ErrorPage,
        ctx: &dyn gwd_sample::SampleContext,
    ) -> LocalReply {
        let status = StatusCode::from_u16(page.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut head = ResponseHead::new(status);
        head.reason = page.reason.as_deref().map(Into::into);
        for (name, value) in &page.headers {
            // Checked at load; a field refused here is left out, not fatal.
            let _ = head.fields.try_append(name.as_bytes(), value);
        }
        let body = match &page.lf {
            None => Bytes::from(page.body.clone()),
            Some(lf) => {
                use gwd_sample::RenderMode::Text;
                for (name, value) in &lf.headers {
                    // A rendered value with CR, LF or NUL is refused by
                    // the checked adder: the field is left out.
                    let v = value.render_bytes(ctx, Text);
                    if let Err(e) = head.fields.try_append(name.as_bytes(), &v) {
                        tracing::debug!(header = %name, error = %e, "http-error header left out");
                    }
                }
                let body = Bytes::from(lf.body.render_bytes(ctx, Text));
                head.fields
                    .append(b"content-length", body.len().to_string().as_bytes());
                if let Some((name, value)) = &lf.content_type {
                    let _ = head.fields.try_append(name.as_bytes(), value);
                }
                body
            }
        };
        LocalReply {
            head,
            body,
            error_page: false,
        }
    }

    pub fn status(&self) -> u16 {
        self.head.status.as_u16()
    }
}
