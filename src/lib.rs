//! moge facade.
