//! Configuration: flags, environment and `.env`, with the names and defaults of PRODUCT.md.

use clap::builder::BoolishValueParser;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;

#[derive(Debug, Parser)]
#[command(name = "server", version, about = "Guise: impersonation done right")]
pub struct Cli {
    /// Database URL (SQLite).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://data/guise.db", global = true)]
    pub database_url: String,
    /// Address to serve on.
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000", global = true)]
    pub site_addr: SocketAddr,
    /// Seed the demo organisation into an empty database. Its passwords and client secret are
    /// public: for trying Guise (`make run` asks for it), never for production.
    #[arg(long, env = "GUISE_DEMO", default_value = "false", value_parser = BoolishValueParser::new(), global = true)]
    pub demo: bool,
    /// Number of job workers.
    #[arg(long, env = "GUISE_JOB_WORKERS", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64), global = true)]
    pub job_workers: u16,
    /// Longest an impersonation may last, in minutes.
    #[arg(long, env = "GUISE_IMPERSONATION_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(i64).range(1..=1440), global = true)]
    pub impersonation_minutes: i64,
    /// The server key file, which seals client secrets and signing keys; keep it out of
    /// database backups. Created on first start; by default beside the database.
    #[arg(long, env = "GUISE_KEY_FILE", global = true)]
    pub key_file: Option<std::path::PathBuf>,
    /// Proxies in front of the server (comma-separated IP addresses): for requests from them,
    /// the address they name in `X-Forwarded-For` is the one logins are throttled by.
    #[arg(long, env = "GUISE_TRUSTED_PROXIES", value_delimiter = ',', global = true)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The address users reach the server at (e.g. `https://guise.example.com` behind a proxy
    /// that terminates TLS). When it is https, cookies are `Secure` and HSTS is sent.
    #[arg(long, env = "GUISE_PUBLIC_URL", value_parser = parse_public_url, global = true)]
    pub public_url: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web application (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Seed the demo organisation into an empty database and exit.
    SeedDemo,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Manage API clients.
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Code webapps: a folder of frontend files and a program Guise runs as their backend.
    Webapp {
        #[command(subcommand)]
        command: WebappCommand,
    },
    /// Turn impersonation on or off for the whole server.
    Impersonation {
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebappCommand {
    /// Register a code webapp (or update the one with that slug). The running server starts
    /// its backend within a few seconds. Registering a command means trusting its code.
    Register {
        /// The project key, e.g. TSHIRTS.
        #[arg(long)]
        project: String,
        /// The webapp's address in the project: lower-case letters, digits and '-'.
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        /// The account the backend runs as ("Run backend as").
        #[arg(long = "run-as")]
        run_as: String,
        /// A scope the backend may use on behalf of its users (repeat): datasets:read, datasets:build.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// The folder of frontend files (HTML, JS, CSS).
        #[arg(long)]
        frontend: std::path::PathBuf,
        /// The folder the backend runs in.
        #[arg(long)]
        workdir: std::path::PathBuf,
        /// The backend's program and arguments, after `--` (run without a shell).
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// List the code webapps.
    List,
    /// Disable a code webapp: its backend stops and its credentials are revoked.
    Disable {
        #[arg(long)]
        project: String,
        #[arg(long)]
        slug: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole hash chain and name the first broken row.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create API client credentials; the secret is printed once.
    Create {
        /// A name saying what the client is for.
        #[arg(long)]
        name: String,
        /// The email of the user the client acts for (and impersonates as).
        #[arg(long)]
        owner: String,
        /// How strictly subject tokens are checked.
        #[arg(long, default_value = "strict", value_parser = ["strict", "compatible"])]
        policy: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user who can log in.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Make the user an admin of their tenant.
        #[arg(long)]
        admin: bool,
        /// The tenant; created when it does not exist.
        #[arg(long, default_value = "TShirts Co.")]
        tenant: String,
        /// The password (prefer the environment variable, which stays out of shell history).
        #[arg(long, env = "GUISE_USER_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

impl Cli {
    pub fn settings(&self) -> app::backend::state::Settings {
        app::backend::state::Settings {
            job_workers: usize::from(self.job_workers),
            impersonation_minutes: self.impersonation_minutes,
            key_file: self.key_file.clone(),
            trusted_proxies: self.trusted_proxies.clone(),
            public_url: self.public_url.clone(),
        }
    }
}

/// An absolute http(s) URL with a host and nothing that cannot be part of one.
fn parse_public_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or("it must start with https:// (or http://)")?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("it must name a host, without spaces".into());
    }
    Ok(text.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_public_url;

    #[test]
    fn a_public_url_is_an_absolute_http_url() {
        assert_eq!(parse_public_url("https://guise.example.com/").unwrap(), "https://guise.example.com");
        assert!(parse_public_url("http://127.0.0.1:3000").is_ok());
        for bad in ["guise.example.com", "ftp://x", "https://", "https:///x", "https://a b"] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }
}
