//! orders + customers → orders_by_country: orders, units and revenue per customer country.

use super::super::build::{Build, Row};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

pub const CUSTOMER_COLUMNS: &[&str] = &["customer_id", "name", "country", "region", "price_group", "email"];
pub const ORDER_COLUMNS: &[&str] =
    &["order_id", "date", "customer_id", "product", "quantity", "unit_price", "amount"];
pub const COLUMNS: &[&str] = &["country", "orders", "units", "revenue"];

#[derive(Default, Debug, PartialEq)]
pub struct Totals {
    pub orders: i64,
    pub units: i64,
    pub revenue_cents: i64,
}

fn field<'a>(row: &'a Row, i: usize, columns: &[&str]) -> Result<&'a Value, String> {
    row.get(i).ok_or_else(|| format!("column {} is missing", columns[i]))
}

/// Sums orders per country of their customer. Pure, so it is tested without a database.
pub fn totals_by_country(customers: &[Row], orders: &[Row]) -> Result<BTreeMap<String, Totals>, String> {
    let mut country_of = HashMap::with_capacity(customers.len());
    for (i, c) in customers.iter().enumerate() {
        let id = field(c, 0, CUSTOMER_COLUMNS)?.as_i64().ok_or(format!("customers row {}: bad customer_id", i + 1))?;
        let country = field(c, 2, CUSTOMER_COLUMNS)?.as_str().ok_or(format!("customers row {}: bad country", i + 1))?;
        country_of.insert(id, country.to_string());
    }
    let mut totals: BTreeMap<String, Totals> = BTreeMap::new();
    for (i, o) in orders.iter().enumerate() {
        let bad = |what: &str| format!("orders row {}: bad {what}", i + 1);
        let customer = field(o, 2, ORDER_COLUMNS)?.as_i64().ok_or_else(|| bad("customer_id"))?;
        let quantity = field(o, 4, ORDER_COLUMNS)?.as_i64().ok_or_else(|| bad("quantity"))?;
        let amount = field(o, 6, ORDER_COLUMNS)?.as_f64().ok_or_else(|| bad("amount"))?;
        let country = country_of.get(&customer).cloned().unwrap_or_else(|| "unknown".to_string());
        let t = totals.entry(country).or_default();
        t.orders += 1;
        t.units += quantity;
        t.revenue_cents += (amount * 100.0).round() as i64;
    }
    Ok(totals)
}

pub async fn aggregate(build: &mut Build<'_>) -> Result<(), String> {
    let customers = build.read_input("customers").await?;
    build.progress(0.2).await;
    let orders = build.read_input("orders").await?;
    build.progress(0.5).await;
    let totals = totals_by_country(&customers, &orders)?;
    let mut rows: Vec<(String, Totals)> = totals.into_iter().collect();
    rows.sort_by(|a, b| b.1.revenue_cents.cmp(&a.1.revenue_cents).then(a.0.cmp(&b.0)));
    let out: Vec<Row> = rows
        .into_iter()
        .map(|(country, t)| vec![json!(country), json!(t.orders), json!(t.units), json!(t.revenue_cents as f64 / 100.0)])
        .collect();
    build.progress(0.8).await;
    build.write(&out).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_per_country() {
        let customers = vec![
            vec![json!(1), json!("A"), json!("FR"), json!("EU"), json!("Retail")],
            vec![json!(2), json!("B"), json!("US"), json!("US"), json!("Wholesale")],
        ];
        let orders = vec![
            vec![json!(10), json!("2026-10-01"), json!(1), json!("tee"), json!(2), json!(10.0), json!(20.0)],
            vec![json!(11), json!("2026-10-01"), json!(1), json!("tee"), json!(1), json!(10.5), json!(10.5)],
            vec![json!(12), json!("2026-10-02"), json!(2), json!("tee"), json!(3), json!(8.0), json!(24.0)],
            vec![json!(13), json!("2026-10-02"), json!(9), json!("tee"), json!(1), json!(8.0), json!(8.0)],
        ];
        let t = totals_by_country(&customers, &orders).unwrap();
        assert_eq!(t["FR"], Totals { orders: 2, units: 3, revenue_cents: 3050 });
        assert_eq!(t["US"], Totals { orders: 1, units: 3, revenue_cents: 2400 });
        assert_eq!(t["unknown"].orders, 1);
        let broken = vec![vec![json!(10), json!("d"), json!("x")]];
        assert!(totals_by_country(&customers, &broken).is_err());
    }
}
