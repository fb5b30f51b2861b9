//! Health checks (work in progress).
