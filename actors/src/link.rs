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

/// Where a message can be sent: an actor's address, a recipient, or a set of recipients that
/// share a sender (such as the quorum actor's inbox in the node context).
pub trait Mailbox<M: Message> {
    /// Sends if the mailbox has room.
    fn try_send(&self, msg: M) -> Result<(), SendError<M>>;
    /// Sends regardless of the mailbox's capacity.
    fn do_send(&self, msg: M);
}

impl<A, M> Mailbox<M> for Addr<A>
where
    A: Actor + Handler<M>,
    A::Context: ToEnvelope<A, M>,
    M: Message + Send + 'static,
    M::Result: Send,
{
    fn try_send(&self, msg: M) -> Result<(), SendError<M>> {
        Addr::try_send(self, msg)
    }
    fn do_send(&self, msg: M) {
        Addr::do_send(self, msg)
    }
}

impl<M> Mailbox<M> for Recipient<M>
where
    M: Message + Send,
    M::Result: Send,
{
    fn try_send(&self, msg: M) -> Result<(), SendError<M>> {
        Recipient::try_send(self, msg)
    }
    fn do_send(&self, msg: M) {
        Recipient::do_send(self, msg)
    }
}

/// Sends `msg` to `to`; a closed mailbox stops the node.
pub fn send<M, T>(to: &T, what: &'static str, msg: M)
where
    M: Message,
    T: Mailbox<M> + ?Sized,
{
    match to.try_send(msg) {
        Ok(()) => {}
        Err(SendError::Full(m)) => to.do_send(m),
        Err(SendError::Closed(_)) => broken(what),
    }
}

/// Sends `msg` to `r`; a closed mailbox stops the node.
pub fn send_to<M>(r: &Recipient<M>, what: &'static str, msg: M)
where
    M: Message + Send + 'static,
    M::Result: Send,
{
    send(r, what, msg)
}

fn broken(what: &'static str) {
    tracing::error!(link = what, "internal actor link closed: stopping the node");
    if let Some(sys) = System::try_current() {
        sys.stop_with_code(EXIT_BROKEN_LINK);
    } else {
        std::process::exit(EXIT_BROKEN_LINK);
    }
}
