//! The rules of code webapps (M23): the scopes a webapp backend may use for its users, the
//! ticket a proxied request carries and when it may be exchanged, what a webapp's tokens may
//! call, how a backend that exits is restarted, which frontend paths are served, and what of a
//! backend's log may be shown. Pure: callers load tickets, tokens and webapps; these decide.
//! (The backend runner, the proxy and the exchange that use them come in later steps.)

use std::time::Duration;

/// A ticket lives at most this long: the proxy issues one per request.
pub const TICKET_SECONDS: i64 = 60;
/// A token acting as the browser user lives at most this long.
pub const USER_TOKEN_SECONDS: i64 = 300;
/// A shown log line is clipped to this many characters.
pub const MAX_LOG_LINE: usize = 2_048;

/// What a webapp backend may do as its browser user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    DatasetsRead,
    DatasetsBuild,
}

impl Scope {
    pub const ALL: [Scope; 2] = [Scope::DatasetsRead, Scope::DatasetsBuild];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::DatasetsRead => "datasets:read",
            Scope::DatasetsBuild => "datasets:build",
        }
    }
}

/// A set of scopes, kept sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    pub fn of(scopes: &[Scope]) -> Scopes {
        let mut list = scopes.to_vec();
        list.sort();
        list.dedup();
        Scopes(list)
    }

    /// Scope words separated by spaces or commas (RFC 6749 §3.3 uses spaces); an unknown word
    /// is refused, never ignored.
    pub fn parse(text: &str) -> Result<Scopes, String> {
        let mut found = Vec::new();
        for word in text.split([' ', ',']).filter(|w| !w.is_empty()) {
            let scope = Scope::ALL.into_iter().find(|s| s.as_str() == word).ok_or_else(|| {
                let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown scope {:?}: the scopes are {}", crate::backend::tokens::clip(word, 40), known.join(", "))
            })?;
            found.push(scope);
        }
        Ok(Scopes::of(&found))
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    /// The words, separated by spaces (the `scope` claim and the database column).
    pub fn as_text(&self) -> String {
        self.0.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
    }

    fn intersect(&self, other: &Scopes) -> Scopes {
        Scopes(self.0.iter().copied().filter(|s| other.contains(*s)).collect())
    }
}

/// The scopes an exchange grants: those asked for, which must all be declared by the webapp;
/// all the declared ones when none are asked for.
pub fn granted_scopes(requested: Option<&Scopes>, declared: &Scopes) -> Result<Scopes, String> {
    match requested {
        None => Ok(declared.clone()),
        Some(asked) => match asked.0.iter().find(|s| !declared.contains(**s)) {
            None => Ok(asked.clone()),
            Some(wider) => Err(format!("the webapp may not use the scope {} on behalf of its users", wider.as_str())),
        },
    }
}

/// The scopes a live user token still has: narrowing a webapp's scopes in its settings takes
/// them from the tokens it already holds.
pub fn effective_scopes(token: &Scopes, declared_now: &Scopes) -> Scopes {
    token.intersect(declared_now)
}

/// The parts of the `/v2` API, as far as webapp tokens are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    WhoAmI,
    Files,
    Rows,
    Build,
    Jobs,
    Job,
    Admin,
    Other,
}

/// A token a webapp backend holds: its own (acting as its "Run backend as" account), or one
/// acting as a browser user with some scopes.
#[derive(Clone, Copy, Debug)]
pub enum WebappToken<'a> {
    App,
    User(&'a Scopes),
}

/// Whether a webapp's token may call an endpoint. Its own token acts as its account, but never
/// administers; a user token needs the endpoint's scope.
pub fn webapp_token_may_call(token: WebappToken<'_>, endpoint: Endpoint) -> Result<(), String> {
    let needed = match endpoint {
        Endpoint::Admin => return Err("a webapp's tokens never administer".into()),
        Endpoint::WhoAmI => return Ok(()),
        Endpoint::Files | Endpoint::Rows | Endpoint::Jobs | Endpoint::Job => Scope::DatasetsRead,
        Endpoint::Build => Scope::DatasetsBuild,
        Endpoint::Other => return Err("this endpoint is not open to a webapp's tokens".into()),
    };
    match token {
        WebappToken::App => Ok(()),
        WebappToken::User(scopes) if scopes.contains(needed) => Ok(()),
        WebappToken::User(_) => Err(format!("the webapp's token for its user lacks the scope {}", needed.as_str())),
    }
}

/// Whether a webapp's token reaches a project: its backend's own token reaches what its account
/// may read; a token for its browser user only the webapp's own project, whatever else the user
/// may read.
pub fn token_reaches_project(token: WebappToken<'_>, webapp_project: i64, project: i64) -> bool {
    match token {
        WebappToken::App => true,
        WebappToken::User(_) => project == webapp_project,
    }
}

/// Whether a request with `method` may go through a webapp to its backend: a read-only
/// impersonation sends only GET, HEAD and OPTIONS, which change nothing.
pub fn may_send_to_backend(read_only: bool, method: &str) -> Result<(), &'static str> {
    if read_only && !matches!(method, "GET" | "HEAD" | "OPTIONS") {
        Err("the impersonation is read-only: a webapp's backend gets no changes from it")
    } else {
        Ok(())
    }
}

/// What a ticket says about itself, and who presents it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketFacts {
    pub issued_at: i64,
    pub not_before: i64,
    pub expires_at: i64,
    /// The webapp it was issued for.
    pub webapp_id: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketRefusal {
    Expired,
    NotYetValid,
    LivesTooLong,
    NotAWebappBackend,
    OtherWebapp,
}

impl TicketRefusal {
    pub fn message(self) -> &'static str {
        match self {
            TicketRefusal::Expired => "the ticket has expired (tickets live 60 seconds)",
            TicketRefusal::NotYetValid => "the ticket is not valid yet",
            TicketRefusal::LivesTooLong => "the ticket claims to live longer than 60 seconds",
            TicketRefusal::NotAWebappBackend => "only a webapp's backend exchanges tickets",
            TicketRefusal::OtherWebapp => "the ticket was issued for another webapp",
        }
    }
}

/// Whether a ticket may be exchanged now by the backend of `actor_webapp` (none: the client is
/// no webapp's backend). Single use is checked where tickets are recorded.
pub fn check_ticket(ticket: &TicketFacts, now: i64, actor_webapp: Option<i64>) -> Result<(), TicketRefusal> {
    let Some(actor_webapp) = actor_webapp else { return Err(TicketRefusal::NotAWebappBackend) };
    if ticket.webapp_id != actor_webapp {
        return Err(TicketRefusal::OtherWebapp);
    }
    if ticket.expires_at - ticket.issued_at > TICKET_SECONDS {
        return Err(TicketRefusal::LivesTooLong);
    }
    if now < ticket.not_before {
        return Err(TicketRefusal::NotYetValid);
    }
    if now >= ticket.expires_at {
        return Err(TicketRefusal::Expired);
    }
    Ok(())
}

/// A token acting as a webapp's user is exchanged for nothing: it cannot become a wider one.
pub fn may_exchange_again(is_webapp_user_token: bool) -> Result<(), &'static str> {
    if is_webapp_user_token {
        Err("a webapp's token for its user cannot be exchanged again")
    } else {
        Ok(())
    }
}

/// When a user token expires: a few minutes, never after the backend's own token, nor after
/// the browser user's impersonation (when they were impersonating).
pub fn user_token_expiry(now: i64, actor_expires: i64, impersonation_expires: Option<i64>) -> i64 {
    [Some(now + USER_TOKEN_SECONDS), Some(actor_expires), impersonation_expires].into_iter().flatten().min().unwrap_or(now)
}

/// How long to wait before starting a backend again after `failures` exits in a row: 1, 2, 4 …
/// seconds, at most a minute.
pub fn restart_delay(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}

/// Exits in a row after one more exit: a backend that stayed up a minute starts counting again.
pub fn failures_after_exit(uptime: Duration, failures: u32) -> u32 {
    if uptime >= Duration::from_secs(60) {
        1
    } else {
        failures.saturating_add(1)
    }
}

/// Whether a path under a webapp's address names one of its frontend files: no way out of its
/// folder, no hidden files, nothing the proxy or Guise itself answers.
pub fn frontend_path_allowed(path: &str) -> Result<(), &'static str> {
    if path.contains('\\') || path.contains('\0') {
        return Err("the path has a backslash or a NUL");
    }
    let segments: Vec<&str> = path.split('/').collect();
    if segments.first().is_some_and(|first| *first == "backend" || *first == "__guise") {
        return Err("that address belongs to the backend or to Guise");
    }
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if segment.is_empty() && !last {
            return Err("the path has an empty segment");
        }
        if *segment == "." || *segment == ".." || segment.starts_with('.') {
            return Err("the path names a parent, the same folder or a hidden file");
        }
    }
    Ok(())
}

/// A backend's command line: a program and its arguments, run without a shell.
pub fn check_command(argv: &[String]) -> Result<(), String> {
    let Some(program) = argv.first() else { return Err("the command is empty".into()) };
    if program.trim().is_empty() {
        return Err("the command's program is empty".into());
    }
    if argv.iter().any(|a| a.contains('\0')) {
        return Err("the command has a NUL character".into());
    }
    if argv.len() > 64 || argv.iter().map(String::len).sum::<usize>() > 4_096 {
        return Err("the command is too long (at most 64 arguments, 4,096 characters)".into());
    }
    Ok(())
}

/// The marker a hidden secret is shown as.
pub const REDACTED: &str = "[redacted]";

/// Words whose value, after `=` or `:`, is a secret.
const SECRET_KEYS: [&str; 6] = ["client_secret", "guise_client_secret", "access_token", "subject_token", "actor_token", "password"];

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '/' | '=')
}

/// The text without terminal escape sequences (colours: `ESC [ … m`), which mean nothing on a page.
fn without_terminal_codes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
        } else if chars.peek() == Some(&'[') {
            // A control sequence runs to its final byte, one of `@` to `~`.
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

/// A backend's log line as it may be shown: known secrets, anything shaped like a JWT, the
/// value of a bearer header and of secret-named fields replaced, control characters dropped,
/// at most `MAX_LOG_LINE` characters.
pub fn redact(line: &str, secrets: &[&str]) -> String {
    let mut text: String = without_terminal_codes(line).chars().filter(|c| !c.is_control() || *c == '\t').collect();
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        text = text.replace(secret, REDACTED);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    // Whether the next word is a secret: after `Bearer ` or `client_secret=` and the like.
    let mut secret_next = false;
    while let Some(start) = rest.find(token_char) {
        let (before, from) = rest.split_at(start);
        let end = from.find(|c: char| !token_char(c)).unwrap_or(from.len());
        let (word, after) = from.split_at(end);
        out.push_str(before);
        let value_follows = |sep: &str| sep.starts_with('=') || sep.starts_with(':');
        let lower = word.to_ascii_lowercase();
        if secret_next && !word.is_empty() {
            out.push_str(REDACTED);
            secret_next = false;
        } else if word.starts_with("eyJ") && word.contains('.') {
            out.push_str(REDACTED);
        } else if let Some((key, _)) = word.split_once('=').filter(|(k, _)| SECRET_KEYS.contains(&k.to_ascii_lowercase().as_str())) {
            out.push_str(key);
            out.push('=');
            out.push_str(REDACTED);
        } else {
            out.push_str(word);
            secret_next = lower == "bearer" || lower == "basic" || (SECRET_KEYS.contains(&lower.as_str()) && value_follows(after.trim_start_matches(['"', '\'', ' '])));
        }
        rest = after;
    }
    out.push_str(rest);
    crate::backend::tokens::clip(&out, MAX_LOG_LINE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_a_closed_set() {
        let both = Scopes::parse("datasets:build datasets:read,datasets:read").unwrap();
        assert_eq!(both, Scopes::of(&[Scope::DatasetsRead, Scope::DatasetsBuild]));
        assert_eq!(both.as_text(), "datasets:read datasets:build");
        assert_eq!(Scopes::parse("").unwrap(), Scopes::default());
        assert!(Scopes::parse("datasets:read admin").unwrap_err().contains("unknown scope \"admin\""));
    }

    #[test]
    fn an_exchange_grants_at_most_what_the_webapp_declares() {
        let read = Scopes::of(&[Scope::DatasetsRead]);
        let both = Scopes::of(&Scope::ALL);
        assert_eq!(granted_scopes(None, &read), Ok(read.clone()));
        assert_eq!(granted_scopes(Some(&read), &both), Ok(read.clone()));
        assert!(granted_scopes(Some(&both), &read).unwrap_err().contains("datasets:build"));
        assert_eq!(effective_scopes(&both, &read), read, "narrowed in settings: narrowed in live tokens");
    }

    #[test]
    fn user_tokens_call_what_their_scopes_allow_and_no_webapp_token_administers() {
        let read = Scopes::of(&[Scope::DatasetsRead]);
        assert_eq!(webapp_token_may_call(WebappToken::User(&read), Endpoint::Files), Ok(()));
        assert_eq!(webapp_token_may_call(WebappToken::User(&read), Endpoint::WhoAmI), Ok(()));
        assert!(webapp_token_may_call(WebappToken::User(&read), Endpoint::Build).unwrap_err().contains("datasets:build"));
        assert_eq!(webapp_token_may_call(WebappToken::User(&Scopes::of(&Scope::ALL)), Endpoint::Build), Ok(()));
        assert_eq!(webapp_token_may_call(WebappToken::App, Endpoint::Build), Ok(()));
        for token in [WebappToken::App, WebappToken::User(&read)] {
            assert!(webapp_token_may_call(token, Endpoint::Admin).is_err());
            assert!(webapp_token_may_call(token, Endpoint::Other).is_err());
        }
    }

    #[test]
    fn a_read_only_impersonation_sends_a_backend_only_reads() {
        for read in ["GET", "HEAD", "OPTIONS"] {
            assert_eq!(may_send_to_backend(true, read), Ok(()), "{read}");
        }
        for change in ["POST", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT", "PROPFIND", "get"] {
            assert!(may_send_to_backend(true, change).is_err(), "{change}");
            assert_eq!(may_send_to_backend(false, change), Ok(()), "{change}");
        }
    }

    #[test]
    fn a_user_token_reaches_only_its_webapps_project() {
        let read = Scopes::of(&[Scope::DatasetsRead]);
        assert!(token_reaches_project(WebappToken::User(&read), 3, 3));
        assert!(!token_reaches_project(WebappToken::User(&read), 3, 4));
        assert!(token_reaches_project(WebappToken::App, 3, 4), "the backend's own token acts as its account");
    }

    #[test]
    fn a_ticket_is_exchanged_within_its_minute_by_its_webapp_only() {
        let ticket = TicketFacts { issued_at: 1_000, not_before: 1_000, expires_at: 1_060, webapp_id: 7 };
        assert_eq!(check_ticket(&ticket, 1_000, Some(7)), Ok(()));
        assert_eq!(check_ticket(&ticket, 1_059, Some(7)), Ok(()));
        assert_eq!(check_ticket(&ticket, 1_060, Some(7)), Err(TicketRefusal::Expired));
        assert_eq!(check_ticket(&ticket, 999, Some(7)), Err(TicketRefusal::NotYetValid));
        assert_eq!(check_ticket(&ticket, 1_000, Some(8)), Err(TicketRefusal::OtherWebapp));
        assert_eq!(check_ticket(&ticket, 1_000, None), Err(TicketRefusal::NotAWebappBackend));
        let long = TicketFacts { expires_at: 1_061, ..ticket };
        assert_eq!(check_ticket(&long, 1_000, Some(7)), Err(TicketRefusal::LivesTooLong));
    }

    #[test]
    fn user_tokens_are_short_and_final() {
        assert_eq!(user_token_expiry(1_000, 5_000, None), 1_300);
        assert_eq!(user_token_expiry(1_000, 1_100, None), 1_100, "never after the backend's own token");
        assert_eq!(user_token_expiry(1_000, 5_000, Some(1_200)), 1_200, "nor after the impersonation");
        assert!(may_exchange_again(true).is_err());
        assert_eq!(may_exchange_again(false), Ok(()));
    }

    #[test]
    fn a_backend_that_keeps_exiting_waits_longer_up_to_a_minute() {
        let delays: Vec<u64> = (1..=9).map(|n| restart_delay(n).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(restart_delay(0).as_secs(), 1);
        assert_eq!(failures_after_exit(Duration::from_secs(5), 3), 4);
        assert_eq!(failures_after_exit(Duration::from_secs(60), 3), 1, "a minute up: counting starts again");
    }

    #[test]
    fn only_files_inside_the_frontend_folder_are_served() {
        for ok in ["", "index.html", "js/app.js", "css/", "a/b/c.png"] {
            assert_eq!(frontend_path_allowed(ok), Ok(()), "{ok}");
        }
        for bad in ["../secret", "a/../../b", "./x", ".env", "js/.git/config", "a//b", "backend/x", "__guise/x", "a\\b", "a\0b"] {
            assert!(frontend_path_allowed(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_command_is_a_program_and_arguments() {
        let argv = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        assert_eq!(check_command(&argv(&["python3", "app.py"])), Ok(()));
        assert!(check_command(&[]).is_err());
        assert!(check_command(&argv(&[" "])).is_err());
        assert!(check_command(&argv(&["python3", "a\0b"])).is_err());
        assert!(check_command(&vec!["x".to_string(); 65]).is_err());
    }

    #[test]
    fn logs_never_show_secrets() {
        let secret = "s3cr3t-client-secret-value";
        let jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl";
        let line = format!("GET /x Authorization: Bearer {jwt} secret={secret} client_secret=abc123xyz token {jwt}\u{1b}[31m");
        let shown = redact(&line, &[secret]);
        assert!(!shown.contains(secret) && !shown.contains(jwt) && !shown.contains("abc123xyz"), "{shown}");
        assert!(shown.contains("Bearer [redacted]") && shown.contains("client_secret=[redacted]"), "{shown}");
        assert!(!shown.contains('\u{1b}') && !shown.contains("[31m"), "{shown}");
        assert_eq!(redact("\u{1b}[31m\u{1b}[1mWARNING\u{1b}[0m: x", &[]), "WARNING: x");
        assert_eq!(redact("password: hunter2 ok", &[]), "password: [redacted] ok");
        assert_eq!(redact("Authorization: Basic dTE6c2VjcmV0", &[]), "Authorization: Basic [redacted]");
        assert_eq!(redact("GUISE_CLIENT_SECRET=abc", &[]), "GUISE_CLIENT_SECRET=[redacted]");
        assert_eq!(redact("started on port 8123", &["short"]), "started on port 8123");
        assert_eq!(redact(&"x".repeat(5_000), &[]).chars().count(), MAX_LOG_LINE + 1, "clipped, with an ellipsis");
    }
}
