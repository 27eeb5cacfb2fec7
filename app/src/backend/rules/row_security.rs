//! Row- and column-level security of dataset reads: which rows of `customers`, `orders`,
//! `web_history_prepared` (and the totals derived from orders) a viewer sees (their region's; admins every row), and which columns
//! are masked (`customers.email`, but for admins and the Sales group). Pure: callers load the
//! viewer's attributes and the rows; these functions decide, failing closed.

use crate::backend::domain::User;
use serde_json::Value;
use std::collections::HashMap;

/// What a masked cell shows.
pub const MASK: &str = "••••••";

/// The facts about a viewer that decide what they see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Viewer {
    pub is_admin: bool,
    /// `EU` or `US`; none when the account has no region.
    pub region: Option<String>,
    pub in_sales: bool,
}

/// The rows of restricted datasets a viewer sees.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RowScope {
    All,
    Region(String),
    /// A member without a region sees no restricted row.
    Nothing,
}

pub fn row_scope(viewer: &Viewer) -> RowScope {
    match (&viewer.region, viewer.is_admin) {
        (_, true) => RowScope::All,
        (Some(region), false) => RowScope::Region(region.clone()),
        (None, false) => RowScope::Nothing,
    }
}

/// Where a row's region comes from, per dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegionSource {
    /// The dataset is not restricted.
    Unrestricted,
    /// A column holds the region.
    Column(usize),
    /// A column holds a country code.
    Country(usize),
    /// A column holds a customer id, whose region the `customers` dataset says.
    Customer(usize),
    /// A restricted dataset without the column that would say: every row is hidden from
    /// those who see only a region.
    Missing,
}

/// The restricted datasets, and the column that places each row in a region: the three the
/// rules name, and the totals derived from orders (per customer country), which would tell
/// other regions' sales.
pub fn region_source(dataset: &str, columns: &[String]) -> RegionSource {
    let (column, source): (&str, fn(usize) -> RegionSource) = match dataset {
        "customers" => ("region", RegionSource::Column),
        "web_history_prepared" | "orders_by_country" => ("country", RegionSource::Country),
        "orders" => ("customer_id", RegionSource::Customer),
        _ => return RegionSource::Unrestricted,
    };
    columns.iter().position(|c| c == column).map_or(RegionSource::Missing, source)
}

/// The region of a row, when known. `region_of_country` maps country codes (the geography
/// table, passed in to keep this pure); `customers` maps customer ids to regions.
pub fn row_region<'a>(
    source: &RegionSource,
    row: &'a [Value],
    region_of_country: fn(&str) -> Option<&'static str>,
    customers: &'a HashMap<i64, String>,
) -> Option<&'a str> {
    match source {
        RegionSource::Unrestricted | RegionSource::Missing => None,
        RegionSource::Column(i) => row.get(*i)?.as_str(),
        RegionSource::Country(i) => region_of_country(row.get(*i)?.as_str()?),
        RegionSource::Customer(i) => customers.get(&row.get(*i)?.as_i64()?).map(String::as_str),
    }
}

/// Whether a viewer in `scope` sees a row of a dataset whose regions come from `source`.
pub fn row_visible(scope: &RowScope, source: &RegionSource, region: Option<&str>) -> bool {
    match (source, scope) {
        (RegionSource::Unrestricted, _) | (_, RowScope::All) => true,
        (_, RowScope::Nothing) | (RegionSource::Missing, _) => false,
        (_, RowScope::Region(mine)) => region == Some(mine.as_str()),
    }
}

/// Whether a dataset read is filtered for this viewer at all.
pub fn is_filtered(scope: &RowScope, source: &RegionSource) -> bool {
    !matches!((source, scope), (RegionSource::Unrestricted, _) | (_, RowScope::All))
}

/// The columns a viewer sees masked.
pub fn masked_columns(dataset: &str, columns: &[String], viewer: &Viewer) -> Vec<usize> {
    if dataset != "customers" || viewer.is_admin || viewer.in_sales {
        return Vec::new();
    }
    columns.iter().position(|c| c == "email").into_iter().collect()
}

/// What a viewer reads about the rows they do not see, if anything.
pub fn scope_note(scope: &RowScope, source: &RegionSource) -> Option<String> {
    if !is_filtered(scope, source) {
        return None;
    }
    Some(match scope {
        RowScope::Region(region) => format!("Only rows of the {region} region are shown."),
        _ => "Rows are limited by region, and this account has none: no row is shown.".into(),
    })
}

/// Whether `viewer` may look at datasets as `target` sees them without impersonating (View
/// as): an admin acting as themselves, on another enabled person of their tenant who is not an
/// admin (admins see every row anyway) nor a service account.
pub fn may_view_as(viewer: &User, viewer_impersonating: bool, target: &User) -> Result<(), &'static str> {
    if !viewer.is_admin {
        return Err("only administrators may view data as another user");
    }
    if viewer_impersonating {
        return Err("stop impersonating first");
    }
    if target.tenant_id != viewer.tenant_id {
        return Err("no such user in your organisation");
    }
    if target.id == viewer.id {
        return Err("that is you");
    }
    if target.is_admin {
        return Err("administrators see every row: there is nothing to compare");
    }
    if target.is_service_account() || target.disabled {
        return Err("only enabled people can be viewed as");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::domain::AccountType;
    use serde_json::json;

    fn user(id: i64, is_admin: bool) -> User {
        User {
            id,
            tenant_id: 1,
            email: format!("u{id}@example.com"),
            display_name: format!("User {id}"),
            password_hash: Some("x".into()),
            is_admin,
            account_type: AccountType::User,
            disabled: false,
        }
    }

    #[test]
    fn only_an_admin_as_herself_views_as_another_person() {
        let (alice, carol) = (user(1, true), user(3, false));
        assert_eq!(may_view_as(&alice, false, &carol), Ok(()));
        assert!(may_view_as(&carol, false, &alice).is_err(), "members may not");
        assert!(may_view_as(&alice, true, &carol).is_err(), "not while impersonating");
        assert!(may_view_as(&alice, false, &alice).is_err(), "not oneself");
        assert!(may_view_as(&alice, false, &user(2, true)).is_err(), "not another admin");
        assert!(may_view_as(&alice, false, &User { tenant_id: 2, ..carol.clone() }).is_err(), "not another tenant");
        assert!(may_view_as(&alice, false, &User { disabled: true, ..carol.clone() }).is_err());
        assert!(may_view_as(&alice, false, &User { account_type: AccountType::Service, ..carol }).is_err());
    }

    fn viewer(is_admin: bool, region: Option<&str>, in_sales: bool) -> Viewer {
        Viewer { is_admin, region: region.map(str::to_string), in_sales }
    }

    fn columns(names: &[&str]) -> Vec<String> {
        names.iter().map(|c| c.to_string()).collect()
    }

    fn geo(code: &str) -> Option<&'static str> {
        match code {
            "FR" => Some("EU"),
            "MX" => Some("US"),
            _ => None,
        }
    }

    #[test]
    fn members_see_their_region_admins_everything_and_no_region_nothing() {
        let carol = row_scope(&viewer(false, Some("EU"), false));
        let dave = row_scope(&viewer(false, Some("US"), false));
        let u1 = row_scope(&viewer(false, None, false));
        let alice = row_scope(&viewer(true, None, false));
        let customers = region_source("customers", &columns(&["customer_id", "name", "country", "region"]));
        assert_eq!(customers, RegionSource::Column(3));
        for (scope, eu, us, apac) in [(&carol, true, false, false), (&dave, false, true, false), (&u1, false, false, false), (&alice, true, true, true)] {
            assert_eq!(row_visible(scope, &customers, Some("EU")), eu);
            assert_eq!(row_visible(scope, &customers, Some("US")), us);
            assert_eq!(row_visible(scope, &customers, Some("APAC")), apac);
        }
        assert!(!row_visible(&carol, &customers, None), "a row of no known region is hidden");
        assert!(row_visible(&alice, &customers, None));
    }

    #[test]
    fn each_restricted_dataset_finds_its_rows_region() {
        let none = HashMap::new();
        let web = region_source("web_history_prepared", &columns(&["date", "country"]));
        assert_eq!(row_region(&web, &[json!("2026-10-01"), json!("FR")], geo, &none), Some("EU"));
        assert_eq!(row_region(&web, &[json!("2026-10-01"), json!("MX")], geo, &none), Some("US"));
        assert_eq!(row_region(&web, &[json!("2026-10-01"), json!("RU")], geo, &none), None);
        let totals = region_source("orders_by_country", &columns(&["country", "orders"]));
        assert_eq!(row_region(&totals, &[json!("MX"), json!(3)], geo, &none), Some("US"));
        let orders = region_source("orders", &columns(&["order_id", "date", "customer_id"]));
        let customers = HashMap::from([(7, "EU".to_string())]);
        assert_eq!(row_region(&orders, &[json!(1), json!("d"), json!(7)], geo, &customers), Some("EU"));
        assert_eq!(row_region(&orders, &[json!(1), json!("d"), json!(8)], geo, &customers), None, "unknown customer");
        assert_eq!(row_region(&orders, &[json!(1)], geo, &customers), None, "short row");
    }

    #[test]
    fn other_datasets_are_open_and_a_missing_column_fails_closed() {
        let carol = RowScope::Region("EU".into());
        let open = region_source("web_history", &columns(&["ip"]));
        assert_eq!(open, RegionSource::Unrestricted);
        assert!(row_visible(&carol, &open, None));
        assert!(row_visible(&RowScope::Nothing, &open, None));
        assert!(!is_filtered(&carol, &open));
        let missing = region_source("customers", &columns(&["customer_id", "name"]));
        assert_eq!(missing, RegionSource::Missing);
        assert!(!row_visible(&carol, &missing, Some("EU")));
        assert!(row_visible(&RowScope::All, &missing, None));
    }

    #[test]
    fn emails_of_customers_show_only_to_admins_and_sales() {
        let cols = columns(&["customer_id", "name", "country", "region", "price_group", "email"]);
        assert_eq!(masked_columns("customers", &cols, &viewer(false, Some("EU"), false)), vec![5]);
        assert!(masked_columns("customers", &cols, &viewer(false, None, true)).is_empty(), "Sales");
        assert!(masked_columns("customers", &cols, &viewer(true, None, false)).is_empty(), "admins");
        assert!(masked_columns("orders", &cols, &viewer(false, Some("EU"), false)).is_empty());
    }

    #[test]
    fn the_note_says_why_rows_are_missing() {
        let source = RegionSource::Column(3);
        assert_eq!(scope_note(&RowScope::Region("EU".into()), &source).unwrap(), "Only rows of the EU region are shown.");
        assert!(scope_note(&RowScope::Nothing, &source).unwrap().contains("this account has none"));
        assert_eq!(scope_note(&RowScope::All, &source), None);
        assert_eq!(scope_note(&RowScope::Nothing, &RegionSource::Unrestricted), None);
    }
}
