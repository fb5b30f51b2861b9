//! Server choice for a backend (work in progress).
