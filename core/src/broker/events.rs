//! The event stream: how the broker records an event without copying a
//! name, and how a driver drains it (`Broker::drain_events`, lending the
//! names; `Broker::poll_event`, copying them).

use super::Broker;
use crate::arena::{Arena, Id};
use crate::in_place;
use crate::message::Name;
use crate::protocol::Event;
use crate::queue::Queue;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// How a recorded event holds a name until it is drained, with nothing to
/// copy or drop on the message path: a queue that exists by its id (its name
/// is lent when the event is drained, and copied into `event_names` for the
/// events still waiting when the queue is deleted), any other name by its
/// place in `event_names`. One word: the id's, whose low half is never 0, or
/// the place in the high half over a zero low half (an enum of two words was
/// built in halves and copied whole, a stall on store forwarding).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Held(u64);

impl Held {
    #[inline]
    pub(super) fn queue(id: Id) -> Held {
        Held(id.word())
    }

    #[inline]
    pub(super) fn name(place: u32) -> Held {
        Held(u64::from(place) << 32)
    }

    /// The queue it holds by id, or else the place of its name.
    #[inline]
    fn get(self) -> Result<Id, usize> {
        Id::from_word(self.0).ok_or((self.0 >> 32) as usize)
    }
}

/// Where the names of the events being drained are read: the queues, and
/// the names the events hold by place.
#[derive(Clone, Copy)]
struct EventNames<'a> {
    queues: &'a Arena<Queue>,
    names: &'a [Name],
}

impl<'a> EventNames<'a> {
    /// `event` with its names lent, each read when it is used.
    #[inline]
    fn lend(&'a self, event: Event<Held>) -> EventRef<'a> {
        event.map(|held| NameRef { names: self, held })
    }
}

/// A name an event lends while it is drained (a queue's or an exchange's),
/// read from the broker when it is used: an observer that does not look at
/// a name does not pay for finding it. Derefs to the [`Name`].
#[derive(Clone, Copy)]
pub struct NameRef<'a> {
    names: &'a EventNames<'a>,
    held: Held,
}

impl<'a> NameRef<'a> {
    /// The name.
    ///
    /// # Panics
    /// When the queue it names is gone, which the broker's bookkeeping rules
    /// out (a queue's name is copied for its waiting events when it is deleted).
    #[must_use]
    #[inline]
    pub fn get(self) -> &'a Name {
        match self.held.get() {
            Ok(queue) => &self.names.queues[queue].name,
            Err(place) => &self.names.names[place],
        }
    }
}

impl Deref for NameRef<'_> {
    type Target = Name;

    fn deref(&self) -> &Name {
        self.get()
    }
}

impl fmt::Debug for NameRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.get(), f)
    }
}

impl fmt::Display for NameRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.get(), f)
    }
}

impl PartialEq for NameRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for NameRef<'_> {}

impl Hash for NameRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.get().hash(state);
    }
}

/// An event whose names the broker lends: what
/// [`Broker::drain_events`] hands out; [`EventRef::to_owned`] makes it an
/// [`Event`].
pub type EventRef<'a> = Event<NameRef<'a>>;

impl EventRef<'_> {
    /// The event with its own copies of the names.
    #[must_use]
    pub fn to_owned(self) -> Event {
        self.map(|name| name.get().clone())
    }
}

impl Broker {
    /// The next event, with its own copies of the names; `None` when every
    /// event was drained (or events are off).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        let &event = self.events.get(self.events_taken)?;
        let names = EventNames {
            queues: &self.queues,
            names: &self.event_names,
        };
        let event = names.lend(event).to_owned();
        self.events_taken += 1;
        if self.events_taken == self.events.len() {
            self.forget_events();
        }
        Some(event)
    }

    /// Hands every event not yet drained to `each`, in order, lending their
    /// names (nothing is copied), and leaves none.
    #[inline]
    pub fn drain_events(&mut self, mut each: impl FnMut(EventRef<'_>)) {
        if self.events.is_empty() {
            return;
        }
        let names = EventNames {
            queues: &self.queues,
            names: &self.event_names,
        };
        for &event in &self.events[self.events_taken..] {
            each(names.lend(event));
        }
        self.forget_events();
    }

    /// Every event was drained: the list and its names start again.
    fn forget_events(&mut self) {
        self.events.clear();
        self.events_taken = 0;
        self.event_names.clear();
    }

    #[inline]
    pub(super) fn event(&mut self, event: Event<Held>) {
        if let Event::Dropped { reason, .. } = &event {
            *self.dropped.entry(*reason).or_default() += 1;
        }
        self.counters.0.count(&event);
        if self.config.events {
            self.events.push(event);
        }
    }

    /// Emits the event `make` builds, if events are on; otherwise it is not
    /// even built. For the message path's events: never `Dropped`, which
    /// `event` counts.
    #[inline(always)]
    pub(super) fn emit(&mut self, make: impl FnOnce() -> Event<Held>) {
        if self.config.events {
            in_place::push(&mut self.events, make);
            debug_assert!(
                !matches!(self.events.last(), Some(Event::Dropped { .. })),
                "drops are counted by `event`"
            );
        }
    }

    /// How an event holds `name`, a name it cannot hold by a queue's id
    /// (kept only when events are on: otherwise the event is not kept either).
    pub(super) fn hold_name(&mut self, name: Name) -> Held {
        if !self.config.events {
            return Held::name(u32::MAX);
        }
        let place =
            u32::try_from(self.event_names.len()).expect("fewer than 2^32 names wait in events");
        self.event_names.push(name);
        Held::name(place)
    }

    /// Copies queue `id`'s name for the events still waiting that name it
    /// by id: it is being deleted.
    pub(super) fn name_queue_in_events(&mut self, id: Id, name: &Name) {
        let gone = Held::queue(id);
        let mut named = false;
        for event in &self.events {
            event.map(|held| named |= held == gone);
        }
        if !named {
            return;
        }
        let held = self.hold_name(name.clone());
        for event in &mut self.events {
            *event = event.map(|queue| if queue == gone { held } else { queue });
        }
    }
}
