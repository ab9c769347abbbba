//! Budget behaviour seen from the backend.
