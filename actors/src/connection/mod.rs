//! Client connections: the listener, one actor per socket, the handshake, four-letter words,
//! and the [`outbox::Outbox`] that orders everything a connection sends.

pub mod actor;
pub mod admission;
pub mod fourlw;
pub mod listener;
pub mod outbox;
pub mod sasl;
pub mod tls;

pub use outbox::{ConnId, Out, Outbox, Pending};
