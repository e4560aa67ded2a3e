//! Shared helpers for the integration tests (include with `mod support;`).

pub mod crds;
