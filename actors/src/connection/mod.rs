//! Client connections: the listener, one actor per socket, the handshake, four-letter words,
//! SASL and TLS. What a connection sends is ordered by its [`crate::outbox::Outbox`].

pub mod actor;
pub mod dump;
pub mod fourlw;
pub mod listener;
pub mod sasl;
