//! `zkr cli`: a native ZooKeeper shell with zkCli.sh's commands, options and output, so scripts
//! and fingers used to zkCli keep working without a JVM.
//!
//! `zkr cli [-server host:port[,host:port...]] [-timeout ms] [-r] [command args...]`: with a
//! command it runs that one command and exits (0 on success, 1 when the operation failed, 127
//! for an unknown command, 2 for bad usage or no connection); without, it reads commands
//! interactively with line editing and a history file (`~/.zkr_cli_history`), and prints watch
//! events as they fire (`get -w`, `ls -w`, `stat -w`, `config -w`, `addWatch`).
//!
//! Built on the `zookeeper-client` crate. What it cannot do, and so what differs from zkCli:
//! it does not tell null data from empty data (`get` prints an empty line for both; zkCli prints
//! `null` for null), and dates are printed in UTC (zkCli uses the JVM's time zone). Output
//! streams follow zkCli 3.8: results on stdout, `Created <path>` and errors on stderr.

pub mod format;

use std::process::ExitCode;
use std::time::Duration;

use zookeeper_client as zk;

/// The outcome of one command.
enum Outcome {
    Ok,
    /// The operation failed (message printed): exit code 1.
    Failed,
    /// Bad usage (message printed): exit code 2.
    Usage,
    /// Unknown command: exit code 127.
    NotFound,
    /// `quit`.
    Quit,
}

const USAGE: &str = "ZooKeeper -server host:port -timeout ms -r cmd args
\taddauth scheme auth
\taddWatch [-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE
\tclose 
\tconfig [-c] [-w] [-s]
\tconnect host:port
\tcreate [-s] [-e] [-c] [-t ttl] path [data] [acl]
\tdelete [-v version] path
\tdeleteall path
\tgetAcl [-s] path
\tgetAllChildrenNumber path
\tgetEphemerals path
\tget [-s] [-w] path
\thistory 
\tls [-s] [-w] [-R] path
\tquit 
\treconfig [-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | [-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]
\tset [-s] [-v version] path data
\tsetAcl [-s] [-v version] [-R] path acl
\tstat [-w] path
\tsync path
\tversion 
\twhoami 
";

/// Runs `zkr cli` with its arguments (after `cli`).
pub fn run(args: Vec<String>) -> ExitCode {
    let mut server = "localhost:2181".to_string();
    let mut timeout_ms: u64 = 30_000;
    let mut readonly = false;
    let mut rest = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-server" if rest.is_empty() => match it.next() {
                Some(s) => server = s,
                None => return usage_exit(),
            },
            "-timeout" if rest.is_empty() => match it.next().and_then(|t| t.parse().ok()) {
                Some(t) => timeout_ms = t,
                None => return usage_exit(),
            },
            "-r" if rest.is_empty() => readonly = true,
            _ => rest.push(a),
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zkr cli: {e}");
            return ExitCode::from(2);
        }
    };
    let mut shell = Shell {
        server,
        timeout: Duration::from_millis(timeout_ms),
        readonly,
        client: None,
        interactive: rest.is_empty(),
    };
    if let Err(e) = rt.block_on(shell.connect()) {
        eprintln!("Unable to connect to {}: {e}", shell.server);
        return ExitCode::from(2);
    }
    if !rest.is_empty() {
        let outcome = rt.block_on(shell.command(&rest));
        rt.block_on(shell.close());
        return match outcome {
            Outcome::Ok | Outcome::Quit => ExitCode::SUCCESS,
            Outcome::Failed => ExitCode::from(1),
            Outcome::Usage => ExitCode::from(2),
            Outcome::NotFound => ExitCode::from(127),
        };
    }
    interactive(&rt, &mut shell)
}

fn usage_exit() -> ExitCode {
    eprint!("{USAGE}");
    ExitCode::from(2)
}

fn interactive(rt: &tokio::runtime::Runtime, shell: &mut Shell) -> ExitCode {
    let mut editor = match rustyline::DefaultEditor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("zkr cli: {e}");
            return ExitCode::from(2);
        }
    };
    let history =
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".zkr_cli_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    let mut n = 0;
    loop {
        let state = if shell.client.is_some() {
            "CONNECTED"
        } else {
            "CLOSED"
        };
        let prompt = format!("[zk: {}({state}) {n}] ", shell.server);
        let line = match editor.readline(&prompt) {
            Ok(l) => l,
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(_) => break,
        };
        let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        if words.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(line.as_str());
        n += 1;
        if words[0] == "history" {
            for (i, h) in editor.history().iter().enumerate() {
                println!("{i} - {h}");
            }
            continue;
        }
        if let Outcome::Quit = rt.block_on(shell.command(&words)) {
            break;
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    rt.block_on(shell.close());
    ExitCode::SUCCESS
}

struct Shell {
    server: String,
    timeout: Duration,
    readonly: bool,
    client: Option<zk::Client>,
    interactive: bool,
}

/// Splits zkCli-style options (`-s`, `-v 3`) from positional arguments. `with_value` lists the
/// options that take a value.
fn options(args: &[String], with_value: &[&str]) -> (Vec<(String, Option<String>)>, Vec<String>) {
    let mut opts = Vec::new();
    let mut pos = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a.starts_with('-') && a.len() > 1 && pos.is_empty() {
            if with_value.contains(&a.as_str()) {
                opts.push((a.clone(), args.get(i + 1).cloned()));
                i += 2;
                continue;
            }
            opts.push((a.clone(), None));
        } else {
            pos.push(a.clone());
        }
        i += 1;
    }
    (opts, pos)
}

fn has(opts: &[(String, Option<String>)], name: &str) -> bool {
    opts.iter().any(|(o, _)| o == name)
}

fn value<'a>(opts: &'a [(String, Option<String>)], name: &str) -> Option<&'a str> {
    opts.iter()
        .find(|(o, _)| o == name)
        .and_then(|(_, v)| v.as_deref())
}

fn fail(e: &zk::Error, path: &str) -> Outcome {
    eprintln!("{}", format::error(e, path));
    Outcome::Failed
}

fn usage(line: &str) -> Outcome {
    eprintln!("{line}");
    Outcome::Usage
}

impl Shell {
    async fn connect(&mut self) -> Result<(), zk::Error> {
        let client = zk::Client::connector()
            .with_session_timeout(self.timeout)
            .with_readonly(self.readonly)
            .connect(&self.server)
            .await?;
        if self.interactive {
            print!("{}", format::CONNECTED);
        }
        self.client = Some(client);
        Ok(())
    }

    /// Ends the session (as zkCli does on exit: its ephemeral nodes go at once), waiting a
    /// little for the server to confirm.
    async fn close(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let mut state = client.state_watcher();
        drop(client);
        let _ = tokio::time::timeout(Duration::from_secs(3), async {
            while !matches!(
                state.changed().await,
                zk::SessionState::Closed | zk::SessionState::Expired
            ) {}
        })
        .await;
    }

    /// Prints the event when the one-shot watch fires (interactive shells only live long
    /// enough to see it).
    fn print_when_fired(&self, w: zk::OneshotWatcher) {
        tokio::spawn(async move {
            let e = w.changed().await;
            print!("{}", format::event(&e));
        });
    }

    async fn command(&mut self, words: &[String]) -> Outcome {
        let (cmd, args) = (words[0].as_str(), &words[1..]);
        match cmd {
            "quit" => return Outcome::Quit,
            "help" => {
                eprint!("{USAGE}");
                return Outcome::Ok;
            }
            "version" => {
                println!(
                    "ZooKeeper CLI version: {} (zkr {})",
                    zkr_actors::version::ZK_COMPAT_VERSION,
                    env!("CARGO_PKG_VERSION")
                );
                return Outcome::Ok;
            }
            "close" => {
                self.close().await;
                return Outcome::Ok;
            }
            "connect" => {
                if let Some(s) = args.first() {
                    self.server = s.clone();
                }
                self.close().await;
                return match self.connect().await {
                    Ok(()) => Outcome::Ok,
                    Err(e) => {
                        eprintln!("Unable to connect to {}: {e}", self.server);
                        Outcome::Failed
                    }
                };
            }
            _ => {}
        }
        let Some(client) = self.client.clone() else {
            eprintln!("Not connected");
            return Outcome::Failed;
        };
        match cmd {
            "ls" => self.ls(&client, args).await,
            "get" => self.get(&client, args).await,
            "stat" => self.stat(&client, args).await,
            "set" => set(&client, args).await,
            "create" => create(&client, args).await,
            "delete" => delete(&client, args).await,
            "deleteall" | "rmr" => deleteall(&client, args).await,
            "getAcl" => get_acl(&client, args).await,
            "setAcl" => set_acl(&client, args).await,
            "addauth" => match args {
                [scheme, auth, ..] => match client.auth(scheme, auth.as_bytes()).await {
                    Ok(()) => Outcome::Ok,
                    Err(e) => fail(&e, ""),
                },
                _ => usage("addauth scheme auth"),
            },
            "sync" => match args.first() {
                Some(p) => match client.sync(p).await {
                    Ok(()) => {
                        println!("Sync is OK");
                        Outcome::Ok
                    }
                    Err(e) => fail(&e, p),
                },
                None => usage("sync path"),
            },
            "whoami" => match client.list_auth_users().await {
                Ok(users) => {
                    println!("Auth scheme: User");
                    for u in users {
                        println!("{}: {}", u.scheme(), u.user());
                    }
                    Outcome::Ok
                }
                Err(e) => fail(&e, ""),
            },
            "config" => self.config(&client, args).await,
            "reconfig" => reconfig(&client, args).await,
            "addWatch" => self.add_watch(&client, args).await,
            "getEphemerals" => {
                let p = args.first().map(String::as_str).unwrap_or("/");
                match client.list_ephemerals(p).await {
                    Ok(v) => {
                        println!("[{}]", v.join(", "));
                        Outcome::Ok
                    }
                    Err(e) => fail(&e, p),
                }
            }
            "getAllChildrenNumber" => match args.first() {
                Some(p) => match client.count_descendants_number(p).await {
                    Ok(n) => {
                        println!("{n}");
                        Outcome::Ok
                    }
                    Err(e) => fail(&e, p),
                },
                None => usage("getAllChildrenNumber path"),
            },
            _ => {
                eprint!("{USAGE}");
                eprintln!("Command not found: Command not found {cmd}");
                Outcome::NotFound
            }
        }
    }

    async fn ls(&self, client: &zk::Client, args: &[String]) -> Outcome {
        let (opts, pos) = options(args, &[]);
        let Some(path) = pos.first() else {
            return usage("ls [-s] [-w] [-R] path");
        };
        if has(&opts, "-R") {
            // ZooKeeper's ZKUtil.listSubTreeBFS: the path, then its subtree breadth first.
            let mut queue = std::collections::VecDeque::from([path.clone()]);
            let mut seen = Vec::new();
            while let Some(p) = queue.pop_front() {
                let mut children = match client.list_children(&p).await {
                    Ok(c) => c,
                    Err(e) => return fail(&e, &p),
                };
                children.sort();
                for c in children {
                    queue.push_back(if p == "/" {
                        format!("/{c}")
                    } else {
                        format!("{p}/{c}")
                    });
                }
                seen.push(p);
            }
            for p in seen {
                println!("{p}");
            }
            return Outcome::Ok;
        }
        let result = if has(&opts, "-w") {
            client.get_and_watch_children(path).await.map(|(c, s, w)| {
                self.print_when_fired(w);
                (c, s)
            })
        } else {
            client.get_children(path).await
        };
        match result {
            Ok((mut children, stat)) => {
                children.sort();
                println!("[{}]", children.join(", "));
                if has(&opts, "-s") {
                    print!("{}", format::stat(&stat));
                }
                Outcome::Ok
            }
            Err(e) => fail(&e, path),
        }
    }

    async fn get(&self, client: &zk::Client, args: &[String]) -> Outcome {
        let (opts, pos) = options(args, &[]);
        let Some(path) = pos.first() else {
            return usage("get [-s] [-w] path");
        };
        let result = if has(&opts, "-w") {
            client.get_and_watch_data(path).await.map(|(d, s, w)| {
                self.print_when_fired(w);
                (d, s)
            })
        } else {
            client.get_data(path).await
        };
        match result {
            Ok((data, stat)) => {
                println!("{}", String::from_utf8_lossy(&data));
                if has(&opts, "-s") {
                    print!("{}", format::stat(&stat));
                }
                Outcome::Ok
            }
            Err(e) => fail(&e, path),
        }
    }

    async fn stat(&self, client: &zk::Client, args: &[String]) -> Outcome {
        let (opts, pos) = options(args, &[]);
        let Some(path) = pos.first() else {
            return usage("stat [-w] path");
        };
        let result = if has(&opts, "-w") {
            client.check_and_watch_stat(path).await.map(|(s, w)| {
                self.print_when_fired(w);
                s
            })
        } else {
            client.check_stat(path).await
        };
        match result {
            Ok(Some(stat)) => {
                print!("{}", format::stat(&stat));
                Outcome::Ok
            }
            Ok(None) => fail(&zk::Error::NoNode, path),
            Err(e) => fail(&e, path),
        }
    }

    async fn config(&self, client: &zk::Client, args: &[String]) -> Outcome {
        let (opts, _) = options(args, &[]);
        let result = if has(&opts, "-w") {
            client.get_and_watch_config().await.map(|(d, s, w)| {
                self.print_when_fired(w);
                (d, s)
            })
        } else {
            client.get_config().await
        };
        match result {
            Ok((data, stat)) => {
                let text = String::from_utf8_lossy(&data);
                if has(&opts, "-c") {
                    // Only the connection string: the servers' client addresses.
                    let hosts: Vec<&str> = text
                        .lines()
                        .filter(|l| l.starts_with("server."))
                        .filter_map(|l| l.split(';').nth(1))
                        .collect();
                    println!("{}", hosts.join(","));
                } else {
                    println!("{text}");
                }
                if has(&opts, "-s") {
                    print!("{}", format::stat(&stat));
                }
                Outcome::Ok
            }
            Err(e) => fail(&e, "/zookeeper/config"),
        }
    }

    async fn add_watch(&self, client: &zk::Client, args: &[String]) -> Outcome {
        let (opts, pos) = options(args, &["-m"]);
        let Some(path) = pos.first() else {
            return usage("addWatch [-m mode] path");
        };
        let mode = match value(&opts, "-m").map(|m| m.to_ascii_uppercase()) {
            None => zk::AddWatchMode::PersistentRecursive,
            Some(m) if m == "PERSISTENT_RECURSIVE" => zk::AddWatchMode::PersistentRecursive,
            Some(m) if m == "PERSISTENT" => zk::AddWatchMode::Persistent,
            Some(m) => {
                return usage(&format!(
                    "Unsupported mode: {m}; must be one of [PERSISTENT, PERSISTENT_RECURSIVE]"
                ))
            }
        };
        match client.watch(path, mode).await {
            Ok(mut w) => {
                tokio::spawn(async move {
                    loop {
                        let e = w.changed().await;
                        print!("{}", format::event(&e));
                        if e.event_type == zk::EventType::Session
                            && matches!(
                                e.session_state,
                                zk::SessionState::Closed | zk::SessionState::Expired
                            )
                        {
                            break;
                        }
                    }
                });
                Outcome::Ok
            }
            Err(e) => fail(&e, path),
        }
    }
}

async fn set(client: &zk::Client, args: &[String]) -> Outcome {
    let (opts, pos) = options(args, &["-v"]);
    let [path, data, ..] = pos.as_slice() else {
        return usage("set [-s] [-v version] path data");
    };
    let version = match value(&opts, "-v").map(str::parse::<i32>) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => return usage("version is not a number"),
    };
    match client.set_data(path, data.as_bytes(), version).await {
        Ok(stat) => {
            if has(&opts, "-s") {
                print!("{}", format::stat(&stat));
            }
            Outcome::Ok
        }
        Err(e) => fail(&e, path),
    }
}

async fn create(client: &zk::Client, args: &[String]) -> Outcome {
    let (opts, pos) = options(args, &["-t"]);
    let Some(path) = pos.first() else {
        return usage("create [-s] [-e] [-c] [-t ttl] path [data] [acl]");
    };
    let data = pos
        .get(1)
        .map(|d| d.as_bytes().to_vec())
        .unwrap_or_default();
    let acl = match pos.get(2).map(|a| format::parse_acls(a)) {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(e)) => return usage(&e),
    };
    let (seq, eph, container) = (has(&opts, "-s"), has(&opts, "-e"), has(&opts, "-c"));
    let ttl = match value(&opts, "-t").map(str::parse::<u64>) {
        None => None,
        Some(Ok(t)) => Some(Duration::from_millis(t)),
        Some(Err(_)) => return usage("ttl is not a number"),
    };
    if container && (seq || eph || ttl.is_some()) {
        return usage("-c cannot be combined with other options");
    }
    if eph && ttl.is_some() {
        return usage("TTLs cannot be used with Ephemeral znodes");
    }
    let mode = match (container, eph, seq) {
        (true, _, _) => zk::CreateMode::Container,
        (_, true, true) => zk::CreateMode::EphemeralSequential,
        (_, true, false) => zk::CreateMode::Ephemeral,
        (_, false, true) => zk::CreateMode::PersistentSequential,
        _ => zk::CreateMode::Persistent,
    };
    let acls: zk::Acls = match &acl {
        Some(a) => a.as_slice().into(),
        None => zk::Acls::anyone_all(),
    };
    let mut options = mode.with_acls(acls);
    if let Some(t) = ttl {
        options = options.with_ttl(t);
    }
    match client.create(path, &data, &options).await {
        Ok((_, seqn)) => {
            let created = if seq {
                format!("{path}{seqn}")
            } else {
                path.clone()
            };
            eprintln!("Created {created}");
            Outcome::Ok
        }
        Err(e) => fail(&e, path),
    }
}

async fn delete(client: &zk::Client, args: &[String]) -> Outcome {
    let (opts, pos) = options(args, &["-v"]);
    let Some(path) = pos.first() else {
        return usage("delete [-v version] path");
    };
    let version = match value(&opts, "-v").map(str::parse::<i32>) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => return usage("version is not a number"),
    };
    match client.delete(path, version).await {
        Ok(()) => Outcome::Ok,
        Err(e) => fail(&e, path),
    }
}

/// ZooKeeper's `ZKUtil.deleteRecursive`: the subtree, deepest first.
async fn deleteall(client: &zk::Client, args: &[String]) -> Outcome {
    let (_, pos) = options(args, &["-b"]);
    let Some(path) = pos.first() else {
        return usage("deleteall path");
    };
    let mut order = vec![path.clone()];
    let mut i = 0;
    while i < order.len() {
        let p = order[i].clone();
        match client.list_children(&p).await {
            Ok(children) => {
                for c in children {
                    order.push(if p == "/" {
                        format!("/{c}")
                    } else {
                        format!("{p}/{c}")
                    });
                }
            }
            Err(zk::Error::NoNode) if i > 0 => {}
            Err(e) => return fail(&e, &p),
        }
        i += 1;
    }
    for p in order.iter().rev() {
        match client.delete(p, None).await {
            Ok(()) | Err(zk::Error::NoNode) => {}
            Err(e) => return fail(&e, p),
        }
    }
    Outcome::Ok
}

async fn get_acl(client: &zk::Client, args: &[String]) -> Outcome {
    let (opts, pos) = options(args, &[]);
    let Some(path) = pos.first() else {
        return usage("getAcl [-s] path");
    };
    match client.get_acl(path).await {
        Ok((acl, stat)) => {
            print!("{}", format::acls(&acl));
            if has(&opts, "-s") {
                print!("{}", format::stat(&stat));
            }
            Outcome::Ok
        }
        Err(e) => fail(&e, path),
    }
}

async fn set_acl(client: &zk::Client, args: &[String]) -> Outcome {
    let (opts, pos) = options(args, &["-v"]);
    let [path, acl, ..] = pos.as_slice() else {
        return usage("setAcl [-s] [-v version] [-R] path acl");
    };
    let acl = match format::parse_acls(acl) {
        Ok(a) => a,
        Err(e) => return usage(&e),
    };
    let version = match value(&opts, "-v").map(str::parse::<i32>) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => return usage("version is not a number"),
    };
    let mut paths = vec![path.clone()];
    if has(&opts, "-R") {
        let mut i = 0;
        while i < paths.len() {
            let p = paths[i].clone();
            if let Ok(children) = client.list_children(&p).await {
                for c in children {
                    paths.push(if p == "/" {
                        format!("/{c}")
                    } else {
                        format!("{p}/{c}")
                    });
                }
            }
            i += 1;
        }
    }
    for p in &paths {
        let v = if p == path { version } else { None };
        match client.set_acl(p, &acl, v).await {
            Ok(stat) => {
                if has(&opts, "-s") && p == path {
                    print!("{}", format::stat(&stat));
                }
            }
            Err(e) => return fail(&e, p),
        }
    }
    Outcome::Ok
}

async fn reconfig(client: &zk::Client, args: &[String]) -> Outcome {
    let (opts, _) = options(args, &["-v", "-file", "-members", "-add", "-remove"]);
    let version =
        match value(&opts, "-v").map(|v| i64::from_str_radix(v.trim_start_matches("0x"), 16)) {
            None => None,
            Some(Ok(v)) => Some(v),
            Some(Err(_)) => return usage("version is not a hexadecimal number"),
        };
    let file_text;
    let members: Option<Vec<String>> = if let Some(f) = value(&opts, "-file") {
        file_text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => return usage(&format!("{f}: {e}")),
        };
        Some(
            file_text
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with("server."))
                .map(str::to_string)
                .collect(),
        )
    } else {
        value(&opts, "-members").map(|m| m.split(',').map(prefix_server).collect())
    };
    let result = match members {
        Some(m) => {
            let update = zk::EnsembleUpdate::New {
                ensemble: m.iter().map(String::as_str),
            };
            client.update_ensemble(update, version).await
        }
        None => {
            let joining: Vec<String> = value(&opts, "-add")
                .map(|a| a.split(',').map(prefix_server).collect())
                .unwrap_or_default();
            let leaving: Vec<String> = value(&opts, "-remove")
                .map(|r| r.split(',').map(str::to_string).collect())
                .unwrap_or_default();
            if joining.is_empty() && leaving.is_empty() {
                return usage("reconfig [-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | [-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]");
            }
            let update = zk::EnsembleUpdate::Incremental {
                joinings: joining.iter().map(String::as_str),
                leavings: leaving.iter().map(String::as_str),
            };
            client.update_ensemble(update, version).await
        }
    };
    match result {
        Ok((data, stat)) => {
            println!(
                "Committed new configuration:\n{}",
                String::from_utf8_lossy(&data)
            );
            if has(&opts, "-s") {
                print!("{}", format::stat(&stat));
            }
            Outcome::Ok
        }
        Err(e) => fail(&e, "/zookeeper/config"),
    }
}

/// zkCli accepts `5=host:...` and `server.5=host:...`; the server wants `server.5=...`.
fn prefix_server(s: &str) -> String {
    if s.starts_with("server.") {
        s.to_string()
    } else {
        format!("server.{s}")
    }
}

#[cfg(test)]
mod tests;
