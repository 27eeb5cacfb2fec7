//! The commands of the `server` binary.

use crate::config::{AuditCommand, Cli, ClientCommand, Command, UserCommand, WebappCommand};
use crate::{open_state, router};
use app::backend::jobs::runner;
use app::backend::secrets::ServerKey;
use app::backend::state::AppState;
use app::backend::store::sessions::Sessions;
use app::backend::audit::{AuditAction, AuditEntry, Outcome};
use app::backend::{api_clients, auth, memory, seed, store, webapp_supervisor};

pub async fn run(cli: Cli) -> Result<(), String> {
    match &cli.command {
        None | Some(Command::Serve) => serve(&cli).await,
        Some(Command::Migrate) => {
            if store::Engine::of(&cli.database_url)? == store::Engine::Postgres {
                store::postgres::migrate(&cli.database_url).await?;
            } else {
                open_database(&cli).await?;
            }
            println!("database is up to date");
            Ok(())
        }
        Some(Command::SeedDemo) => {
            let (db, server_key) = open_database(&cli).await?;
            if seed::seed_demo(&db, &server_key).await? {
                println!("seeded the demo organisation");
                print_demo_logins();
            } else {
                println!("the database already has data; the demo is only seeded into an empty one");
            }
            Ok(())
        }
        Some(Command::Audit { command: AuditCommand::Verify }) => {
            // A missing key file would be created afresh, and every row would then look forged.
            if let Some(path) = cli.key_file.clone().or_else(|| crate::default_key_file(&cli.database_url)) {
                if !path.exists() {
                    return Err(format!("the server key file {} is missing: the audit chains cannot be checked without it", path.display()));
                }
            }
            let (db, server_key) = open_database(&cli).await?;
            let checked = store::audit::verify_all(&db.read, &server_key.chain_key())
                .await
                .map_err(|e| format!("cannot read the audit log: {e}"))?
                .map_err(|b| format!("the audit log does not verify: {b}"))?;
            println!("audit chains intact: {checked} rows verified");
            Ok(())
        }
        Some(Command::Impersonation { state }) => {
            let (db, _) = open_database(&cli).await?;
            let on = state == "on";
            app::backend::services::settings::switch_impersonation(&db.writer, on, "command line").await.map_err(|e| format!("cannot change the setting: {e}"))?;
            println!("impersonation is now {}", if on { "on" } else { "off" });
            Ok(())
        }
        Some(Command::Client { command: ClientCommand::Create { name, owner, policy } }) => {
            let state = open_state(&cli.database_url, cli.settings(), false).await?;
            create_client(&state, name, owner, policy).await
        }
        Some(Command::Webapp { command }) => {
            let state = open_state(&cli.database_url, cli.settings(), false).await?;
            webapp_command(&state, command).await
        }
        Some(Command::User { command: UserCommand::Create { email, name, admin, tenant, password } }) => {
            let (db, _) = open_database(&cli).await?;
            create_user(&db.writer, email, name, *admin, tenant, password).await
        }
    }
}

/// The database, migrated and with its writer, and the server key (created when missing).
async fn open_database(cli: &Cli) -> Result<(store::Database, ServerKey), String> {
    let server_key = crate::server_key(&cli.database_url, cli.key_file.as_deref())?;
    let db = store::open(&cli.database_url, server_key.chain_key()).await?;
    Ok((db, server_key))
}

fn print_demo_logins() {
    println!("Demo logins (password: {}):", seed::DEMO_PASSWORD);
    for line in seed::demo_logins() {
        println!("{line}");
    }
}

async fn create_user(writer: &store::Writer, email: &str, name: &str, admin: bool, tenant: &str, password: &str) -> Result<(), String> {
    let email = email.trim();
    if !email.contains('@') || email.len() > 254 {
        return Err(format!("{email:?} is not an email address"));
    }
    if name.trim().is_empty() {
        return Err("the name is empty".into());
    }
    if password.len() < 8 {
        return Err("the password needs at least 8 characters".into());
    }
    let hash = auth::hash_password(password.to_string()).await.map_err(|e| e.to_string())?;
    let what = format!("user {email}{}", if admin { " (admin)" } else { "" });
    // Nobody is signed in on the command line: the row names the new account, made there.
    let audit = move |tenant_id, user_id| AuditEntry {
        tenant_id,
        actor_user_id: user_id,
        subject_user_id: None,
        impersonation_id: None,
        action: AuditAction::UserCreate.as_str().into(),
        target: what,
        outcome: Outcome::Allowed,
        reason: "created with the server command line".into(),
        via: "command line".into(),
    };
    let id = store::users::create_with_tenant(writer, tenant, email, name.trim(), &hash, admin, audit)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => format!("a user with email {email} already exists"),
            other => format!("cannot create the user: {other}"),
        })?;
    println!("created user {id}: {name} <{email}>{}", if admin { " (admin)" } else { "" });
    Ok(())
}

async fn create_client(state: &AppState, name: &str, owner_email: &str, policy: &str) -> Result<(), String> {
    let owner = store::users::by_email(&state.db, owner_email.trim())
        .await
        .map_err(|e| format!("cannot read the users: {e}"))?
        .ok_or_else(|| format!("no user with email {owner_email}"))?;
    let policy = api_clients::parse_policy(policy).map_err(|e| e.to_string())?;
    let created = api_clients::create(state, &owner, name, policy, "command line").await.map_err(|e| e.to_string())?;
    println!("created API client {} ({}) owned by {}", created.client_id, created.name, owner.email);
    println!("client_id:     {}", created.client_id);
    println!("client_secret: {}", created.secret);
    println!("The secret is shown only now; store it safely.");
    Ok(())
}

async fn serve(cli: &Cli) -> Result<(), String> {
    let state = open_state(&cli.database_url, cli.settings(), cli.demo).await?;
    if cli.demo {
        print_demo_logins();
    } else if store::is_empty(&state.db).await.map_err(|e| format!("cannot read the database: {e}"))? {
        print_first_steps();
    }
    let requeued = runner::recover_interrupted(&state).await.map_err(|e| format!("cannot recover jobs: {e}"))?;
    if !requeued.is_empty() {
        println!("re-queued {} job(s) interrupted by the last stop", requeued.len());
    }
    let options = router::leptos_options(cli.site_addr)?;
    let sessions = router::session_store(&state);
    tokio::spawn(sweep_expired_sessions(sessions.clone()));
    let app = router::build(state.clone(), options, sessions);
    runner::spawn_workers(&state);
    memory::keep_purging().map_err(|e| format!("cannot start the memory purge thread: {e}"))?;

    let listener = tokio::net::TcpListener::bind(cli.site_addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cli.site_addr))?;
    println!("Guise is serving on http://{}", cli.site_addr);
    let listening = listener.local_addr().map_err(|e| format!("cannot read the address listened on: {e}"))?;
    webapp_supervisor::start(&state, webapp_supervisor::guise_url_for(listening), Default::default());
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"));
    // The code webapps' backends stop with the server.
    state.backends.shutdown().await;
    served
}

async fn webapp_command(state: &AppState, command: &WebappCommand) -> Result<(), String> {
    use app::backend::services::webapps;
    match command {
        WebappCommand::Register { project, slug, name, run_as, scopes, frontend, workdir, command } => {
            let registration = webapps::Registration {
                project_key: project.clone(),
                slug: slug.clone(),
                name: name.clone(),
                run_as: run_as.clone(),
                scopes: scopes.clone(),
                frontend_dir: frontend.clone(),
                workdir: workdir.clone(),
                command: command.clone(),
            };
            let (_, outcome) = webapps::register(state, &registration).await.map_err(|e| e.to_string())?;
            println!("webapp {}/{} {}: /projects/{}/webapps/{}/", project.trim(), slug.trim(), outcome.word(), project.trim(), slug.trim());
            if outcome != store::webapps::Registered::Unchanged {
                println!("a running server starts (or restarts) its backend within {} s", app::backend::webapp_supervisor::RECONCILE_EVERY.as_secs());
            }
            Ok(())
        }
        WebappCommand::List => {
            for line in webapps::list(state).await.map_err(|e| e.to_string())? {
                println!("{line}");
            }
            Ok(())
        }
        WebappCommand::Disable { project, slug } => {
            webapps::disable(state, project, slug).await.map_err(|e| e.to_string())?;
            println!("webapp {}/{} disabled: its backend stops and its credentials are revoked", project.trim(), slug.trim());
            Ok(())
        }
    }
}

/// What an operator does on a new, empty database.
fn print_first_steps() {
    println!(
        "The database is empty: nobody can sign in yet. Create the first admin (and their tenant):\n  \
         GUISE_USER_PASSWORD='…' server user create --admin --email you@example.com --name 'Your Name' --tenant 'Your Company'\n\
         To try Guise with the demo organisation instead, start with GUISE_DEMO=true (as `make run` does)."
    );
}

/// Removes expired sessions now and then, so the table holds only live ones.
async fn sweep_expired_sessions(sessions: Sessions) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(15 * 60));
    loop {
        every.tick().await;
        match sessions.delete_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::info!("removed {n} expired session(s)"),
            Err(e) => tracing::warn!("cannot remove expired sessions: {e}"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}
