//! The simulated network: connections between clients and the broker.
//!
//! It decides when a message sent on a connection arrives, and nothing else:
//! the simulation turns that time into an event. Each client has one link to
//! the broker with its own delay distribution, so messages on different
//! connections overtake each other freely, while on one connection and in
//! one direction they arrive in the order they were sent, as TCP keeps them
//! (an arrival is never earlier than the previous one in that direction).
//!
//! Faults: a clog stalls one direction of a client's link until a time (no
//! message is lost, they all arrive late); a partition stalls both; a closed
//! connection loses everything still in flight on it, as a reset TCP
//! connection does. Like str0m's netem, the network is itself sans-IO and
//! seeded: it draws from the run's random source and reads no clock.

use crate::plan::Span;
use crate::random::SimRng;
use brokerlab_core::ConnectionId;
use std::collections::BTreeMap;

/// Most connections open at once (each client holds at most one).
const CONNECTIONS_MAX: usize = crate::plan::CLIENTS_MAX;

/// Which way a message travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// From a client to the broker.
    ToBroker,
    /// From the broker to a client.
    ToClient,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::ToBroker => 0,
            Direction::ToClient => 1,
        }
    }
}

/// An open connection.
#[derive(Clone, Copy, Debug)]
struct Connection {
    client: usize,
    /// Arrival time of the latest message sent each way, which the next may not precede.
    last_arrival_ns: [u64; 2],
}

/// Links, their faults, and the open connections.
#[derive(Clone, Debug)]
pub struct Network {
    link_delays: Vec<Span>,
    /// Per client and direction: nothing arrives before this time.
    stalled_until_ns: Vec<[u64; 2]>,
    /// Per client: cut off from the broker until this time.
    partitioned_until_ns: Vec<u64>,
    connections: BTreeMap<ConnectionId, Connection>,
    next_connection: u64,
}

impl Network {
    /// A network with one link per client, with these delays.
    #[must_use]
    pub fn new(link_delays: Vec<Span>) -> Network {
        let clients = link_delays.len();
        Network {
            link_delays,
            stalled_until_ns: vec![[0; 2]; clients],
            partitioned_until_ns: vec![0; clients],
            connections: BTreeMap::new(),
            next_connection: 1,
        }
    }

    /// Opens a new connection for `client`; ids are never reused in a run.
    pub fn open(&mut self, client: usize) -> ConnectionId {
        assert!(
            client < self.link_delays.len(),
            "no link for client {client}"
        );
        assert!(
            self.connections.values().all(|open| open.client != client),
            "a client holds one connection at a time"
        );
        assert!(
            self.connections.len() < CONNECTIONS_MAX,
            "connection bound reached"
        );
        let conn = ConnectionId(self.next_connection);
        self.next_connection += 1;
        let connection = Connection {
            client,
            last_arrival_ns: [0; 2],
        };
        self.connections.insert(conn, connection);
        conn
    }

    /// Whether `conn` is open.
    #[must_use]
    pub fn is_open(&self, conn: ConnectionId) -> bool {
        self.connections.contains_key(&conn)
    }

    /// The client at the other end of an open connection.
    #[must_use]
    pub fn client_of(&self, conn: ConnectionId) -> Option<usize> {
        self.connections.get(&conn).map(|open| open.client)
    }

    /// The open connections, in id order.
    #[must_use]
    pub fn open_connections(&self) -> Vec<ConnectionId> {
        self.connections.keys().copied().collect()
    }

    /// Closes `conn`: what is in flight on it is lost. Returns its client if it was open.
    pub fn close(&mut self, conn: ConnectionId) -> Option<usize> {
        self.connections.remove(&conn).map(|closed| closed.client)
    }

    /// When a message sent now on `conn` arrives, or `None` if `conn` is closed.
    pub fn arrival(
        &mut self,
        rng: &mut SimRng,
        now_ns: u64,
        conn: ConnectionId,
        direction: Direction,
    ) -> Option<u64> {
        let connection = self.connections.get_mut(&conn)?;
        let client = connection.client;
        let way = direction.index();
        let delay_ns = self.link_delays[client].draw(rng);
        let arrival_ns = (now_ns + delay_ns)
            .max(self.stalled_until_ns[client][way])
            .max(connection.last_arrival_ns[way]);
        connection.last_arrival_ns[way] = arrival_ns;
        Some(arrival_ns)
    }

    /// Stalls one direction of `client`'s link until `until_ns`.
    pub fn clog(&mut self, client: usize, direction: Direction, until_ns: u64) {
        let stalled = &mut self.stalled_until_ns[client][direction.index()];
        *stalled = (*stalled).max(until_ns);
    }

    /// Cuts `client` off from the broker until `until_ns`, both ways or
    /// only `one_way`. Either way the ends stop hearing each other's
    /// heartbeats, so a long cut closes the connection.
    pub fn partition(&mut self, client: usize, until_ns: u64, one_way: Option<Direction>) {
        match one_way {
            Some(direction) => self.clog(client, direction, until_ns),
            None => {
                self.clog(client, Direction::ToBroker, until_ns);
                self.clog(client, Direction::ToClient, until_ns);
            }
        }
        let partitioned = &mut self.partitioned_until_ns[client];
        *partitioned = (*partitioned).max(until_ns);
    }

    /// Whether `client` is cut off from the broker at `now_ns`.
    #[must_use]
    pub fn is_partitioned(&self, client: usize, now_ns: u64) -> bool {
        self.partitioned_until_ns[client] > now_ns
    }

    /// Ends every clog and partition now (messages already on their way keep their times).
    pub fn heal(&mut self, now_ns: u64) {
        for stalled in &mut self.stalled_until_ns {
            *stalled = [now_ns; 2];
        }
        for partitioned in &mut self.partitioned_until_ns {
            *partitioned = now_ns;
        }
    }

    /// Clients, one per link.
    #[must_use]
    pub fn clients(&self) -> usize {
        self.link_delays.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_connection_stays_fifo_in_each_direction() {
        let mut network = Network::new(vec![Span::new(0, 10_000)]);
        let mut rng = SimRng::for_run(3);
        let conn = network.open(0);
        let mut last_ns = 0;
        for now_ns in 0..200 {
            let arrival_ns = network
                .arrival(&mut rng, now_ns, conn, Direction::ToBroker)
                .expect("the connection is open");
            assert!(arrival_ns >= last_ns);
            last_ns = arrival_ns;
        }
    }

    #[test]
    fn a_clog_delays_without_losing_and_a_closed_connection_loses() {
        let mut network = Network::new(vec![Span::new(5, 5)]);
        let mut rng = SimRng::for_run(3);
        let conn = network.open(0);
        network.clog(0, Direction::ToClient, 1_000);
        assert_eq!(
            network.arrival(&mut rng, 0, conn, Direction::ToClient),
            Some(1_000)
        );
        assert_eq!(
            network.arrival(&mut rng, 0, conn, Direction::ToBroker),
            Some(5)
        );
        assert_eq!(network.close(conn), Some(0));
        assert_eq!(
            network.arrival(&mut rng, 0, conn, Direction::ToBroker),
            None
        );
    }
}
