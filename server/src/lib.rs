//! brokerlab-server: the AMQP 0-9-1 server that drives the brokerlab core over TCP.
//!
//! The transport, the file-backed log store and the connection-level protocol
//! land here with the server work; every broker rule stays in brokerlab-core.
