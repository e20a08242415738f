//! The consumer protocol.
