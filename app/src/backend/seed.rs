//! The demo organisation, written on first start into an empty database. Deterministic: the
//! same rows every time, from a fixed-seed generator.

use super::api_clients::{new_credentials, Credentials};
use super::auth::hash_password;
use super::domain::AccountType;
use super::secrets::ServerKey;
use super::jobs::recipes::{geo, orders_by_country, user_agent, web_history, Recipe};
use super::store::{self, api_clients::NewApiClient, datasets::NewDataset, grants::{NewGrant, Party}, projects::Grantee, users::NewUser, Conn, Database, SqlResult, Writer};
use super::tokens::SubjectPolicy;
use crate::model::{civil_from_days, days_from_civil, ImpersonationMode, PriceGroup};
use serde_json::{json, Value};

pub const DEMO_PASSWORD: &str = "guise-demo";
pub const DEMO_PROJECT: &str = "TSHIRTS";
pub const DEMO_WEBAPP: &str = "impersonation-demo";
pub const WEB_HISTORY_ROWS: usize = 52_000;
pub const CUSTOMER_ROWS: usize = 2_000;
/// Demo users who are customers of the shop, with their row in the `customers` dataset:
/// (email, customer_id, country, region).
pub const SHOP_CUSTOMERS: &[(&str, i64, &str, &str)] =
    &[("carol@tshirts.example", 2_001, "FR", "EU"), ("dave@tshirts.example", 2_002, "US", "US")];
/// Rows of the `customers` dataset: the generated ones and the shop's demo customers.
pub const CUSTOMER_DATASET_ROWS: usize = CUSTOMER_ROWS + SHOP_CUSTOMERS.len();
/// Items of each product in stock, but for the last Long Sleeve Tees (`LOW_STOCK`).
pub const STOCK: i64 = 500;
pub const LOW_STOCK: (&str, i64) = ("long-sleeve-tee", 3);
pub const ORDER_ROWS: usize = 20_000;
/// The demo API client (owner Alice, `compatible` subject tokens), as PRODUCT.md names it.
pub const DEMO_CLIENT_ID: &str = "tshirts-api-demo";
pub const DEMO_CLIENT_SECRET: &str = "guise-demo-client-secret";

pub struct DemoUser {
    pub email: &'static str,
    pub name: &'static str,
    pub role: &'static str,
    pub admin: bool,
    pub service: bool,
    pub price_group: Option<&'static str>,
    pub region: Option<&'static str>,
}

const fn person(email: &'static str, name: &'static str, role: &'static str, admin: bool) -> DemoUser {
    DemoUser { email, name, role, admin, service: false, price_group: None, region: None }
}

pub const TSHIRTS_USERS: &[DemoUser] = &[
    person("alice@tshirts.example", "Alice Admin", "Admin", true),
    person("bob@tshirts.example", "Bob Admin", "Admin", true),
    DemoUser { price_group: Some("Staff"), ..person("sam@tshirts.example", "Sam Sales", "member, sales rep, Staff", false) },
    person("u1@tshirts.example", "U1 Analyst", "member, may build TSHIRTS", false),
    person("u2@tshirts.example", "U2 Analyst", "member, read-only on TSHIRTS", false),
    DemoUser {
        price_group: Some("Retail"),
        region: Some("EU"),
        ..person("carol@tshirts.example", "Carol Customer", "member, Retail, EU", false)
    },
    DemoUser {
        price_group: Some("Wholesale"),
        region: Some("US"),
        ..person("dave@tshirts.example", "Dave Customer", "member, Wholesale, US", false)
    },
    DemoUser {
        service: true,
        ..person("webapp-backend@tshirts.example", "A1 Webapp Backend", "service account (no login)", false)
    },
];

pub const OTHER_USERS: &[DemoUser] = &[person("eve@other.example", "Eve Other", "Admin of Other Co.", true)];

/// A small deterministic generator (SplitMix64): the same seed, the same demo data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn iso_utc(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, (s % 3600) / 60, s % 60)
}

const PATHS: &[&str] = &[
    "/", "/shop", "/shop/classic-tee", "/shop/v-neck-tee", "/shop/organic-tee", "/shop/graphic-tee",
    "/shop/long-sleeve-tee", "/cart", "/checkout", "/about", "/blog/summer-collection",
];
const REFERRERS: &[&str] = &[
    "", "", "", "https://www.google.com/search?q=organic+tshirts", "https://www.bing.com/search?q=tshirts",
    "https://news.example/best-tees-2026", "https://social.example/p/123", "https://www.tshirts.example/",
];

/// October 2026 web traffic: about 6% bots, about 3% exact duplicate hits.
pub fn web_history_rows(count: usize) -> Vec<Vec<Value>> {
    let mut rng = Rng::new(0x5EED_0001);
    let start = days_from_civil(2026, 10, 1) * 86_400;
    let mut rows: Vec<Vec<Value>> = Vec::with_capacity(count);
    while rows.len() < count {
        if let Some(previous) = rows.last().filter(|_| rng.chance(3)) {
            rows.push(previous.clone());
            continue;
        }
        let ts = iso_utc(start + rng.below(31 * 86_400) as i64);
        let ip = if rng.chance(92) {
            let &(first, last, _) = rng.pick(geo::RANGES);
            first + rng.below(u64::from(last - first) + 1) as u32
        } else {
            u32::from_be_bytes([1, rng.below(256) as u8, rng.below(256) as u8, rng.below(256) as u8])
        };
        let ua = if rng.chance(6) {
            *rng.pick(&user_agent::SAMPLES[11..])
        } else {
            *rng.pick(&user_agent::SAMPLES[..11])
        };
        rows.push(vec![
            json!(ts),
            json!(std::net::Ipv4Addr::from(ip).to_string()),
            json!(ua),
            json!(rng.pick(PATHS)),
            json!(rng.pick(REFERRERS)),
            json!(format!("v{:05}", rng.below(6_000))),
        ]);
    }
    rows
}

const FIRST_NAMES: &[&str] = &["Ana", "Ben", "Chloé", "Dev", "Emma", "Felix", "Giulia", "Hiro", "Ines", "Jonas", "Kofi", "Lea", "Mateo", "Nora", "Omar", "Priya"];
const LAST_NAMES: &[&str] = &["Martin", "Müller", "Smith", "García", "Rossi", "de Vries", "Johnson", "Tremblay", "Silva", "Sato", "Brown", "Patel", "Naidoo"];
pub const PRODUCTS: &[(&str, f64)] = &[
    ("Classic Tee", 19.0), ("V-Neck Tee", 21.0), ("Organic Tee", 25.0), ("Graphic Tee", 23.0), ("Long Sleeve Tee", 27.0),
];

pub fn customer_rows(count: usize) -> Vec<Vec<Value>> {
    let mut rng = Rng::new(0x5EED_0002);
    (1..=count)
        .map(|id| {
            let (country, region) = *rng.pick(geo::COUNTRY_REGIONS);
            let name = format!("{} {}", rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES));
            let group = if rng.chance(20) { "Wholesale" } else { "Retail" };
            let email = format!("customer{id}@customers.example");
            vec![json!(id), json!(name), json!(country), json!(region), json!(group), json!(email)]
        })
        .collect()
}

pub fn order_rows(count: usize, customers: usize) -> Vec<Vec<Value>> {
    let mut rng = Rng::new(0x5EED_0003);
    let start = days_from_civil(2026, 1, 1);
    (1..=count)
        .map(|id| {
            let (y, m, d) = civil_from_days(start + rng.below(300) as i64);
            let (product, price) = *rng.pick(PRODUCTS);
            let quantity = 1 + rng.below(5) as i64;
            vec![
                json!(id),
                json!(format!("{y:04}-{m:02}-{d:02}")),
                json!(1 + rng.below(customers as u64) as i64),
                json!(product),
                json!(quantity),
                json!(price),
                json!(price * quantity as f64),
            ]
        })
        .collect()
}

/// Seeds the demo organisation when the database is empty. Returns whether it did.
pub async fn seed_demo(db: &Database, server_key: &ServerKey) -> Result<bool, String> {
    let fail = |e: sqlx::Error| format!("cannot seed the demo: {e}");
    if !store::is_empty(&db.read).await.map_err(fail)? {
        return Ok(false);
    }
    seed_demo_on(&db.writer, server_key).await
}

/// Seeds the demo organisation through `writer`, unless a tenant exists. Returns whether it did.
pub async fn seed_demo_on(writer: &Writer, server_key: &ServerKey) -> Result<bool, String> {
    let fail = |e: sqlx::Error| format!("cannot seed the demo: {e}");
    let mut hashes = Vec::new();
    for _ in TSHIRTS_USERS.iter().chain(OTHER_USERS) {
        hashes.push(hash_password(DEMO_PASSWORD.to_string()).await.map_err(|e| e.to_string())?);
    }
    let credentials = new_credentials(server_key, DEMO_CLIENT_NAME, Some(DEMO_CLIENT_ID), Some(DEMO_CLIENT_SECRET));
    writer
        .run(move |tx| {
            // Checked again in the unit of work: another process may have seeded meanwhile.
            if store::tenants::any_in(tx)? {
                return Ok(false);
            }
            write_demo(tx, &hashes, credentials)?;
            Ok(true)
        })
        .await
        .map_err(fail)
}

const DEMO_CLIENT_NAME: &str = "TShirts API demo";

/// Writes the whole demo organisation inside one unit of work.
fn write_demo(tx: &Conn, hashes: &[String], client: Credentials) -> SqlResult<()> {
    let web_history = web_history_rows(WEB_HISTORY_ROWS);
    let mut customers = customer_rows(CUSTOMER_ROWS);
    for &(email, customer_id, country, region) in SHOP_CUSTOMERS {
        let user = TSHIRTS_USERS.iter().find(|u| u.email == email).expect("a demo user");
        let row = [json!(customer_id), json!(user.name), json!(country), json!(region), json!(user.price_group), json!(email)];
        customers.push(row.to_vec());
    }
    let orders = order_rows(ORDER_ROWS, CUSTOMER_ROWS);
    let now = store::now_ms();
    let tshirts = store::tenants::insert(tx, "TShirts Co.")?;
    let other = store::tenants::insert(tx, "Other Co.")?;
    let mut ids = std::collections::HashMap::new();
    let everyone = TSHIRTS_USERS.iter().map(|u| (tshirts, u)).chain(OTHER_USERS.iter().map(|u| (other, u)));
    for ((tenant_id, u), hash) in everyone.zip(hashes) {
        let new = NewUser {
            tenant_id,
            email: u.email,
            display_name: u.name,
            password_hash: (!u.service).then_some(hash.as_str()),
            is_admin: u.admin,
            account_type: if u.service { AccountType::Service } else { AccountType::User },
            price_group: u.price_group,
            region: u.region,
        };
        ids.insert(u.email, store::users::insert(tx, &new)?);
    }
    let id = |email: &str| ids[email];

    let mut groups = std::collections::HashMap::new();
    for (name, members) in [
        ("Analysts", &["u1@tshirts.example", "u2@tshirts.example"][..]),
        ("Sales", &["sam@tshirts.example"][..]),
        ("Customers", &["carol@tshirts.example", "dave@tshirts.example"][..]),
    ] {
        let group = store::groups::insert(tx, tshirts, name)?;
        for m in members {
            store::groups::add_member(tx, group, id(m))?;
        }
        groups.insert(name, group);
    }

    // Sam (sales) may act on behalf of the customers, to place orders for them.
    let sam_for_customers = NewGrant {
        tenant_id: tshirts,
        actor: Party::User(id("sam@tshirts.example")),
        subject: Party::Group(groups["Customers"]),
        mode: ImpersonationMode::OnBehalfOf,
        created_by: id("alice@tshirts.example"),
    };
    store::grants::insert(tx, &sam_for_customers, now)?;

    let project = store::projects::insert(tx, tshirts, DEMO_PROJECT, "TShirts Co. analytics")?;
    store::projects::grant(tx, project, Grantee::Group(groups["Analysts"]), false)?;
    store::projects::grant(tx, project, Grantee::Group(groups["Sales"]), false)?;
    store::projects::grant(tx, project, Grantee::Group(groups["Customers"]), false)?;
    store::projects::grant(tx, project, Grantee::User(id("u1@tshirts.example")), true)?;
    store::projects::grant(tx, project, Grantee::User(id("webapp-backend@tshirts.example")), true)?;

    let raw = [
        ("web_history", "Raw web traffic of the shop, October 2026", web_history::RAW_COLUMNS, &web_history),
        ("customers", "Customers with country, region and price group", orders_by_country::CUSTOMER_COLUMNS, &customers),
        ("orders", "Orders placed in the shop", orders_by_country::ORDER_COLUMNS, &orders),
    ];
    let mut raw_ids = std::collections::HashMap::new();
    for (name, description, columns, rows) in raw {
        let ds = NewDataset { project_id: project, name, recipe: None, description, columns };
        let ds_id = store::datasets::insert(tx, &ds)?;
        store::datasets::append_rows_on(tx, ds_id, 0, 0, rows)?;
        store::datasets::set_row_count(tx, ds_id, rows.len() as i64, now)?;
        raw_ids.insert(name, ds_id);
    }
    write_shop(tx, tshirts, raw_ids["orders"], &id)?;
    let derived = [
        ("web_history_prepared", "web_history with date, hour, browser, OS, device and country; bots and duplicates removed", Recipe::PrepareWebHistory),
        ("orders_by_country", "Orders, units and revenue per customer country", Recipe::OrdersByCountry),
    ];
    for (name, description, recipe) in derived {
        let ds = NewDataset { project_id: project, name, recipe: Some(recipe.name()), description, columns: recipe.output_columns() };
        store::datasets::insert(tx, &ds)?;
    }
    store::webapps::insert(tx, project, DEMO_WEBAPP, "Impersonation Demo", id("webapp-backend@tshirts.example"))?;

    let other_project = store::projects::insert(tx, other, "OTHER", "Other Co. analytics")?;
    let ds = NewDataset {
        project_id: other_project,
        name: "customers",
        recipe: None,
        description: "Other Co. customers",
        columns: orders_by_country::CUSTOMER_COLUMNS,
    };
    let other_customers = customer_rows(50);
    let ds_id = store::datasets::insert(tx, &ds)?;
    store::datasets::append_rows_on(tx, ds_id, 0, 0, &other_customers)?;
    store::datasets::set_row_count(tx, ds_id, other_customers.len() as i64, now)?;

    let alice = id("alice@tshirts.example");
    let new = NewApiClient {
        tenant_id: tshirts,
        client_id: client.client_id,
        name: DEMO_CLIENT_NAME.to_string(),
        owner_user_id: alice,
        subject_policy: SubjectPolicy::Compatible,
        secret_sealed: client.sealed,
        created_by_user_id: alice,
        webapp_id: None,
    };
    store::api_clients::insert_in(tx, &new)?;
    Ok(())
}

/// The TShirts shop: its products at three prices each (Retail, Wholesale 80 %, Staff 70 %),
/// its demo customers, and its orders numbered after the seeded ones.
fn write_shop(tx: &Conn, tenant_id: i64, orders_dataset_id: i64, user_id: &dyn Fn(&str) -> i64) -> SqlResult<()> {
    store::shop::open_in(tx, tenant_id, orders_dataset_id, ORDER_ROWS as i64 + 1)?;
    for &(name, euros) in PRODUCTS {
        let retail = (euros * 100.0).round() as i64;
        let prices = [(PriceGroup::Retail, retail), (PriceGroup::Wholesale, retail * 80 / 100), (PriceGroup::Staff, retail * 70 / 100)];
        let slug = product_slug(name);
        let stock = if slug == LOW_STOCK.0 { LOW_STOCK.1 } else { STOCK };
        store::shop::add_product_in(tx, tenant_id, &slug, name, stock, &prices)?;
    }
    for &(email, customer_id, _, _) in SHOP_CUSTOMERS {
        store::shop::add_customer_in(tx, user_id(email), customer_id)?;
    }
    Ok(())
}

/// `Long Sleeve Tee` → `long-sleeve-tee`, as the shop's addresses name products.
pub fn product_slug(name: &str) -> String {
    name.to_ascii_lowercase().replace(' ', "-")
}

/// The lines printed at start-up so people can log in.
pub fn demo_logins() -> Vec<String> {
    TSHIRTS_USERS
        .iter()
        .chain(OTHER_USERS)
        .map(|u| format!("  {:<32} {:<20} {}", u.email, u.name, u.role))
        .chain([format!(
            "API client (owner Alice, compatible subject tokens): client_id {DEMO_CLIENT_ID}, client_secret {DEMO_CLIENT_SECRET}"
        )])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_data_is_deterministic() {
        assert_eq!(web_history_rows(500), web_history_rows(500));
        assert_eq!(order_rows(100, 10), order_rows(100, 10));
        let rows = web_history_rows(5_000);
        let bots = rows.iter().filter(|r| user_agent::is_bot(r[2].as_str().unwrap())).count();
        assert!(bots > 100 && bots < 600, "{bots} bots");
        assert!(rows.windows(2).any(|w| w[0] == w[1]), "some duplicates");
        for r in &rows {
            web_history::Hit::parse(r).unwrap();
        }
    }
}
