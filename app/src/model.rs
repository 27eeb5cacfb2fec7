//! Types both the server and the browser see.

use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};

/// A person (or service account) as pages show them: display name, email on hover.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub id: i64,
    pub email: String,
    pub display_name: String,
}

/// Who is signed in, for the header and the pages. While impersonating, `user` is the
/// impersonated user and `impersonation` names the impersonator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    pub user: UserView,
    pub is_admin: bool,
    pub tenant_name: String,
    pub impersonation: Option<ImpersonationView>,
    /// Exactly the users I may impersonate now (empty while impersonating).
    pub impersonation_candidates: Vec<UserView>,
    /// The server's clock when this was made, so the browser can count down without
    /// trusting its own clock.
    pub server_now: i64,
}

/// An ongoing impersonation, as the banner shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImpersonationView {
    pub actor: UserView,
    pub subject: UserView,
    pub mode: ImpersonationMode,
    pub reason: String,
    pub read_only: bool,
    pub started_at: i64,
    pub expires_at: i64,
}

/// One impersonation of an account, with what was done during it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImpersonationRecordView {
    pub id: i64,
    pub actor: UserView,
    pub subject: UserView,
    pub reason: String,
    pub read_only: bool,
    pub mode: ImpersonationMode,
    pub started_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
    /// `UI`, or the API client that exchanged a token.
    pub via: String,
    pub actions: Vec<AuditView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditView {
    pub id: i64,
    pub at: i64,
    pub actor: UserView,
    pub subject: Option<UserView>,
    pub impersonation_id: Option<i64>,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub reason: String,
    pub via: String,
}

/// A user as the administration pages list them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DirectoryEntry {
    pub user: UserView,
    pub role: String,
    pub groups: Vec<String>,
    pub disabled: bool,
    /// Why the viewer may not impersonate this user, if they may not.
    pub impersonation_refusal: Option<String>,
    /// The modes the viewer may impersonate this user in, least powerful first, and the one
    /// a start gets when none is chosen (empty and none when they may not).
    pub allowed_modes: Vec<ImpersonationMode>,
    pub default_mode: Option<ImpersonationMode>,
}

/// One side of a grant: a user or a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartyView {
    User(UserView),
    Group { id: i64, name: String },
}

impl PartyView {
    pub fn label(&self) -> String {
        match self {
            PartyView::User(u) => format!("{} ({})", u.display_name, u.email),
            PartyView::Group { name, .. } => format!("group {name}"),
        }
    }

    /// The value a form sends for this party: `user:ID` or `group:ID`.
    pub fn form_value(&self) -> String {
        match self {
            PartyView::User(u) => format!("user:{}", u.id),
            PartyView::Group { id, .. } => format!("group:{id}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrantView {
    pub id: i64,
    pub actor: PartyView,
    pub subject: PartyView,
    pub mode: ImpersonationMode,
    pub created_by: UserView,
    pub created_at: i64,
}

/// Administration → Grants: every grant, and the parties a new one may name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrantsPage {
    pub grants: Vec<GrantView>,
    pub parties: Vec<PartyView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupView {
    pub id: i64,
    pub name: String,
    pub members: Vec<DirectoryEntry>,
}

/// Administration → Audit: the rows a filter selects, and what the filters may choose from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub rows: Vec<AuditView>,
    pub people: Vec<UserView>,
    pub actions: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChainReport {
    pub intact: bool,
    pub rows_checked: usize,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileView {
    pub entry: DirectoryEntry,
    pub tenant_name: String,
    pub viewer_is_admin: bool,
    /// Grants naming this user (or their groups) on the impersonating side.
    pub may_impersonate: Vec<GrantView>,
    /// Grants naming this user (or their groups) on the impersonated side.
    pub may_be_impersonated_by: Vec<GrantView>,
    /// The region whose rows of restricted datasets the user sees (`EU` or `US`).
    pub region: Option<String>,
    pub price_group: Option<PriceGroup>,
}

/// How an impersonation acts for its subject (per grant; admins choose).
/// - On behalf of: the subject's permissions; orders are the subject's, placed by the actor at
///   the actor's prices; comments are the actor's.
/// - Full: everything as the subject.
/// - Full with the impersonator's permissions: as Full, but permissions are the actor's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ImpersonationMode {
    OnBehalfOf,
    Full,
    FullImpersonatorPermissions,
}

impl ImpersonationMode {
    /// From the least powerful to the most.
    pub const ALL: [ImpersonationMode; 3] =
        [ImpersonationMode::OnBehalfOf, ImpersonationMode::Full, ImpersonationMode::FullImpersonatorPermissions];

    /// The word stored in the database and sent by forms.
    pub fn as_db(self) -> &'static str {
        match self {
            ImpersonationMode::OnBehalfOf => "on_behalf_of",
            ImpersonationMode::Full => "full",
            ImpersonationMode::FullImpersonatorPermissions => "full_impersonator_permissions",
        }
    }

    pub fn from_db(word: &str) -> Option<ImpersonationMode> {
        ImpersonationMode::ALL.into_iter().find(|mode| mode.as_db() == word)
    }

    /// The words shown on screen.
    pub fn label(self) -> &'static str {
        match self {
            ImpersonationMode::OnBehalfOf => "On behalf of",
            ImpersonationMode::Full => "Full",
            ImpersonationMode::FullImpersonatorPermissions => "Full, impersonator's permissions",
        }
    }

    /// How the banner begins: "You are acting on behalf of Carol Customer (carol@…)".
    pub fn banner_prefix(self) -> &'static str {
        match self {
            ImpersonationMode::OnBehalfOf => "You are acting on behalf of",
            ImpersonationMode::Full | ImpersonationMode::FullImpersonatorPermissions => "You are impersonating",
        }
    }
}

impl TryFrom<String> for ImpersonationMode {
    type Error = String;

    fn try_from(word: String) -> Result<Self, String> {
        Self::from_db(&word).ok_or_else(|| format!("unknown impersonation mode {word:?}"))
    }
}

/// How a piece of work reached Guise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Via {
    Webapp { name: String },
    Ui,
    ApiClient { client_id: String },
}

impl Via {
    pub fn label(&self) -> String {
        match self {
            Via::Webapp { name } => format!("webapp \"{name}\""),
            Via::Ui => "UI".to_string(),
            Via::ApiClient { client_id } => format!("API client {client_id}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Refused,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Refused,
    ];

    /// The word shown on screen.
    pub fn label(self) -> &'static str {
        match self {
            JobStatus::Queued => "Queued",
            JobStatus::Running => "Running",
            JobStatus::Succeeded => "Succeeded",
            JobStatus::Failed => "Failed",
            JobStatus::Refused => "Refused",
        }
    }

    /// The word stored in the database.
    pub fn as_db(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Refused => "refused",
        }
    }

    /// The classes of its badge (a constant: the job table shows one per row).
    pub fn badge_class(self) -> &'static str {
        match self {
            JobStatus::Queued => "status status-queued",
            JobStatus::Running => "status status-running",
            JobStatus::Succeeded => "status status-succeeded",
            JobStatus::Failed => "status status-failed",
            JobStatus::Refused => "status status-refused",
        }
    }

    pub fn from_db(word: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|s| s.as_db() == word)
    }

    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed | JobStatus::Refused)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    pub id: i64,
    pub project_key: String,
    pub dataset: String,
    pub status: JobStatus,
    pub run_as: UserView,
    pub triggered_by: UserView,
    pub impersonated_by: Option<UserView>,
    pub via: Via,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub progress: f64,
    pub rows_in: Option<i64>,
    pub rows_out: Option<i64>,
    pub error: Option<String>,
}

impl JobView {
    /// Milliseconds from start to finish, once both are known.
    pub fn duration_ms(&self) -> Option<i64> {
        Some(self.finished_at? - self.started_at?)
    }
}

/// Jobs as a page lists them, newest first. One list is shared by every page that shows it
/// while it is current, so the HTML of its finished rows, which never change, is made once per
/// list and kept here. Travels as the bare list of jobs.
#[derive(Debug, Default)]
pub struct JobList {
    jobs: Vec<JobView>,
    row_groups: OnceLock<Vec<RowGroup>>,
}

/// A run of the list rendered together: consecutive finished jobs as one piece of HTML, or one
/// job still queued or running (by its index), which follows live progress.
#[derive(Clone, Debug, PartialEq)]
pub enum RowGroup {
    Finished(Arc<str>),
    Live(usize),
}

impl JobList {
    pub fn new(jobs: Vec<JobView>) -> Self {
        JobList { jobs, row_groups: OnceLock::new() }
    }

    pub fn jobs(&self) -> &[JobView] {
        &self.jobs
    }

    /// The list in render order, made with `finished_html` on first use and kept.
    pub fn row_groups(&self, finished_html: impl Fn(&[JobView]) -> String) -> &[RowGroup] {
        self.row_groups.get_or_init(|| {
            let mut groups = Vec::new();
            let mut start = 0;
            for (index, job) in self.jobs.iter().enumerate() {
                if !job.status.is_finished() {
                    if start < index {
                        groups.push(RowGroup::Finished(finished_html(&self.jobs[start..index]).into()));
                    }
                    groups.push(RowGroup::Live(index));
                    start = index + 1;
                }
            }
            if start < self.jobs.len() {
                groups.push(RowGroup::Finished(finished_html(&self.jobs[start..]).into()));
            }
            groups
        })
    }
}

impl PartialEq for JobList {
    fn eq(&self, other: &Self) -> bool {
        self.jobs == other.jobs
    }
}

impl Serialize for JobList {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.jobs.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for JobList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::deserialize(deserializer).map(JobList::new)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogLineView {
    pub at: i64,
    pub level: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobDetail {
    pub job: JobView,
    pub log: Vec<LogLineView>,
}

/// Pushed to browsers over Server-Sent Events while jobs move.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobEvent {
    pub job_id: i64,
    pub status: JobStatus,
    pub progress: f64,
    pub rows_in: Option<i64>,
    pub rows_out: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetView {
    pub name: String,
    pub kind: String,
    pub description: String,
    pub recipe: Option<String>,
    pub row_count: i64,
    pub built_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebappLink {
    pub slug: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectSummary {
    pub key: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectView {
    pub key: String,
    pub name: String,
    pub can_build: bool,
    pub datasets: Vec<DatasetView>,
    pub webapps: Vec<WebappLink>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetPreview {
    pub name: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// The rows the viewer may see, of every row the dataset has.
    pub total_rows: i64,
    /// Why some rows are not shown, when the viewer sees only some.
    pub note: Option<String>,
    /// Columns whose values the viewer sees masked.
    pub masked: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebappView {
    pub project_key: String,
    pub slug: String,
    pub name: String,
    pub run_as: UserView,
    pub browser_user: UserView,
    pub can_edit_settings: bool,
    /// The dataset the demo buttons build.
    pub dataset: String,
    /// A code webapp (its own frontend and backend); none for the built-in one.
    pub code: Option<CodeWebappView>,
}

/// What a code webapp's page shows of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CodeWebappView {
    /// Where its own frontend is served.
    pub url: String,
    /// The scopes its backend may use on behalf of its users.
    pub scopes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebappSettingsView {
    pub webapp: WebappView,
    /// Accounts of the tenant the backend may run as.
    pub candidates: Vec<UserView>,
    /// A code webapp's backend as this server runs it (none before it has started here).
    pub backend: Option<BackendView>,
}

/// The scopes a code webapp's backend may be given, with what each allows.
pub const WEBAPP_SCOPES: [(&str, &str); 2] = [
    ("datasets:read", "list datasets, read their rows and follow jobs as the user"),
    ("datasets:build", "build datasets as the user"),
];

/// A code webapp's backend as this server runs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackendView {
    /// `Starting`, `Running`, `Restarting` or `Stopped`.
    pub status: String,
    pub pid: Option<u32>,
    /// Running since (ms).
    pub since: Option<i64>,
    pub restarts: u32,
    pub last_exit: Option<String>,
    /// Its last lines of output, oldest first, secrets hidden.
    pub log: Vec<BackendLogLine>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackendLogLine {
    pub at: i64,
    /// `stdout`, `stderr`, or `guise` for what Guise noted (exits, restarts).
    pub stream: String,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildStarted {
    pub job_id: i64,
    pub dataset: String,
    pub run_as: UserView,
}

/// Formats Unix milliseconds as `YYYY-MM-DD HH:MM:SS` UTC, identically on both sides.
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Minutes and seconds left, for the impersonation countdown: `59:07`, `0:05`.
pub fn format_countdown(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// Formats a duration in milliseconds the way people read it: `850 ms`, `4.2 s`, `3 min 05 s`.
pub fn format_duration(ms: i64) -> String {
    match ms {
        ms if ms < 1000 => format!("{ms} ms"),
        ms if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        ms => format!("{} min {:02} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// Days since 1970-01-01 to a (year, month, day) in the proleptic Gregorian calendar.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month, day) to days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A job for tests: done by "A" in the UI, with no times, counts or error.
#[cfg(test)]
pub fn sample_job(id: i64, status: JobStatus) -> JobView {
    let person = UserView { id: 1, email: "a@tshirts.example".into(), display_name: "A".into() };
    JobView {
        id,
        project_key: "TSHIRTS".into(),
        dataset: "orders".into(),
        status,
        run_as: person.clone(),
        triggered_by: person,
        impersonated_by: None,
        via: Via::Ui,
        created_at: 0,
        started_at: None,
        finished_at: None,
        progress: 0.0,
        rows_in: None,
        rows_out: None,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_runs_are_rendered_together_once_and_live_jobs_alone() {
        use JobStatus::*;
        let list = JobList::new([Running, Succeeded, Refused, Queued, Failed].iter().zip(1..).map(|(s, id)| sample_job(id, *s)).collect());
        let renders = std::cell::Cell::new(0);
        let ids = |jobs: &[JobView]| {
            renders.set(renders.get() + 1);
            jobs.iter().map(|j| j.id.to_string()).collect::<Vec<_>>().join(",")
        };
        let expected = [RowGroup::Live(0), RowGroup::Finished("2,3".into()), RowGroup::Live(3), RowGroup::Finished("5".into())];
        assert_eq!(list.row_groups(ids), expected);
        assert_eq!(list.row_groups(ids), expected);
        assert_eq!(renders.get(), 2, "made once per list");
        assert_eq!(JobList::new(vec![]).row_groups(ids), []);
    }

    #[test]
    fn formats_times_and_durations() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(1_790_000_000_000), "2026-09-21 14:13:20");
        assert_eq!(format_duration(850), "850 ms");
        assert_eq!(format_duration(4_250), "4.2 s");
        assert_eq!(format_duration(185_000), "3 min 05 s");
        assert_eq!(format_countdown(3_547_000), "59:07");
        assert_eq!(format_countdown(-5), "0:00");
    }

    #[test]
    fn civil_days_round_trip() {
        for days in [-1000, 0, 59, 60, 11_016, 20_000, 20_757] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn job_status_words_round_trip() {
        for status in JobStatus::ALL {
            assert_eq!(JobStatus::from_db(status.as_db()), Some(status));
            assert_eq!(status.badge_class(), format!("status status-{}", status.as_db()));
        }
        assert_eq!(JobStatus::from_db("nonsense"), None);
    }
}

/// An API client as Administration → API clients lists it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiClientView {
    pub client_id: String,
    pub name: String,
    pub owner: UserView,
    /// Whether the viewer owns it (only the owner may rotate its secret).
    pub yours: bool,
    /// `strict` or `compatible`.
    pub subject_policy: String,
    pub secret_version: i64,
    pub created_at: i64,
    pub rotated_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A client secret, shown once: when the client is created and when it is rotated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSecret {
    pub client_id: String,
    pub name: String,
    pub secret: String,
}

/// The price list a shopper buys from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PriceGroup {
    Retail,
    Wholesale,
    Staff,
}

impl PriceGroup {
    pub const ALL: [PriceGroup; 3] = [PriceGroup::Retail, PriceGroup::Wholesale, PriceGroup::Staff];

    /// The word stored in the database and shown on screen.
    pub fn as_db(self) -> &'static str {
        match self {
            PriceGroup::Retail => "Retail",
            PriceGroup::Wholesale => "Wholesale",
            PriceGroup::Staff => "Staff",
        }
    }

    pub fn from_db(word: &str) -> Option<PriceGroup> {
        PriceGroup::ALL.into_iter().find(|group| group.as_db() == word)
    }
}

/// The regions a user may belong to (rows of restricted datasets carry these and others).
pub const REGIONS: [&str; 2] = ["EU", "US"];

/// An amount of money in euro cents, as shown: `€13.30`.
pub fn format_money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}€{}.{:02}", cents / 100, cents % 100)
}

/// A product of the shop, priced for the shopper.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProductView {
    pub id: i64,
    pub slug: String,
    pub name: String,
    /// In the shopper's price group.
    pub unit_price_cents: i64,
    pub stock: i64,
}

/// Who an order is for and who places it, and at whose prices, as the mode decides.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShopperView {
    pub customer: UserView,
    pub placed_by: UserView,
    pub price_group: PriceGroup,
    /// The person whose price group it is.
    pub priced_for: UserView,
    /// Why the customer cannot order, if they cannot (not a customer of the shop).
    pub cannot_order: Option<String>,
}

/// The shop page: the catalogue and how many items are in the cart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShopView {
    pub shopper: ShopperView,
    pub products: Vec<ProductView>,
    pub items_in_cart: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CartLineView {
    pub product_id: i64,
    pub name: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
    pub amount_cents: i64,
}

/// The cart, priced on the server at the shopper's prices of the moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CartView {
    pub shopper: ShopperView,
    pub lines: Vec<CartLineView>,
    pub total_cents: i64,
}

/// One order, with both people behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderView {
    pub id: i64,
    pub order_no: i64,
    pub customer: UserView,
    pub placed_by: UserView,
    /// The real person, when the order was placed while impersonating (shown to admins).
    pub impersonated_by: Option<UserView>,
    pub mode: Option<ImpersonationMode>,
    pub price_group: PriceGroup,
    pub total_cents: i64,
    pub items: i64,
    pub created_at: i64,
}

/// A comment of a dataset's discussion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommentView {
    pub id: i64,
    pub author: UserView,
    pub body: String,
    pub created_at: i64,
    /// For admins, the other person behind a comment written while impersonating.
    pub other_person: Option<String>,
}

/// A dataset's page: its preview and its discussion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetPageView {
    pub project_key: String,
    pub preview: DatasetPreview,
    pub comments: Vec<CommentView>,
    /// For admins: the people they may view the dataset as.
    pub view_as_candidates: Vec<UserView>,
    /// The dataset as another person sees it, when asked.
    pub view_as: Option<ViewAsView>,
}

/// A dataset as another person sees it (View as), beside the viewer's own preview.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ViewAsView {
    pub user: UserView,
    pub preview: DatasetPreview,
    /// Rows of the dataset that person does not see.
    pub hidden_rows: i64,
}
