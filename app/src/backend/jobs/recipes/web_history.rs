//! web_history → web_history_prepared: date and hour, browser / OS / device from the user
//! agent, country from the IP, bots dropped, duplicate hits removed.

use super::super::build::{Build, Row};
use super::{geo, user_agent};
use crate::backend::store::job_log::Level;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::net::Ipv4Addr;

pub const RAW_COLUMNS: &[&str] = &["timestamp", "ip", "user_agent", "url", "referrer", "visitor_id"];
pub const PREPARED_COLUMNS: &[&str] =
    &["date", "hour", "visitor_id", "url", "referrer_host", "browser", "os", "device", "country"];

/// One raw hit, checked.
#[derive(Debug, PartialEq)]
pub struct Hit<'a> {
    pub date: &'a str,
    pub hour: u32,
    pub timestamp: &'a str,
    pub ip: Ipv4Addr,
    pub user_agent: &'a str,
    pub url: &'a str,
    pub referrer: &'a str,
    pub visitor_id: &'a str,
}

fn text(row: &Row, i: usize) -> Result<&str, String> {
    row.get(i)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("column {} is missing or not text", RAW_COLUMNS[i]))
}

/// Checks `YYYY-MM-DDTHH:MM:SSZ` and returns (date, hour).
pub fn parse_timestamp(ts: &str) -> Result<(&str, u32), String> {
    let bad = || format!("timestamp {ts:?} is not of the form YYYY-MM-DDTHH:MM:SSZ");
    let b = ts.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z' {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| ts[range].parse::<u32>().map_err(|_| bad());
    let (month, day, hour, minute, second) = (num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    num(0..4)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return Err(bad());
    }
    Ok((&ts[0..10], hour))
}

impl<'a> Hit<'a> {
    pub fn parse(row: &'a Row) -> Result<Hit<'a>, String> {
        let timestamp = text(row, 0)?;
        let (date, hour) = parse_timestamp(timestamp)?;
        let ip_text = text(row, 1)?;
        let ip = ip_text.parse().map_err(|_| format!("ip {ip_text:?} is not an IPv4 address"))?;
        Ok(Hit {
            date,
            hour,
            timestamp,
            ip,
            user_agent: text(row, 2)?,
            url: text(row, 3)?,
            referrer: text(row, 4)?,
            visitor_id: text(row, 5)?,
        })
    }

    pub fn prepared(&self) -> Row {
        vec![
            json!(self.date),
            json!(self.hour),
            json!(self.visitor_id),
            json!(self.url),
            json!(referrer_host(self.referrer)),
            json!(user_agent::browser(self.user_agent)),
            json!(user_agent::os(self.user_agent)),
            json!(user_agent::device(self.user_agent)),
            json!(geo::country_of(self.ip)),
        ]
    }
}

/// `https://www.example.com/path?q` → `www.example.com`; empty for direct visits.
pub fn referrer_host(referrer: &str) -> &str {
    let rest = referrer.split_once("://").map(|(_, r)| r).unwrap_or(referrer);
    rest.split(['/', '?', '#']).next().unwrap_or("")
}

/// The hits a build has kept, by a 128-bit hash of what makes two hits the same.
#[derive(Default)]
struct SeenHits {
    keys: (RandomState, RandomState),
    seen: HashSet<(u64, u64)>,
}

impl SeenHits {
    /// Whether `hit` is new (and remembers it).
    fn insert(&mut self, hit: &Hit<'_>) -> bool {
        let same = (hit.visitor_id, hit.timestamp, hit.url);
        self.seen.insert((self.keys.0.hash_one(same), self.keys.1.hash_one(same)))
    }
}

pub async fn prepare(build: &mut Build<'_>) -> Result<(), String> {
    let mut input = build.open_input("web_history").await?;
    let total = input.row_count().max(1) as f64;
    build.progress(0.05).await;
    // Hits already kept, by (visitor, time, url): what a duplicate repeats. Each is kept as a
    // 128-bit keyed hash of the three (16 bytes, where the strings took about 170): two
    // different hits share one with a chance of about n² / 2¹²⁹, 10⁻³⁰ for this dataset.
    let mut seen = SeenHits::default();
    let (mut bots, mut duplicates, mut row_no) = (0usize, 0usize, 0usize);
    while let Some(page) = build.next_page(&mut input).await? {
        let mut out = Vec::with_capacity(page.len());
        for row in &page {
            row_no += 1;
            let hit = Hit::parse(row).map_err(|e| format!("web_history row {row_no}: {e}"))?;
            if user_agent::is_bot(hit.user_agent) {
                bots += 1;
            } else if !seen.insert(&hit) {
                duplicates += 1;
            } else {
                out.push(hit.prepared());
            }
        }
        build.write(&out).await?;
        build.progress(0.05 + 0.9 * (row_no as f64 / total).min(1.0)).await;
        tokio::task::yield_now().await;
    }
    build.finish_input(&input).await?;
    build
        .log(Level::Info, &format!("Dropped {bots} bot hits and {duplicates} duplicate hits"))
        .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ts: &str, ip: &str, ua: &str) -> Row {
        vec![json!(ts), json!(ip), json!(ua), json!("/shop"), json!("https://www.google.com/search?q=t"), json!("v1")]
    }

    #[test]
    fn a_hit_is_a_duplicate_only_when_visitor_time_and_url_all_repeat() {
        let ua = user_agent::SAMPLES[0];
        let first = row("2026-10-03T14:05:09Z", "2.1.2.3", ua);
        let mut seen = SeenHits::default();
        assert!(seen.insert(&Hit::parse(&first).unwrap()));
        // Another address or browser does not make it another hit.
        assert!(!seen.insert(&Hit::parse(&row("2026-10-03T14:05:09Z", "9.9.9.9", user_agent::SAMPLES[1])).unwrap()));
        assert!(seen.insert(&Hit::parse(&row("2026-10-03T14:05:10Z", "2.1.2.3", ua)).unwrap()));
        let mut other_url = first.clone();
        other_url[3] = json!("/cart");
        assert!(seen.insert(&Hit::parse(&other_url).unwrap()));
        let mut other_visitor = first.clone();
        other_visitor[5] = json!("v2");
        assert!(seen.insert(&Hit::parse(&other_visitor).unwrap()));
        assert!(!seen.insert(&Hit::parse(&other_visitor).unwrap()));
    }

    #[test]
    fn prepares_a_hit() {
        let r = row("2026-10-03T14:05:09Z", "2.1.2.3", user_agent::SAMPLES[0]);
        let hit = Hit::parse(&r).unwrap();
        assert_eq!(
            hit.prepared(),
            vec![
                json!("2026-10-03"),
                json!(14),
                json!("v1"),
                json!("/shop"),
                json!("www.google.com"),
                json!("Chrome"),
                json!("Windows"),
                json!("desktop"),
                json!("FR")
            ]
        );
    }

    #[test]
    fn rejects_malformed_rows() {
        assert!(Hit::parse(&row("2026-10-03 14:05:09", "2.1.2.3", "x")).is_err());
        assert!(Hit::parse(&row("2026-13-03T14:05:09Z", "2.1.2.3", "x")).is_err());
        assert!(Hit::parse(&row("2026-10-03T24:05:09Z", "2.1.2.3", "x")).is_err());
        assert!(Hit::parse(&row("2026-10-03T14:05:09Z", "2.1.2", "x")).is_err());
        assert!(Hit::parse(&vec![json!("2026-10-03T14:05:09Z")]).is_err());
        assert!(Hit::parse(&vec![json!(5), json!("1.1.1.1")]).is_err());
    }

    #[test]
    fn referrer_hosts() {
        assert_eq!(referrer_host(""), "");
        assert_eq!(referrer_host("https://news.example/a/b?c"), "news.example");
        assert_eq!(referrer_host("http://x.example#frag"), "x.example");
    }
}
