//! Capture slots a frontend declares (HAProxy's `capture request|response
//! header`, `declare capture`, `http-request capture ... len`).
//!
//! Slots are numbered per direction in declaration order: the `capture`
//! entries of the section first (in their order), then one request slot
//! per `http-request capture ... len` rule, in rule order. Every
//! `capture ... id` rule of the frontend names an existing slot (checked
//! at load); a backend's may name any, and the request's frontend decides
//! at run time whether it exists (HAProxy's behaviour).

use gwd_sample::CaptureDir;

/// One capture slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureSlot {
    /// `capture request|response header <name>`: the header whose last
    /// occurrence fills the slot as the head arrives (lower-case);
    /// `None` for slots filled by `capture` rules only.
    pub header: Option<String>,
    /// `len`: the most bytes kept.
    pub len: usize,
}

/// A frontend's capture slots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureSlots {
    /// Request slots (`%hr`, `capture.req.hdr(<idx>)`).
    pub request: Vec<CaptureSlot>,
    /// Response slots (`%hs`, `capture.res.hdr(<idx>)`).
    pub response: Vec<CaptureSlot>,
}

impl CaptureSlots {
    /// The slots of `dir`.
    pub fn of(&self, dir: CaptureDir) -> &[CaptureSlot] {
        match dir {
            CaptureDir::Request => &self.request,
            CaptureDir::Response => &self.response,
        }
    }

    /// True when the frontend declares no slot at all.
    pub fn is_empty(&self) -> bool {
        self.request.is_empty() && self.response.is_empty()
    }
}
