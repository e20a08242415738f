//! The restricted user of the `restricted-user` swarm dimension: permissions
//! that name exactly the workload's exchanges and queues, so that every
//! command of the run goes through the core's access control
//! (`Config::access`) and none may be refused.

use crate::workload::{request_reply, Topology};
use brokerlab_core::{Access, Command, Permissions};

/// The user the simulator's clients log in as.
pub(super) const USER: &str = "guest";

/// Access control granting `USER` on "/" configure, write and read on the
/// workload's names alone: the exchanges and queues its setup declares and
/// binds, the exchanges its producers publish to (the default one by its
/// empty name), the queues its consumers take from, the requesters' reply
/// queues and server-named queues.
pub(super) fn restricted(topology: &Topology) -> Access {
    let mut names: Vec<String> = Vec::new();
    for command in &topology.setup {
        match command {
            Command::ExchangeDeclare { exchange, .. } => names.push(exchange.clone()),
            Command::QueueDeclare { queue, .. } => names.push(queue.clone()),
            Command::QueueBind {
                queue, exchange, ..
            } => names.extend([queue.clone(), exchange.clone()]),
            _ => {}
        }
    }
    names.extend(
        topology
            .targets
            .iter()
            .map(|target| target.exchange.to_string()),
    );
    names.extend(topology.queues.keys().map(ToString::to_string));
    names.extend(topology.consume_from.iter().map(ToString::to_string));
    names.sort();
    names.dedup();
    let mut alternatives: Vec<String> = names.iter().map(|name| regex::escape(name)).collect();
    alternatives.push(r"amq\.gen-.*".to_owned());
    if topology.requesters {
        let example = regex::escape(&request_reply::reply_queue(0));
        alternatives.push(example.replace('0', "[0-9]+"));
    }
    let pattern = format!("^(?:{})$", alternatives.join("|"));
    let permissions =
        Permissions::new(&pattern, &pattern, &pattern).expect("escaped names make a valid pattern");
    let mut access = Access::default();
    access.grant(USER, "/", permissions);
    access
}
