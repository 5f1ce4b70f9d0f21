//! One-line descriptions of outputs and peer messages, for traces and the traced links' log.

use super::snapstream;
use crate::pipeline::{Applied, Output};
use crate::quorum::core::DurableAction;
use crate::quorum::msg::PeerMsg;

pub(super) fn short(o: &Output) -> String {
    match o {
        Output::Send(to, m) => format!("-> s{to} {}", short_msg(m)),
        Output::Durably { token, action } => match action {
            DurableAction::Append(t) => format!("durably#{token} append {:#x}", t[0].zxid),
            other => format!("durably#{token} {other:?}"),
        },
        Output::Apply(items) => format!(
            "apply {:?}",
            items
                .iter()
                .map(|a| match a {
                    Applied::Txn { txn, .. } => format!("{:#x}", txn.zxid),
                    Applied::Sync { token, .. } => format!("sync#{token}"),
                    Applied::Failed { token, .. } => format!("failed#{token}"),
                })
                .collect::<Vec<_>>()
        ),
        other => format!("{other:?}"),
    }
}

pub(crate) fn short_msg(m: &PeerMsg) -> String {
    match m {
        PeerMsg::Proposal(t) => format!("Proposal({:#x})", t.zxid),
        PeerMsg::Inform(t) => format!("Inform({:#x})", t.zxid),
        PeerMsg::SnapBegin(m) => snapstream::describe(m),
        PeerMsg::SnapChunk { seq, .. } => format!("SnapChunk({seq})"),
        other => format!("{other:?}"),
    }
}
