//! What the core benches share: their publishes and the properties they
//! carry, and the words of the topic benches' binding patterns and routing keys, so that
//! `benches/core.rs` and `benches/publish_loop.rs` build the same bindings
//! and keys.
// Each bench uses a part of this module.
#![allow(dead_code)]

use brokerlab_core::{Command, Name, Properties};
use bytes::Bytes;
use std::sync::{Arc, LazyLock};

/// The properties of every transient publish, shared from one allocation as
/// the server shares a connection's repeated properties (`LastProperties` in
/// server/src/connection/content.rs).
pub static PLAIN: LazyLock<Arc<Properties>> = LazyLock::new(|| Arc::new(Properties::default()));

/// A transient publish without confirms, as every message bench sends it.
/// Always inlined, as the benches built it in place before: a call here adds
/// about 30 instructions per message to what the benches count as the core's.
#[inline(always)]
pub fn transient_publish(exchange: &Name, key: &Name, body: &Bytes) -> Command {
    Command::BasicPublish {
        exchange: exchange.clone(),
        routing_key: key.clone(),
        mandatory: false,
        immediate: false,
        properties: PLAIN.clone(),
        body: body.clone(),
    }
}

/// Words drawn by a fixed LCG, so runs are identical; `Words(42)` is the
/// benches' seed.
pub struct Words(pub u64);

impl Words {
    fn next(&mut self, choices: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % choices
    }

    /// One of 1,000 words.
    fn word(&mut self) -> String {
        format!("w{}", self.next(1_000))
    }

    /// A binding pattern of 3 or 4 words: 10% `*`, 3% `#`, the rest literal.
    pub fn pattern(&mut self) -> String {
        let words = 3 + self.next(2);
        (0..words)
            .map(|_| match self.next(100) {
                0..=2 => "#".to_owned(),
                3..=12 => "*".to_owned(),
                _ => self.word(),
            })
            .collect::<Vec<_>>()
            .join(".")
    }

    /// A routing key of 3 or 4 literal words.
    pub fn key(&mut self) -> String {
        let words = 3 + self.next(2);
        (0..words)
            .map(|_| self.word())
            .collect::<Vec<_>>()
            .join(".")
    }
}
