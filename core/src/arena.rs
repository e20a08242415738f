//! A slot arena with generation-checked ids: O(1) lookups without a hasher,
//! deterministic reuse of slots, and stale ids that can never reach a new
//! occupant of their old slot.

use std::num::NonZeroU64;

/// An arena id: a slot index and the generation the slot had when filled.
///
/// Both live in one word, the index in the high half, so ids order by index,
/// then generation. Generations start at 1, so the word is never zero: an
/// `Option<Id>` is a word too, and the records that hold ids (a delivery's
/// queue and consumer) copy in whole words.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(NonZeroU64);

impl Id {
    #[inline]
    fn new(index: u32, generation: u32) -> Id {
        let packed = u64::from(index) << 32 | u64::from(generation);
        Id(NonZeroU64::new(packed).expect("generations start at 1"))
    }

    /// The id as one word, whose low half (the generation) is never 0.
    #[inline]
    pub(crate) fn word(self) -> u64 {
        self.0.get()
    }

    /// The id whose [`Id::word`] `word` is; `None` when its low half is 0,
    /// which no id's is.
    #[inline]
    pub(crate) fn from_word(word: u64) -> Option<Id> {
        let id = Id(NonZeroU64::new(word)?);
        (id.generation() != 0).then_some(id)
    }

    #[inline]
    fn index(self) -> u32 {
        u32::try_from(self.0.get() >> 32).expect("the high half is a u32")
    }

    #[inline]
    fn generation(self) -> u32 {
        // The low half, truncated on purpose.
        #[allow(clippy::cast_possible_truncation)]
        let generation = self.0.get() as u32;
        generation
    }
}

impl std::fmt::Debug for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Id")
            .field("index", &self.index())
            .field("generation", &self.generation())
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// A slot arena.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Arena<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
}

impl<T> Default for Arena<T> {
    fn default() -> Self {
        Arena {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Arena<T> {
    /// Stores `value` and returns its id.
    pub fn insert(&mut self, value: T) -> Id {
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            assert!(slot.value.is_none(), "a free slot is empty");
            // Never 0, which the ids' niche keeps for `None`.
            slot.generation = slot.generation.checked_add(1).unwrap_or(1);
            slot.value = Some(value);
            return Id::new(index, slot.generation);
        }
        let index = u32::try_from(self.slots.len()).expect("fewer than 2^32 live entities");
        self.slots.push(Slot {
            generation: 1,
            value: Some(value),
        });
        Id::new(index, 1)
    }

    /// Removes and returns the value, if the id is still live.
    pub fn remove(&mut self, id: Id) -> Option<T> {
        let slot = self.slots.get_mut(id.index() as usize)?;
        if slot.generation != id.generation() {
            return None;
        }
        let value = slot.value.take()?;
        self.free.push(id.index());
        Some(value)
    }

    /// The value, if the id is still live.
    #[must_use]
    #[inline]
    pub fn get(&self, id: Id) -> Option<&T> {
        let slot = self.slots.get(id.index() as usize)?;
        (slot.generation == id.generation())
            .then_some(slot.value.as_ref())
            .flatten()
    }

    /// Every live value with its id, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (Id, &T)> {
        self.slots.iter().zip(0u32..).filter_map(|(slot, index)| {
            let id = Id::new(index, slot.generation);
            slot.value.as_ref().map(|value| (id, value))
        })
    }

    /// Every live value, mutably, in slot order.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.slots.iter_mut().filter_map(|slot| slot.value.as_mut())
    }

    /// The value, mutably, if the id is still live.
    #[inline]
    pub fn get_mut(&mut self, id: Id) -> Option<&mut T> {
        let slot = self.slots.get_mut(id.index() as usize)?;
        (slot.generation == id.generation())
            .then_some(slot.value.as_mut())
            .flatten()
    }
}

impl<T> std::ops::Index<Id> for Arena<T> {
    type Output = T;
    #[inline]
    fn index(&self, id: Id) -> &T {
        self.get(id).expect("arena id is live")
    }
}

impl<T> std::ops::IndexMut<Id> for Arena<T> {
    #[inline]
    fn index_mut(&mut self, id: Id) -> &mut T {
        self.get_mut(id).expect("arena id is live")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_id_does_not_reach_the_new_occupant_of_its_slot() {
        let mut arena = Arena::default();
        let first = arena.insert("first");
        assert_eq!(arena.remove(first), Some("first"));
        let second = arena.insert("second");
        assert_eq!(arena.get(first), None);
        assert_eq!(arena.get(second), Some(&"second"));
        assert_eq!(arena.remove(first), None);
    }

    #[test]
    fn an_id_is_one_word_with_a_nonzero_low_half_and_comes_back_from_it() {
        let mut arena = Arena::default();
        let ids: Vec<Id> = (0..3).map(|n| arena.insert(n)).collect();
        arena.remove(ids[1]);
        let reused = arena.insert(9);
        for id in ids.into_iter().chain([reused]) {
            assert_ne!(id.word() & u64::from(u32::MAX), 0);
            assert_eq!(Id::from_word(id.word()), Some(id));
        }
        assert_eq!(Id::from_word(0), None);
        assert_eq!(Id::from_word(7 << 32), None, "a zero low half is no id");
    }
}
