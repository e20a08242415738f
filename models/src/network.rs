//! The network's semantics as a model parameter, and the sequencing the
//! endpoints do over the networks that do not keep order (TCP's job).
//!
//! AMQP runs over TCP: each connection delivers its bytes once and in
//! order, and nothing orders one connection against another. Stateright
//! offers an ordered network (one FIFO link per pair of actors: a client's
//! old and new connection share it), unordered ones (every segment races
//! every other, optionally delivered any number of times) and loss on top.
//! Over the unordered ones the endpoints number each connection's segments
//! and take them in turn, as TCP does over IP: a segment that arrives ahead
//! of its turn is not taken yet (stateright does not offer a step that
//! changes nothing), and a copy of one already taken is discarded. What
//! those networks add over the ordered one is therefore exactly what TCP
//! allows and a single link hides: a client's new connection overtaking its
//! old one (its subscribe reaching the broker before the old connection's
//! close), and one connection's replies overtaking another's.

use crate::wire::{Incarnation, Msg};
use stateright::actor::{Id, LossyNetwork, Network};
use std::collections::BTreeMap;

/// The network's semantics (stateright's), as a model parameter.
///
/// What must still hold under each:
/// - `Ordered`: every property of the model.
/// - `OrderedLossy`: work may stall for good (a lost segment with no
///   connection failure to tell anyone), so `quiet-means-done` fails (and
///   the models' sometimes-properties may too). Safety holds with one
///   message; with two or more `no-lost-confirmed` fails too, and that is
///   the point of checking it: losing a segment from the middle of a
///   connection that goes on is not something TCP does (it breaks the
///   connection instead), and publisher confirms are numbered by position
///   on the channel, so when publish 1 is lost the broker's confirm of
///   publish 2 carries number 1 and the producer takes it for message 1.
///   The confirm protocol rests on the transport's no-gap promise. So does
///   `oldest-first` (the `ordering` model): a lost close leaves the old
///   connection holding the older message while the new one gets the next.
/// - `Unordered`: every safety and liveness property but one. Order is a
///   per-connection promise (TCP's), kept by sequencing, so
///   `fifo-without-redelivery` (messages of one producer connection) holds;
///   messages published on different connections have no order to keep,
///   and no model compares them. `oldest-first` (the `ordering` model) is
///   expected to fail: a consumer's new connection may subscribe before the
///   broker hears its old one close, and get a newer message while the
///   older one is still unacked on the old connection.
/// - `Duplicating`: what holds under `Unordered`, no more and no less: sequencing
///   discards every copy before the broker or a client sees it, as TCP
///   does. Duplicates the application sees (a redelivery, a republish after
///   a lost confirm) are the `idempotency` model's.
///
/// The unordered networks are offered for models without crashes: after a
/// crash a segment of a connection the broker lost cannot be told from one
/// of a connection it has not opened yet without an incarnation number the
/// model does not carry (TCP's sequence numbers are random per connection
/// for the same reason).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Links {
    /// Each link in order, nothing lost (TCP, one link per pair of actors).
    #[default]
    Ordered,
    /// Each link in order, and any segment may be lost.
    OrderedLossy,
    /// Segments race one another; each connection's are taken in turn.
    Unordered,
    /// Segments race one another and may be delivered again; each
    /// connection's are taken in turn, copies discarded.
    Duplicating,
}

impl Links {
    /// The names `brokerlab check --network` takes, in the order of [`Links::ALL`].
    pub const NAMES: [&'static str; 4] = ["ordered", "lossy", "unordered", "duplicating"];

    /// Every kind of network.
    pub const ALL: [Links; 4] = [
        Links::Ordered,
        Links::OrderedLossy,
        Links::Unordered,
        Links::Duplicating,
    ];

    /// The network called `name` (one of [`Links::NAMES`]).
    #[must_use]
    pub fn by_name(name: &str) -> Option<Links> {
        let index = Links::NAMES.iter().position(|known| *known == name)?;
        Some(Links::ALL[index])
    }

    /// Whether the endpoints number their segments and take them in turn
    /// (the network itself does not keep order).
    #[must_use]
    pub fn sequenced(self) -> bool {
        matches!(self, Links::Unordered | Links::Duplicating)
    }

    /// Stateright's initial (empty) network of this kind.
    #[must_use]
    pub fn network(self) -> Network<Msg> {
        match self {
            Links::Ordered | Links::OrderedLossy => Network::new_ordered([]),
            Links::Unordered => Network::new_unordered_nonduplicating([]),
            Links::Duplicating => Network::new_unordered_duplicating([]),
        }
    }

    /// Whether the checker may lose segments.
    #[must_use]
    pub fn lossy(self) -> LossyNetwork {
        match self {
            Links::OrderedLossy => LossyNetwork::Yes,
            _ => LossyNetwork::No,
        }
    }
}

/// What a receiver does with a segment it is offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    /// Take it: it is the next of its connection.
    Take,
    /// Not yet: an earlier segment of its connection is still on the way.
    Wait,
    /// Discard it: a copy of one taken, or of a connection that is closed.
    Discard,
}

/// The broker's side of sequencing: each client connection's segment
/// counts both ways, and the latest incarnation each client opened (incarnations
/// of a client only grow, so an older one is closed). Empty over the
/// ordered networks, which need none of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Sequencing {
    /// Per live connection `(client, incarnation)`: segments taken from it and sent on it.
    pub counts: BTreeMap<(Id, Incarnation), (u8, u8)>,
    /// The latest incarnation each client opened.
    pub opened: BTreeMap<Id, Incarnation>,
}

impl Sequencing {
    /// What the broker does with segment `seq` of `client`'s connection `incarnation`.
    #[must_use]
    pub fn turn(&self, client: Id, incarnation: Incarnation, seq: u8) -> Turn {
        if let Some(&(taken, _)) = self.counts.get(&(client, incarnation)) {
            return match seq.cmp(&taken) {
                std::cmp::Ordering::Less => Turn::Discard,
                std::cmp::Ordering::Equal => Turn::Take,
                std::cmp::Ordering::Greater => Turn::Wait,
            };
        }
        let opened_before = self
            .opened
            .get(&client)
            .is_some_and(|&last| incarnation <= last);
        match (opened_before, seq) {
            (true, _) => Turn::Discard,
            (false, 0) => Turn::Take,
            (false, _) => Turn::Wait,
        }
    }

    /// Notes that the broker took segment `seq` of `client`'s connection `incarnation`.
    pub fn taken(&mut self, client: Id, incarnation: Incarnation, seq: u8) {
        if seq == 0 {
            let last = self.opened.entry(client).or_insert(incarnation);
            *last = (*last).max(incarnation);
        }
        let counts = self.counts.entry((client, incarnation)).or_insert((0, 0));
        assert_eq!(counts.0, seq, "segments are taken in turn");
        counts.0 = seq.checked_add(1).expect("a bounded number of segments");
    }

    /// The number of the next segment the broker sends on `client`'s
    /// connection `incarnation`, or `None` when that connection is closed.
    pub fn next_sent(&mut self, client: Id, incarnation: Incarnation) -> Option<u8> {
        let counts = self.counts.get_mut(&(client, incarnation))?;
        let seq = counts.1;
        counts.1 = seq.checked_add(1).expect("a bounded number of segments");
        Some(seq)
    }

    /// Forgets a closed connection (its later copies are discarded by `opened`).
    pub fn closed(&mut self, client: Id, incarnation: Incarnation) {
        self.counts.remove(&(client, incarnation));
    }
}

/// A client's side of sequencing on its current connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientSequencing {
    /// Segments sent on it.
    pub sent: u8,
    /// Segments taken from it.
    pub taken: u8,
}

impl ClientSequencing {
    /// What the client does with segment `seq` of its connection `incarnation`,
    /// when its current connection is `current`.
    #[must_use]
    pub fn turn(self, current: Incarnation, incarnation: Incarnation, seq: u8) -> Turn {
        match (incarnation == current, seq.cmp(&self.taken)) {
            (false, _) | (true, std::cmp::Ordering::Less) => Turn::Discard,
            (true, std::cmp::Ordering::Equal) => Turn::Take,
            (true, std::cmp::Ordering::Greater) => Turn::Wait,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Sequencing, Turn};
    use stateright::actor::Id;

    const CLIENT: usize = 1;

    #[test]
    fn a_segment_ahead_of_its_turn_waits_and_a_copy_is_discarded() {
        let mut sequencing = Sequencing::default();
        assert_eq!(sequencing.turn(Id::from(CLIENT), 1, 1), Turn::Wait);
        assert_eq!(sequencing.turn(Id::from(CLIENT), 1, 0), Turn::Take);
        sequencing.taken(Id::from(CLIENT), 1, 0);
        assert_eq!(sequencing.turn(Id::from(CLIENT), 1, 0), Turn::Discard);
        assert_eq!(sequencing.turn(Id::from(CLIENT), 1, 1), Turn::Take);
    }

    #[test]
    fn segments_of_a_closed_connection_are_discarded_and_a_newer_one_opens() {
        let mut sequencing = Sequencing::default();
        sequencing.taken(Id::from(CLIENT), 1, 0);
        sequencing.closed(Id::from(CLIENT), 1);
        assert_eq!(sequencing.next_sent(Id::from(CLIENT), 1), None);
        assert_eq!(sequencing.turn(Id::from(CLIENT), 1, 0), Turn::Discard);
        assert_eq!(sequencing.turn(Id::from(CLIENT), 1, 3), Turn::Discard);
        assert_eq!(sequencing.turn(Id::from(CLIENT), 2, 0), Turn::Take);
    }
}
