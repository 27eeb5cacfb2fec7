//! One code webapp's backend process: started with its environment and nothing else of the
//! server's, watched until it answers, its output read line by line with secrets hidden, and
//! started again with back-off whenever it exits, until it is told to stop.

use super::BackoffPolicy;
use crate::backend::webapp_backends::{kill_group, BackendStatus, Backends, LOG_LINES_KEPT};
use crate::backend::rules::webapps::{failures_after_exit, redact, restart_delay, MAX_LOG_LINE};
use crate::backend::state::AppState;
use crate::backend::store::{api_clients::secret_context, now_ms, webapps::RunnableWebapp};
use crate::model::BackendLogLine;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// How long a new backend has to answer on its port before it is stopped and started again.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How long a backend has to exit after SIGTERM before it is killed.
const STOP_WITHIN: Duration = Duration::from_secs(5);
/// The server's environment variables a backend gets; nothing else of it passes.
const PASSED_THROUGH: [&str; 4] = ["PATH", "LANG", "HOME", "TZ"];

/// Returns once `stop` says stop (or its sender is gone).
async fn told_to_stop(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await.map(|_| ());
}

/// Runs `spec`'s backend until `stop` says so.
pub(super) async fn run(state: AppState, spec: RunnableWebapp, guise_url: String, policy: BackoffPolicy, mut stop: watch::Receiver<bool>) {
    let backends = state.backends.clone();
    let note = |text: String| push_line(&backends, spec.id, "guise", text);
    let secret = match state.keys.server.open(&spec.secret_sealed, &secret_context(&spec.client_id)).map(String::from_utf8) {
        Ok(Ok(secret)) => secret,
        _ => {
            note("cannot open the backend's credentials: is GUISE_KEY_FILE the key this database was created with?".into());
            backends.slot(spec.id, |s| s.status = BackendStatus::Stopped);
            return;
        }
    };
    let mut failures = 0;
    loop {
        let started = Instant::now();
        let exit = match spawn(&spec, &guise_url, &secret) {
            Err(e) => format!("cannot start {}: {e}", spec.code.command.first().map_or("", String::as_str)),
            Ok((mut child, port)) => {
                let group = child.id();
                backends.slot(spec.id, |s| {
                    s.group = group;
                    s.port = Some(port);
                    s.status = BackendStatus::Starting;
                });
                read_output(&backends, &spec, &mut child, &secret);
                let exit = watch_until_exit(&backends, spec.id, &mut child, port, &mut stop).await;
                match (&exit, group) {
                    (None, _) => stop_child(&mut child, group).await,
                    // Whatever it started goes with it (workers, a reloader's child): the group
                    // lives on while they do, so its id still names them.
                    (Some(_), Some(group)) => kill_group(group, libc::SIGKILL),
                    (Some(_), None) => {}
                }
                backends.slot(spec.id, |s| {
                    s.group = None;
                    s.port = None;
                });
                match exit {
                    Some(exit) => exit,
                    None => break,
                }
            }
        };
        note(format!("backend {exit}"));
        failures = failures_after_exit(started.elapsed(), failures);
        let delay = policy.unit.mul_f64(restart_delay(failures).as_secs_f64());
        backends.slot(spec.id, |s| {
            s.restarts += 1;
            s.last_exit = Some(exit.clone());
            s.status = BackendStatus::Restarting { at: now_ms() + delay.as_millis() as i64, last_exit: exit };
        });
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = told_to_stop(&mut stop) => break,
        }
    }
    backends.slot(spec.id, |s| s.status = BackendStatus::Stopped);
}

/// Starts the backend on a free loopback port, in a process group of its own.
fn spawn(spec: &RunnableWebapp, guise_url: &str, secret: &str) -> std::io::Result<(Child, u16)> {
    // The port is free now; should another process take it first, the backend exits and its
    // next start gets another.
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
    // Registration refuses an empty command; a row changed by hand gets an error, not a panic.
    let Some((first, args)) = spec.code.command.split_first() else {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "the registered command is empty"));
    };
    let workdir = Path::new(&spec.code.workdir);
    let program = Path::new(first);
    let program = if program.is_relative() && first.contains('/') { workdir.join(program) } else { program.to_path_buf() };
    let mut command = Command::new(program);
    command.args(args).current_dir(workdir).env_clear();
    for name in PASSED_THROUGH {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    let prefix = format!("/projects/{}/webapps/{}/backend", spec.project_key, spec.slug);
    command
        .env("GUISE_URL", guise_url)
        .env("GUISE_CLIENT_ID", &spec.client_id)
        .env("GUISE_CLIENT_SECRET", secret)
        .env("GUISE_BACKEND_HOST", "127.0.0.1")
        .env("GUISE_BACKEND_PORT", port.to_string())
        .env("GUISE_PROJECT_KEY", &spec.project_key)
        .env("GUISE_WEBAPP_SLUG", &spec.slug)
        .env("GUISE_WEBAPP_BACKEND_PREFIX", prefix)
        // Output as it is printed, so the log shows lines when they happen.
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    // SAFETY: only prctl(2), which is async-signal-safe, runs between fork and exec: the
    // backend is killed if the thread that started it (and so the server) dies.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    Ok((command.spawn()?, port))
}

/// Waits until the backend answers on its port (then it is Running), and on until it exits;
/// `None` when told to stop first.
async fn watch_until_exit(backends: &Arc<Backends>, id: i64, child: &mut Child, port: u16, stop: &mut watch::Receiver<bool>) -> Option<String> {
    let answers = async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::select! {
        status = child.wait() => return Some(exited(status)),
        ready = tokio::time::timeout(READY_WITHIN, answers) => {
            if ready.is_err() {
                stop_child(child, child.id()).await;
                return Some(format!("did not answer on port {port} within {} s", READY_WITHIN.as_secs()));
            }
        }
        _ = told_to_stop(stop) => return None,
    }
    let pid = child.id().unwrap_or_default();
    backends.slot(id, |s| s.status = BackendStatus::Running { pid, since: now_ms() });
    tokio::select! {
        status = child.wait() => Some(exited(status)),
        _ = told_to_stop(stop) => None,
    }
}

fn exited(status: std::io::Result<std::process::ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited with code {code}"),
            (None, Some(signal)) => format!("was killed by signal {signal}"),
            _ => "exited".into(),
        },
        Err(e) => format!("could not be waited for: {e}"),
    }
}

/// SIGTERM to the backend's group, SIGKILL if it has not exited in time.
async fn stop_child(child: &mut Child, group: Option<u32>) {
    let Some(group) = group else { return };
    kill_group(group, libc::SIGTERM);
    if tokio::time::timeout(STOP_WITHIN, child.wait()).await.is_err() {
        kill_group(group, libc::SIGKILL);
        let _ = child.wait().await;
    }
    // Whatever the backend started in its group goes with it.
    kill_group(group, libc::SIGKILL);
}

/// Reads the backend's stdout and stderr into its log.
fn read_output(backends: &Arc<Backends>, spec: &RunnableWebapp, child: &mut Child, secret: &str) {
    let secrets = vec![secret.to_string()];
    if let Some(out) = child.stdout.take() {
        tokio::spawn(read_lines(out, "stdout", backends.clone(), spec.id, spec.slug.clone(), secrets.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(read_lines(err, "stderr", backends.clone(), spec.id, spec.slug.clone(), secrets));
    }
}

/// Lines of output, each clipped at `MAX_LOG_LINE` bytes however long it runs on.
async fn read_lines(stream: impl AsyncRead + Unpin, name: &'static str, backends: Arc<Backends>, id: i64, slug: String, secrets: Vec<String>) {
    let mut reader = BufReader::new(stream);
    let mut line: Vec<u8> = Vec::with_capacity(256);
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let emit = |line: &mut Vec<u8>| {
        let shown = redact(&String::from_utf8_lossy(line), &secrets);
        tracing::info!(target: "guise::webapp", webapp = %slug, stream = name, "{shown}");
        push_line(&backends, id, name, shown);
        line.clear();
    };
    loop {
        let chunk = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(chunk) => chunk,
        };
        let newline = chunk.iter().position(|b| *b == b'\n');
        let part = &chunk[..newline.unwrap_or(chunk.len())];
        let room = (MAX_LOG_LINE * 4).saturating_sub(line.len());
        line.extend_from_slice(&part[..part.len().min(room)]);
        let used = newline.map_or(chunk.len(), |at| at + 1);
        reader.consume(used);
        if newline.is_some() {
            emit(&mut line);
        }
    }
    if !line.is_empty() {
        emit(&mut line);
    }
}

fn push_line(backends: &Backends, id: i64, stream: &str, text: String) {
    backends.known_slot(id, |s| {
        if s.log.len() >= LOG_LINES_KEPT {
            s.log.pop_front();
        }
        s.log.push_back(BackendLogLine { at: now_ms(), stream: stream.to_string(), text });
    });
}
