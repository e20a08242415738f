//! Client-side assignors.
