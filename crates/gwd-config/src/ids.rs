//! Where a frontend, backend or server sits in a loaded [`Config`]: typed
//! positions, so that a backend's position cannot be used as a server's
//! or a frontend's.
//!
//! These are positions (in [`Config::frontends`], [`Config::backends`],
//! a backend's `servers`), which the loader assigns in file order; they
//! are not HAProxy's numeric ids (`Frontend::id`, `fe_id()`, which are
//! 1-based and may be set by hand).
//!
//! [`Config`]: crate::Config
//! [`Config::frontends`]: crate::Config::frontends
//! [`Config::backends`]: crate::Config::backends

macro_rules! position {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(usize);

        impl $name {
            /// The id of position `index`.
            pub const fn new(index: usize) -> Self {
                $name(index)
            }

            /// The position, to index the vector it is a position in.
            pub const fn index(self) -> usize {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

position! {
    /// A frontend: its position in `Config::frontends`.
    FrontendId
}

position! {
    /// A backend: its position in `Config::backends`.
    BackendId
}

position! {
    /// A server: its position in its backend's `servers` (a server is
    /// named by its backend's id and this, see [`ServerAt`]).
    ServerId
}

/// A server of a backend, by position: what `<backend>/<server>`
/// references (`attach-srv`, `rhttp@` binds) resolve to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerAt {
    pub backend: BackendId,
    pub server: ServerId,
}

impl BackendId {
    /// The server at position `index` of this backend.
    pub const fn server(self, index: usize) -> ServerAt {
        ServerAt {
            backend: self,
            server: ServerId::new(index),
        }
    }
}

impl ServerAt {
    /// Server `server` of backend `backend`, by positions.
    pub const fn new(backend: usize, server: usize) -> Self {
        ServerAt {
            backend: BackendId::new(backend),
            server: ServerId::new(server),
        }
    }
}
