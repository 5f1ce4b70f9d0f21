//! Sending on internal links between actors that must not silently lose messages.
//!
//! actix's `do_send` to a stopped actor drops the message without a word. Between the actors
//! that own replicated or durable state, a lost message is a broken node, so a closed mailbox is
//! fatal: the node stops with a clear message and its process supervisor restarts it, and it
//! recovers from its log. A full mailbox is not an error here: these links carry bounded,
//! already-admitted work, so the message is queued anyway.

use actix::dev::ToEnvelope;
use actix::prelude::*;

/// Exit code of a node stopped because an internal link broke.
pub const EXIT_BROKEN_LINK: i32 = 70;

/// Sends `msg` to `addr`; a closed mailbox stops the node.
pub fn send<A, M>(addr: &Addr<A>, what: &'static str, msg: M)
where
    A: Actor + Handler<M>,
    A::Context: ToEnvelope<A, M>,
    M: Message + Send + 'static,
    M::Result: Send,
{
    match addr.try_send(msg) {
        Ok(()) => {}
        Err(SendError::Full(m)) => addr.do_send(m),
        Err(SendError::Closed(_)) => broken(what),
    }
}

/// Sends `msg` to `r`; a closed mailbox stops the node.
pub fn send_to<M>(r: &Recipient<M>, what: &'static str, msg: M)
where
    M: Message + Send + 'static,
    M::Result: Send,
{
    match r.try_send(msg) {
        Ok(()) => {}
        Err(SendError::Full(m)) => r.do_send(m),
        Err(SendError::Closed(_)) => broken(what),
    }
}

fn broken(what: &'static str) {
    tracing::error!(link = what, "internal actor link closed: stopping the node");
    if let Some(sys) = System::try_current() {
        sys.stop_with_code(EXIT_BROKEN_LINK);
    } else {
        std::process::exit(EXIT_BROKEN_LINK);
    }
}
