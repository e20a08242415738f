//! State the broker keeps only to go faster: caches and reusable
//! allocations whose contents never change what the broker does. Wrapped in
//! `Unobserved`, it is left out of the broker's identity: two brokers that
//! differ only there compare and hash equal, and a clone starts it afresh.
//! Model checkers and the simulator compare broker states, so this is what
//! lets a cache live in the state machine without splitting equal states.

use std::ops::{Deref, DerefMut};

/// A value that is not part of the broker's observable state.
#[derive(Default)]
pub(crate) struct Unobserved<T>(T);

impl<T> Deref for Unobserved<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Unobserved<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// A clone starts afresh: what is cached or pooled belongs to the original.
impl<T: Default> Clone for Unobserved<T> {
    fn clone(&self) -> Self {
        Unobserved(T::default())
    }
}

/// Never a difference between brokers.
impl<T> PartialEq for Unobserved<T> {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl<T> Eq for Unobserved<T> {}

/// Consistent with `PartialEq`: adds nothing to a broker's hash.
impl<T> std::hash::Hash for Unobserved<T> {
    fn hash<H: std::hash::Hasher>(&self, _state: &mut H) {}
}

impl<T: std::fmt::Debug> std::fmt::Debug for Unobserved<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, BuildHasherDefault};

    #[test]
    fn unobserved_values_never_tell_brokers_apart() {
        let (a, b) = (Unobserved(1), Unobserved(2));
        assert_eq!(a, b);
        let fixed = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
        assert_eq!(fixed.hash_one(&a), fixed.hash_one(&b));
        assert_eq!(*a.clone(), 0, "a clone starts afresh");
    }
}
