//! A saga's definition: its ordered steps, each a command and a
//! compensation with a timeout and a retry limit, read from the arguments of
//! an exchange of type `x-saga`.
//!
//! ```text
//! x-saga-steps: [                      (an array of tables, 1 to STEPS_MAX)
//!   { name: "reserve-inventory",       (required, unique)
//!     command: "inventory.reserve",    (routing key of the step's command, required)
//!     command-exchange: "",            (default "": the default exchange)
//!     compensation: "inventory.release",
//!     compensation-exchange: "",
//!     timeout-ms: 30000,               (1 to TIMEOUT_MS_MAX, default 30000)
//!     retries: 0 },                    (sends after the first, 0 to RETRIES_MAX)
//!   ... ]
//! x-saga-outcome-exchange: "amq.topic" (where saga.completed / saga.failed go)
//! ```

use crate::field::{FieldTable, FieldValue};
use crate::message::Name;

/// The exchange type that defines a saga.
pub const EXCHANGE_TYPE: &str = "x-saga";
/// The argument holding the steps.
pub const STEPS_ARG: &str = "x-saga-steps";
/// The argument naming the exchange the outcome is published to.
pub const OUTCOME_EXCHANGE_ARG: &str = "x-saga-outcome-exchange";
/// The outcome exchange when the definition names none.
pub const OUTCOME_EXCHANGE_DEFAULT: &str = "amq.topic";
/// The most steps a saga may have.
pub const STEPS_MAX: usize = 64;
/// A step's timeout when its definition gives none.
pub const TIMEOUT_MS_DEFAULT: u64 = 30_000;
/// The longest step timeout: one day.
pub const TIMEOUT_MS_MAX: u64 = 86_400_000;
/// The most retries a step may have.
pub const RETRIES_MAX: u32 = 100;

/// Where a step's command or compensation is published.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// The exchange ("" for the default exchange).
    pub exchange: Name,
    /// The routing key.
    pub routing_key: Name,
}

/// One step of a saga.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Step {
    /// Its name, unique within the saga.
    pub name: String,
    /// Where its command goes.
    pub command: Target,
    /// Where its compensation goes.
    pub compensation: Target,
    /// How long a sent command or compensation waits for its reply.
    pub timeout_ms: u64,
    /// How many times a command or compensation is sent again after a
    /// timeout before the broker gives up on it.
    pub retries: u32,
}

/// A saga's definition.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Definition {
    /// The steps, in forward order.
    pub steps: Vec<Step>,
    /// Where the outcome (`saga.completed`, `saga.failed`) is published.
    pub outcome_exchange: Name,
}

/// What is wrong with a definition: the argument and why, for a 406.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadArgument {
    /// The argument at fault.
    pub argument: &'static str,
    /// Why, naming the step and key when there is one.
    pub reason: String,
}

impl Definition {
    /// Reads a definition from an `x-saga` exchange's arguments.
    ///
    /// # Errors
    /// The first bad argument, with what is wrong with it.
    pub fn parse(arguments: &FieldTable) -> Result<Definition, BadArgument> {
        for key in arguments.keys() {
            if key != STEPS_ARG && key != OUTCOME_EXCHANGE_ARG {
                return Err(BadArgument {
                    argument: "x-saga",
                    reason: format!(
                        "unknown argument '{key}' (a saga takes '{STEPS_ARG}' and '{OUTCOME_EXCHANGE_ARG}')"
                    ),
                });
            }
        }
        let outcome_exchange = match arguments.get(OUTCOME_EXCHANGE_ARG) {
            None => OUTCOME_EXCHANGE_DEFAULT.into(),
            Some(value) => short_string(value).ok_or_else(|| BadArgument {
                argument: OUTCOME_EXCHANGE_ARG,
                reason: "must be a string of at most 255 bytes".to_owned(),
            })?,
        };
        let steps_bad = |reason: String| BadArgument {
            argument: STEPS_ARG,
            reason,
        };
        let Some(FieldValue::Array(values)) = arguments.get(STEPS_ARG) else {
            return Err(steps_bad("required: an array of step tables".to_owned()));
        };
        if values.is_empty() || values.len() > STEPS_MAX {
            return Err(steps_bad(format!(
                "must hold 1 to {STEPS_MAX} steps, not {}",
                values.len()
            )));
        }
        let mut steps: Vec<Step> = Vec::with_capacity(values.len());
        for (index, value) in values.iter().enumerate() {
            let FieldValue::Table(table) = value else {
                return Err(steps_bad(format!("step {index} must be a table")));
            };
            let step =
                parse_step(table).map_err(|reason| steps_bad(format!("step {index}: {reason}")))?;
            if steps.iter().any(|other| other.name == step.name) {
                return Err(steps_bad(format!(
                    "step {index}: name '{}' is used twice",
                    step.name
                )));
            }
            steps.push(step);
        }
        Ok(Definition {
            steps,
            outcome_exchange,
        })
    }
}

/// The keys a step table may hold.
const STEP_KEYS: [&str; 7] = [
    "name",
    "command",
    "command-exchange",
    "compensation",
    "compensation-exchange",
    "timeout-ms",
    "retries",
];

fn parse_step(table: &FieldTable) -> Result<Step, String> {
    if let Some(key) = table.keys().find(|key| !STEP_KEYS.contains(&key.as_str())) {
        return Err(format!("unknown key '{key}'"));
    }
    let text = |key: &str, default: Option<&str>| -> Result<Name, String> {
        match (table.get(key), default) {
            (Some(value), _) => short_string(value)
                .ok_or_else(|| format!("'{key}' must be a string of at most 255 bytes")),
            (None, Some(default)) => Ok(default.into()),
            (None, None) => Err(format!("'{key}' is required")),
        }
    };
    let name = text("name", None)?;
    if name.is_empty() {
        return Err("'name' must not be empty".to_owned());
    }
    let command = Target {
        exchange: text("command-exchange", Some(""))?,
        routing_key: text("command", None)?,
    };
    let compensation = Target {
        exchange: text("compensation-exchange", Some(""))?,
        routing_key: text("compensation", None)?,
    };
    let timeout_ms = match table.get("timeout-ms") {
        None => TIMEOUT_MS_DEFAULT,
        Some(value) => value
            .as_integer()
            .and_then(|ms| u64::try_from(ms).ok())
            .filter(|ms| (1..=TIMEOUT_MS_MAX).contains(ms))
            .ok_or_else(|| format!("'timeout-ms' must be an integer from 1 to {TIMEOUT_MS_MAX}"))?,
    };
    let retries = match table.get("retries") {
        None => 0,
        Some(value) => value
            .as_integer()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n <= RETRIES_MAX)
            .ok_or_else(|| format!("'retries' must be an integer from 0 to {RETRIES_MAX}"))?,
    };
    Ok(Step {
        name: name.to_string(),
        command,
        compensation,
        timeout_ms,
        retries,
    })
}

/// A string value that fits an AMQP short string.
fn short_string(value: &FieldValue) -> Option<Name> {
    value.as_str().filter(|s| s.len() <= 255).map(Name::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str) -> FieldValue {
        let mut table = FieldTable::new();
        table.insert("name".into(), FieldValue::string(name));
        table.insert("command".into(), FieldValue::string(&format!("{name}.do")));
        table.insert(
            "compensation".into(),
            FieldValue::string(&format!("{name}.undo")),
        );
        FieldValue::Table(table)
    }

    fn arguments(steps: Vec<FieldValue>) -> FieldTable {
        let mut arguments = FieldTable::new();
        arguments.insert(STEPS_ARG.into(), FieldValue::Array(steps));
        arguments
    }

    #[test]
    fn a_definition_takes_its_defaults() {
        let definition = Definition::parse(&arguments(vec![step("a"), step("b")])).unwrap();
        assert_eq!(definition.outcome_exchange, OUTCOME_EXCHANGE_DEFAULT);
        assert_eq!(definition.steps.len(), 2);
        let a = &definition.steps[0];
        assert_eq!(a.command.exchange, "");
        assert_eq!(a.command.routing_key, "a.do");
        assert_eq!(a.compensation.routing_key, "a.undo");
        assert_eq!((a.timeout_ms, a.retries), (TIMEOUT_MS_DEFAULT, 0));
    }

    #[test]
    fn a_malformed_definition_names_its_bad_argument() {
        let bad = |arguments: FieldTable| Definition::parse(&arguments).unwrap_err();
        assert_eq!(bad(FieldTable::new()).argument, STEPS_ARG);
        assert!(bad(arguments(vec![])).reason.contains("1 to"));
        let twice = bad(arguments(vec![step("a"), step("a")]));
        assert!(twice.reason.contains("used twice"), "{twice:?}");
        let mut no_command = step("a");
        if let FieldValue::Table(table) = &mut no_command {
            table.remove("command");
        }
        let missing = bad(arguments(vec![no_command]));
        assert_eq!(missing.reason, "step 0: 'command' is required");
        let mut slow = step("a");
        if let FieldValue::Table(table) = &mut slow {
            table.insert("timeout-ms".into(), FieldValue::I64(0));
        }
        assert!(bad(arguments(vec![slow])).reason.contains("'timeout-ms'"));
        let mut unknown = arguments(vec![step("a")]);
        unknown.insert("x-saga-colour".into(), FieldValue::string("red"));
        assert!(bad(unknown).reason.contains("'x-saga-colour'"));
    }
}
