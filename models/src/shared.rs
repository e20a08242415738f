//! `Shared<T>`: a value that states share and that is hashed once.
//!
//! The checker clones every state it generates and hashes every state to
//! fingerprint it, but most steps change one client and leave the broker
//! (the largest part of a state) and most messages in flight as they were.
//! A `Shared` value is an `Arc` (a clone is a reference count) with its
//! hash computed when it is made or changed, and hashing it writes that one
//! number: the broker is cloned and hashed only on the steps that change it.

use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// A shared value with its hash.
#[derive(Clone, Debug)]
pub struct Shared<T> {
    hash: u64,
    value: Arc<T>,
}

/// The value's hash, the same in every run and on every thread (aHash with
/// fixed keys, as stateright fingerprints states).
fn hash_of<T: Hash>(value: &T) -> u64 {
    const KEYS: [u64; 4] = [
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    ];
    ahash::RandomState::with_seeds(KEYS[0], KEYS[1], KEYS[2], KEYS[3]).hash_one(value)
}

impl<T: Hash + Clone> Shared<T> {
    /// Shares `value`.
    #[must_use]
    pub fn new(value: T) -> Shared<T> {
        Shared {
            hash: hash_of(&value),
            value: Arc::new(value),
        }
    }

    /// Changes the value (a copy of it, if other states share it) and hashes it again.
    pub fn update<R>(&mut self, change: impl FnOnce(&mut T) -> R) -> R {
        let result = change(Arc::make_mut(&mut self.value));
        self.hash = hash_of(&*self.value);
        result
    }
}

impl<T> Shared<T> {
    /// The value's hash (the same in every run).
    #[must_use]
    pub fn hash_value(&self) -> u64 {
        self.hash
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: PartialEq> PartialEq for Shared<T> {
    fn eq(&self, other: &Shared<T>) -> bool {
        self.hash == other.hash
            && (Arc::ptr_eq(&self.value, &other.value) || self.value == other.value)
    }
}

impl<T: Eq> Eq for Shared<T> {}

impl<T> Hash for Shared<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

#[cfg(test)]
mod tests {
    use super::Shared;

    #[test]
    fn an_update_rehashes_and_leaves_other_sharers_as_they_were() {
        let first = Shared::new(vec![1, 2]);
        let mut second = first.clone();
        second.update(|numbers| numbers.push(3));
        assert_eq!(*first, vec![1, 2]);
        assert_ne!(first, second);
        assert_eq!(second, Shared::new(vec![1, 2, 3]));
    }
}
