//! `/api/definitions`: the broker's topology as a RabbitMQ definitions file,
//! and the exchanges, queues and bindings of such a file declared as
//! commands.
//!
//! An export lists the users, vhosts and permissions the server runs with,
//! and the exchanges, queues and bindings a client declared: not the
//! predeclared exchanges, exclusive queues, or the default exchange's
//! implicit bindings, as RabbitMQ leaves them out. An import declares the
//! exchanges, then the queues, then the bindings of each vhost, as the
//! importing user; users, vhosts, permissions, policies and parameters are
//! the server's configuration (`serve --config`) and are not imported. A
//! file that does not parse, names a vhost the broker does not have, an
//! unknown exchange type or destination type is refused whole before
//! anything is declared.

use super::json;
use crate::inspect::Snapshot;
use crate::users::Users;
use brokerlab_core::{Command, ExchangeKind, FieldTable, Name};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Exchanges every vhost has from the start, left out of an export.
fn is_predeclared(name: &str) -> bool {
    name.is_empty() || name.starts_with("amq.")
}

/// The definitions file of what `snapshot` holds.
pub(crate) fn export(snapshot: &Snapshot, users: &Users) -> Value {
    let exported_queue = |vhost: &Name, name: &Name| {
        snapshot
            .queues
            .iter()
            .any(|queue| &queue.vhost == vhost && &queue.name == name && !queue.exclusive)
    };
    let queues: Vec<Value> = snapshot
        .queues
        .iter()
        .filter(|queue| !queue.exclusive)
        .map(|queue| {
            json!({
                "name": queue.name,
                "vhost": queue.vhost,
                "durable": queue.durable,
                "auto_delete": queue.auto_delete,
                "arguments": json::table(&queue.arguments),
            })
        })
        .collect();
    let exchanges: Vec<Value> = snapshot
        .exchanges
        .iter()
        .filter(|exchange| !is_predeclared(&exchange.name))
        .map(|exchange| {
            json!({
                "name": exchange.name,
                "vhost": exchange.vhost,
                "type": exchange.kind.as_str(),
                "durable": exchange.durable,
                "auto_delete": exchange.auto_delete,
                "internal": exchange.internal,
                "arguments": json::table(&exchange.arguments),
            })
        })
        .collect();
    let bindings: Vec<Value> = snapshot
        .bindings
        .iter()
        .filter(|binding| {
            !binding.destination_is_queue || exported_queue(&binding.vhost, &binding.destination)
        })
        .map(|binding| {
            json!({
                "source": binding.source,
                "vhost": binding.vhost,
                "destination": binding.destination,
                "destination_type": if binding.destination_is_queue { "queue" } else { "exchange" },
                "routing_key": binding.routing_key,
                "arguments": json::table(&binding.arguments),
            })
        })
        .collect();
    let users_json: Vec<Value> = users
        .user_entries()
        .into_iter()
        .map(|user| {
            json!({
                "name": user.name,
                "password_hash": user.password_hash,
                "hashing_algorithm": user.hashing_algorithm,
                "tags": user.tags,
                "limits": {},
            })
        })
        .collect();
    let permissions: Vec<Value> = users
        .permission_entries()
        .iter()
        .map(|entry| {
            json!({
                "user": entry.user,
                "vhost": entry.vhost,
                "configure": entry.configure,
                "write": entry.write,
                "read": entry.read,
            })
        })
        .collect();
    let vhosts: Vec<Value> = snapshot
        .vhosts
        .iter()
        .map(|name| json!({ "name": name, "limits": [], "metadata": { "description": "", "tags": [] } }))
        .collect();
    json!({
        "rabbit_version": json::RABBITMQ_VERSION,
        "rabbitmq_version": json::RABBITMQ_VERSION,
        "product_name": "brokerlab",
        "product_version": env!("CARGO_PKG_VERSION"),
        "users": users_json,
        "vhosts": vhosts,
        "permissions": permissions,
        "topic_permissions": [],
        "parameters": [],
        "global_parameters": [],
        "policies": [],
        "queues": queues,
        "exchanges": exchanges,
        "bindings": bindings,
    })
}

#[derive(Deserialize)]
struct Definitions {
    #[serde(default)]
    exchanges: Vec<ExchangeDefinition>,
    #[serde(default)]
    queues: Vec<QueueDefinition>,
    #[serde(default)]
    bindings: Vec<BindingDefinition>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct ExchangeDefinition {
    name: String,
    vhost: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default = "yes")]
    durable: bool,
    #[serde(default)]
    auto_delete: bool,
    #[serde(default)]
    internal: bool,
    #[serde(default)]
    arguments: Map<String, Value>,
}

#[derive(Deserialize)]
struct QueueDefinition {
    name: String,
    vhost: String,
    #[serde(default = "yes")]
    durable: bool,
    #[serde(default)]
    auto_delete: bool,
    #[serde(default)]
    arguments: Map<String, Value>,
}

#[derive(Deserialize)]
struct BindingDefinition {
    source: String,
    vhost: String,
    destination: String,
    destination_type: String,
    #[serde(default)]
    routing_key: String,
    #[serde(default)]
    arguments: Map<String, Value>,
}

/// The commands that declare a definitions file's exchanges, queues and
/// bindings, by vhost; or why the file is refused (nothing was run).
pub(crate) fn import(
    body: &[u8],
    vhosts: &[Name],
) -> Result<BTreeMap<String, Vec<Command>>, String> {
    let definitions: Definitions =
        serde_json::from_slice(body).map_err(|error| format!("bad definitions: {error}"))?;
    let known = |vhost: &str| {
        if vhosts.iter().any(|known| known == vhost) {
            Ok(())
        } else {
            Err(format!("vhost '{vhost}' does not exist"))
        }
    };
    let mut commands: BTreeMap<String, Vec<Command>> = BTreeMap::new();
    for exchange in definitions.exchanges {
        known(&exchange.vhost)?;
        let kind = ExchangeKind::parse(&exchange.kind).ok_or_else(|| {
            format!(
                "exchange '{}': unknown exchange type '{}'",
                exchange.name, exchange.kind
            )
        })?;
        commands
            .entry(exchange.vhost)
            .or_default()
            .push(Command::ExchangeDeclare {
                exchange: exchange.name,
                kind: kind.as_str().into(),
                passive: false,
                durable: exchange.durable,
                auto_delete: exchange.auto_delete,
                internal: exchange.internal,
                arguments: json::to_table(&exchange.arguments)?,
            });
    }
    for queue in definitions.queues {
        known(&queue.vhost)?;
        commands.entry(queue.vhost).or_default().push(queue_declare(
            queue.name,
            queue.durable,
            queue.auto_delete,
            json::to_table(&queue.arguments)?,
        ));
    }
    for binding in definitions.bindings {
        known(&binding.vhost)?;
        let arguments = json::to_table(&binding.arguments)?;
        let command = match binding.destination_type.as_str() {
            "queue" => Command::QueueBind {
                queue: binding.destination,
                exchange: binding.source,
                routing_key: binding.routing_key,
                arguments,
            },
            "exchange" => Command::ExchangeBind {
                destination: binding.destination,
                source: binding.source,
                routing_key: binding.routing_key,
                arguments,
            },
            other => return Err(format!("binding: unknown destination_type '{other}'")),
        };
        commands.entry(binding.vhost).or_default().push(command);
    }
    Ok(commands)
}

/// queue.declare of a queue that is not exclusive.
pub(crate) fn queue_declare(
    name: String,
    durable: bool,
    auto_delete: bool,
    arguments: FieldTable,
) -> Command {
    Command::QueueDeclare {
        queue: name,
        passive: false,
        durable,
        exclusive: false,
        auto_delete,
        arguments,
    }
}
