//! Building the reply to an applied write from its pending slot and the apply result
//! (ZooKeeper's `FinalRequestProcessor` write cases).

use bytes::Bytes;

use crate::outbox::Pending;
use crate::proto::codes::opcode;
use crate::proto::records::*;
use crate::proto::reply::{self, MultiResult};
use crate::proto::ErrorCode;
use crate::tree::OpResult;
use crate::txn::{Txn, TxnOp};

/// The reply frame for `pending` given that `txn` was applied with `result`; the bool asks to
/// close the connection after it (closeSession).
pub fn write_reply(pending: Pending, txn: &Txn, result: &OpResult) -> (Bytes, bool) {
    let zxid = txn.zxid;
    match pending {
        Pending::Connect {
            read_only,
            established,
        } => {
            let TxnOp::CreateSession {
                timeout_ms,
                password,
            } = &txn.op
            else {
                tracing::error!(zxid = %format!("{zxid:#x}"), "connect slot answered by a non-session txn");
                return (reply::bare(&ConnectResponse::invalid(read_only)), true);
            };
            if let Some(tx) = established {
                let _ = tx.send(());
            }
            let resp = ConnectResponse {
                protocol_version: 0,
                time_out: *timeout_ms,
                session_id: txn.session_id,
                passwd: password.clone(),
                read_only: read_only.map(|_| false),
            };
            (reply::bare(&resp), false)
        }
        // ZooKeeper closes a connection whose session moved away, without a reply.
        Pending::Write { .. } if *result == OpResult::Error(ErrorCode::SessionMoved.code()) => {
            (Bytes::new(), true)
        }
        Pending::Write {
            xid, opcode: op, ..
        } => (op_reply(xid, zxid, op, result), op == opcode::CLOSE_SESSION),
        // Reads and ready replies never head the queue when a write completes (a bug if so).
        Pending::Read { xid, .. } => (
            reply::header_only(xid, zxid, ErrorCode::MarshallingError.code()),
            false,
        ),
        Pending::Ready { frame, close } => (frame, close),
    }
}

fn op_reply(xid: i32, zxid: i64, op: i32, result: &OpResult) -> Bytes {
    match result {
        OpResult::Error(code) => reply::header_only(xid, zxid, *code),
        OpResult::Created(path, stat) => {
            if op == opcode::CREATE {
                reply::reply(xid, zxid, 0, Some(&CreateResponse { path: path.clone() }))
            } else {
                let body = Create2Response {
                    path: path.clone(),
                    stat: stat.clone(),
                };
                reply::reply(xid, zxid, 0, Some(&body))
            }
        }
        OpResult::Stat(stat) => {
            reply::reply(xid, zxid, 0, Some(&StatResponse { stat: stat.clone() }))
        }
        OpResult::Config(data, stat) => {
            let body = GetDataResponse {
                data: data.clone(),
                stat: stat.clone(),
            };
            reply::reply(xid, zxid, 0, Some(&body))
        }
        OpResult::Multi(results) => {
            let entries: Vec<MultiResult> = results
                .iter()
                .map(|(code, r)| match (code, r) {
                    (_, OpResult::Error(e)) => MultiResult::Error(*e),
                    (&opcode::CREATE, OpResult::Created(p, _)) => MultiResult::Create(p.clone()),
                    (_, OpResult::Created(p, s)) => MultiResult::Create2(p.clone(), s.clone()),
                    (_, OpResult::Deleted) => MultiResult::Delete,
                    (_, OpResult::Stat(s)) => MultiResult::SetData(s.clone()),
                    (_, OpResult::Checked) => MultiResult::Check,
                    _ => MultiResult::Error(ErrorCode::MarshallingError.code()),
                })
                .collect();
            reply::reply_raw(xid, zxid, 0, &reply::multi_body(&entries))
        }
        OpResult::Deleted | OpResult::Checked | OpResult::Done => reply::header_only(xid, zxid, 0),
    }
}

/// The reply to a sync.
pub fn sync_reply(pending: Pending, path: &str, zxid: i64) -> (Bytes, bool) {
    match pending {
        Pending::Write { xid, .. } => (
            reply::reply(
                xid,
                zxid,
                0,
                Some(&SyncResponse {
                    path: path.to_string(),
                }),
            ),
            false,
        ),
        other => write_reply(
            other,
            &Txn {
                zxid,
                time_ms: 0,
                session_id: 0,
                cxid: 0,
                op: TxnOp::Error(ErrorCode::MarshallingError),
            },
            &OpResult::Error(ErrorCode::MarshallingError.code()),
        ),
    }
}

/// The reply to a write that could not be made durable: `SystemError` (-1), which every client
/// maps to a system-error exception; a session create or close is answered by closing the
/// connection instead (the client reconnects and retries).
pub fn failed_reply(pending: Pending, zxid: i64) -> (Bytes, bool) {
    match pending {
        Pending::Write {
            xid, opcode: op, ..
        } if op != opcode::CLOSE_SESSION => (reply::header_only(xid, zxid, SYSTEM_ERROR), false),
        Pending::Write { xid, .. } => (reply::header_only(xid, zxid, SYSTEM_ERROR), true),
        // No reply: the client sees the connection drop and tries again.
        Pending::Connect { .. } => (Bytes::new(), true),
        Pending::Read { xid, .. } => (reply::header_only(xid, zxid, SYSTEM_ERROR), false),
        Pending::Ready { frame, close } => (frame, close),
    }
}

/// KeeperException.Code.SYSTEMERROR.
pub const SYSTEM_ERROR: i32 = -1;
