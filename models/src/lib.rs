//! brokerlab-models: stateright models that put the brokerlab core itself
//! inside an actor model and check its properties exhaustively.
//!
//! The actors, models and properties land here with the model-checking work.
