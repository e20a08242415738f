//! `Steps`: the broker actor's steps, remembered across checker states.
//!
//! A broker step is a pure function of the broker actor's state and what it
//! is handed (a client's segment, or a timer), and the checker takes the
//! same step many times: the states that differ only in their clients share
//! one broker state, and each offers the broker the same segments. Copying
//! the production `Broker` (its arenas, maps and strings), running it and
//! hashing the result is most of the cost of a step, so the first time a
//! step is taken its result (the next broker state, shared, and what the
//! broker sent, set and saved) is kept, and every later time it is replayed.
//! The next state is then the very same `Shared` value, and equal broker
//! states reached by different steps are made one (interned) when first
//! made, so comparing two is a pointer comparison, looking a step up never
//! compares brokers field by field, and dropping a checker state drops a
//! reference only.
//!
//! The table holds results only, never decides one: a hit gives what the
//! step would give (the core is deterministic, and the actor's configuration
//! is fixed per model), so the state space is the same with or without it.
//! It is bounded: a shard that fills up is emptied and starts again.

use crate::actors::Node;
use crate::broker_actor::{BrokerActor, BrokerState};
use crate::panics;
use crate::shared::Shared;
use crate::wire::{Log, Msg, Timer};
use stateright::actor::{Command, Id, Out};
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// What the broker is handed in one step.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Stimulus {
    /// A client's segment.
    Msg(Id, Msg),
    /// A timer fires.
    Timer(Timer),
}

/// What a step did besides changing the broker's state.
#[derive(Clone, Debug)]
enum Effect {
    Send(Id, Msg),
    SetTimer(Timer),
    Save(Log),
}

/// A step's result.
#[derive(Clone, Debug)]
struct Outcome {
    next: Shared<BrokerState>,
    effects: Vec<Effect>,
}

type Key = (Shared<BrokerState>, Stimulus);

/// The table's shards (a power of two), each behind its own lock.
const SHARDS: usize = 64;

/// The most steps a shard keeps before it is emptied (with `SHARDS`, about
/// a million steps in all: the broker states they hold are shared with the
/// checker's states, so this bounds what the table keeps alive beyond them).
const SHARD_STEPS_MAX: usize = 1 << 14;

/// Fixed keys, so that a run's table is the same on every run (it decides
/// nothing, but a fixed hasher keeps everything about a run reproducible).
/// aHash XORs seeds with its own constants: these must not be those
/// constants (that makes every key zero, and every hash the same).
fn hasher() -> ahash::RandomState {
    ahash::RandomState::with_seeds(
        0x9e37_79b9_7f4a_7c15,
        0xbf58_476d_1ce4_e5b9,
        0x94d0_49bb_1331_11eb,
        0x2545_f491_4f6c_dd1d,
    )
}

/// One shard: steps, and the broker states they made (each value once).
#[derive(Default)]
struct Shard {
    steps: HashMap<Key, Outcome, ahash::RandomState>,
    states: HashSet<Shared<BrokerState>, ahash::RandomState>,
}

/// The broker actor's remembered steps, shared by the model's clones and threads.
#[derive(Clone)]
pub struct Steps {
    shards: Arc<[Mutex<Shard>; SHARDS]>,
}

impl Default for Steps {
    fn default() -> Steps {
        Steps {
            shards: Arc::new(std::array::from_fn(|_| {
                Mutex::new(Shard {
                    steps: HashMap::with_hasher(hasher()),
                    states: HashSet::with_hasher(hasher()),
                })
            })),
        }
    }
}

/// The shard of a hash: its middle bits (the maps hash keys again with the
/// same hasher, place them by the low bits and tag them with the top ones,
/// which must vary within a shard).
fn shard_of(hash: u64) -> usize {
    ((hash >> 32) as usize) & (SHARDS - 1)
}

impl std::fmt::Debug for Steps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Steps")
    }
}

impl Steps {
    /// The broker's state after `stimulus`, with its effects on `out`: the
    /// remembered result when the step was taken before, else `broker`'s.
    pub fn step(
        &self,
        broker: &BrokerActor,
        state: &Shared<BrokerState>,
        stimulus: Stimulus,
        out: &mut Out<Node>,
    ) -> Shared<BrokerState> {
        let key = (state.clone(), stimulus);
        let shard = &self.shards[shard_of(hasher().hash_one(&key))];
        let known = lock(shard).steps.get(&key).cloned();
        let outcome = match known {
            Some(outcome) => outcome,
            None => {
                let mut outcome = run(broker, state, &key.1);
                outcome.next = self.intern(outcome.next);
                let mut shard = lock(shard);
                if shard.steps.len() >= SHARD_STEPS_MAX {
                    shard.steps.clear();
                }
                shard.steps.insert(key, outcome.clone());
                outcome
            }
        };
        for effect in outcome.effects {
            match effect {
                Effect::Send(dst, msg) => out.send(dst, msg),
                Effect::SetTimer(timer) => out.set_timer(timer, stateright::actor::model_timeout()),
                Effect::Save(log) => out.save(log),
            }
        }
        outcome.next
    }
}

impl Steps {
    /// The one shared value equal to `state` (itself, if it is the first).
    fn intern(&self, state: Shared<BrokerState>) -> Shared<BrokerState> {
        let mut shard = lock(&self.shards[shard_of(state.hash_value())]);
        if let Some(known) = shard.states.get(&state) {
            return known.clone();
        }
        if shard.states.len() >= SHARD_STEPS_MAX {
            shard.states.clear();
        }
        shard.states.insert(state.clone());
        state
    }
}

/// A shard, locked.
fn lock(shard: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
    shard
        .lock()
        .expect("no step panics while holding a shard's lock")
}

/// Takes the step on a copy of the broker's state. A step that panics
/// leaves the state as it was, with the panic recorded, and has no effects.
fn run(broker: &BrokerActor, state: &Shared<BrokerState>, stimulus: &Stimulus) -> Outcome {
    let mut out = Out::new();
    let taken = panics::catching(|| {
        let mut next = state.clone();
        next.update(|inner| match stimulus {
            Stimulus::Msg(src, msg) => broker.on_msg(inner, *src, msg.clone(), &mut out),
            Stimulus::Timer(timer) => broker.on_timeout(inner, timer, &mut out),
        });
        next
    });
    let next = match taken {
        Ok(next) => next,
        Err(panicked) => {
            out = Out::new();
            let mut next = state.clone();
            next.update(|inner| inner.panicked = Some(panicked));
            next
        }
    };
    let effects = out
        .into_iter()
        .map(|command| match command {
            Command::Send(dst, msg) => Effect::Send(dst, msg),
            Command::SetTimer(timer, _) => Effect::SetTimer(timer),
            Command::Save(log) => Effect::Save(log),
            Command::CancelTimer(_) | Command::ChooseRandom(..) => {
                unreachable!("the broker actor neither cancels timers nor chooses")
            }
        })
        .collect();
    Outcome { next, effects }
}
