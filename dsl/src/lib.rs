//! moge kernel frontend.
