//! The AdminServer-compatible HTTP endpoint (ZooKeeper's `admin.serverPort`, default 8080):
//! `GET <commandURL>` lists the commands, `GET <commandURL>/<name>` runs one and answers
//! with ZooKeeper's JSON (see [`commands`]); beside them, the probes Kubernetes and load
//! balancers want: `GET /ready` (200 only while the node serves clients, 503 with the reason
//! otherwise: recovering its data directory, electing, synchronising with the leader, read-only,
//! shutting down) and `GET /live` (200 as long as the process answers at all).
//!
//! The server is bound and running before the node recovers its data directory, on a thread of
//! its own (an actix `Arbiter`): recovery blocks the node's system thread, and a probe asked
//! during recovery must be answered ("not ready"), not left hanging. The node's shared state is
//! attached when the node has started ([`AdminServer::attach`]); until then every command that
//! needs a server answers as ZooKeeper does before its server runs.
//!
//! HTTP crate: axum on hyper. hyper 1 is already in the build (the Prometheus exporter serves
//! `/metrics` with it), axum adds only routing, extractors and tower glue on top of it, runs on
//! the tokio runtime that actix-rt's arbiters are made of, and is maintained by the tokio
//! project. actix-web would have brought a second HTTP stack (actix-http) and its own worker
//! threads for a handful of small JSON answers.

pub mod commands;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use zkr_actors::config::NodeConfig;
use zkr_actors::context::{Mode, NodeContext};

use commands::{Answer, Request};

/// Why the admin server could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the admin server on {addr}: {source}")]
pub struct AdminError {
    /// The address.
    pub addr: SocketAddr,
    /// Why.
    pub source: std::io::Error,
}

/// What the handlers share: the settings, the node once it has started, the text of the
/// configuration file (`initial_configuration`), and the snapshot command's rate limiter.
pub struct Shared {
    config: NodeConfig,
    node: OnceLock<Arc<NodeContext>>,
    initial_configuration: String,
    stopping: std::sync::atomic::AtomicBool,
    last_snapshot: parking_lot::Mutex<Option<std::time::Instant>>,
}

/// A running admin server.
#[derive(Clone)]
pub struct AdminServer {
    shared: Arc<Shared>,
}

impl AdminServer {
    /// Binds `config.admin`'s address and serves on a thread of its own.
    /// `initial_configuration` is the configuration file's text. A bind failure is an error
    /// unless `config.admin.optional` (then a warning, and `None`).
    pub fn start(
        config: &NodeConfig,
        initial_configuration: String,
    ) -> Result<Option<AdminServer>, AdminError> {
        let settings = &config.admin;
        let addr = settings.socket();
        let listener = match std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
        {
            Ok(l) => l,
            Err(source) if settings.optional => {
                tracing::warn!(%addr, error = %source, "admin server not started: its default port cannot be bound (set admin.serverPort, or admin.enableServer=false)");
                return Ok(None);
            }
            Err(source) => return Err(AdminError { addr, source }),
        };
        let bound = listener.local_addr().unwrap_or(addr);
        let shared = Arc::new(Shared {
            config: config.clone(),
            node: OnceLock::new(),
            initial_configuration,
            stopping: std::sync::atomic::AtomicBool::new(false),
            last_snapshot: parking_lot::Mutex::new(None),
        });
        let app = router(shared.clone());
        let arbiter = actix::Arbiter::new();
        arbiter.spawn(async move {
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "admin server: cannot use its socket");
                    return;
                }
            };
            let service = app.into_make_service_with_connect_info::<SocketAddr>();
            if let Err(e) = axum::serve(listener, service).await {
                tracing::error!(error = %e, "admin server stopped");
            }
        });
        // The arbiter (and its thread) live as long as the process.
        std::mem::forget(arbiter);
        tracing::info!(addr = %bound, url = %settings.command_url, "admin server started");
        Ok(Some(AdminServer { shared }))
    }

    /// The node has started: commands and readiness read it from now on.
    pub fn attach(&self, node: Arc<NodeContext>) {
        let _ = self.shared.node.set(node);
    }

    /// The node is shutting down: not ready any more.
    pub fn stopping(&self) {
        self.shared
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn router(shared: Arc<Shared>) -> Router {
    let base = shared
        .config
        .admin
        .command_url
        .trim_end_matches('/')
        .to_string();
    let base = if base.is_empty() {
        "/commands".to_string()
    } else {
        base
    };
    Router::new()
        .route("/ready", get(ready))
        .route("/live", get(live))
        .route(&base, get(list))
        .route(&format!("{base}/"), get(list))
        .route(&format!("{base}/{{name}}"), get(run_get))
        .with_state(shared)
}

/// Where a node is on its way to serving, as `/ready` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Recovering its data directory (the node has not started yet).
    Recovering,
    /// Electing a leader.
    Electing,
    /// Has a role but is not serving yet (synchronising with the leader).
    Synchronizing,
    /// Cut off from its quorum, serving read-only clients only.
    ReadOnly,
    /// Serving clients.
    Serving,
    /// Shutting down.
    Stopping,
}

impl Phase {
    /// The phase of a node (`None`: not started yet).
    pub fn of(node: Option<&NodeContext>, stopping: bool) -> Phase {
        if stopping {
            return Phase::Stopping;
        }
        let Some(n) = node else {
            return Phase::Recovering;
        };
        if n.is_serving() {
            Phase::Serving
        } else if n.is_read_only() || n.mode() == Mode::ReadOnly {
            Phase::ReadOnly
        } else if n.mode() == Mode::Looking {
            Phase::Electing
        } else {
            Phase::Synchronizing
        }
    }

    /// Its name in `/ready`'s answer.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Recovering => "recovering",
            Phase::Electing => "electing",
            Phase::Synchronizing => "synchronizing",
            Phase::ReadOnly => "read-only",
            Phase::Serving => "serving",
            Phase::Stopping => "stopping",
        }
    }
}

async fn ready(State(shared): State<Arc<Shared>>) -> Response {
    let phase = Phase::of(
        shared.node.get().map(|n| n.as_ref()),
        shared.stopping.load(std::sync::atomic::Ordering::SeqCst),
    );
    let ready = phase == Phase::Serving;
    let body = serde_json::json!({ "ready": ready, "state": phase.name() });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, &body)
}

async fn live() -> Response {
    json_response(StatusCode::OK, &serde_json::json!({ "live": true }))
}

async fn list(State(shared): State<Arc<Shared>>) -> Html<String> {
    let base = shared.config.admin.command_url.trim_end_matches('/');
    let mut s = String::from("<h1>Available commands:</h1>\n");
    for name in commands::primary_names() {
        s.push_str(&format!("<a href=\"{base}/{name}\">{name}</a>\n<br/>\n"));
    }
    Html(s)
}

async fn run_get(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    Query(args): Query<std::collections::HashMap<String, String>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    run(shared, name, args, remote, headers).await
}

async fn run(
    shared: Arc<Shared>,
    name: String,
    args: std::collections::HashMap<String, String>,
    remote: SocketAddr,
    headers: HeaderMap,
) -> Response {
    let request = Request {
        name,
        args,
        remote,
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    let node = shared.node.get().cloned();
    let answer = match tokio::task::spawn_blocking(move || {
        commands::run(&shared, node.as_deref(), &request)
    })
    .await
    {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "admin command failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    match answer {
        Answer::Json { status, body } => json_response(status, &body),
        Answer::Stream {
            headers: extra,
            body,
        } => {
            let mut r = (StatusCode::OK, body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/octet-stream"),
            );
            for (k, v) in extra {
                if let Ok(v) = header::HeaderValue::from_str(&v) {
                    r.headers_mut().insert(k, v);
                }
            }
            r
        }
    }
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let text = serde_json::to_string_pretty(body).unwrap_or_else(|_| "{}".into());
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        text + "\n",
    )
        .into_response()
}
