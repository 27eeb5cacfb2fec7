//! Orders: placed in one unit of work that prices them from the price list and stock of the
//! moment, takes the stock, appends their lines to the shop's `orders` dataset and writes the
//! audit row, or refuses and writes only its audit row.

use super::{audit, datasets, execute, now_ms, params, query_map, query_row, shop, Conn, Db, Optional, SqlResult, Writer};
use crate::backend::audit::AuditEntry;
use crate::backend::rules::shop::{price_order, OrderRefusal, OrdersScope, PricedLine};
use crate::model::{civil_from_days, ImpersonationMode, OrderView, PriceGroup, UserView};
use serde_json::json;

/// An order to place: whose it is, who places it (and who really does), at which prices.
#[derive(Clone, Debug)]
pub struct NewOrder {
    pub tenant_id: i64,
    pub orders_dataset_id: i64,
    pub customer_user_id: i64,
    /// The customer's id in the `customers` dataset.
    pub customer_id: i64,
    pub placed_by_user_id: i64,
    pub impersonated_by_user_id: Option<i64>,
    pub impersonation_id: Option<i64>,
    pub mode: Option<ImpersonationMode>,
    pub via: String,
    pub price_group: PriceGroup,
    /// Checked lines: one per product, bounded quantities (`rules::shop::check_cart`).
    pub lines: Vec<(i64, i64)>,
    /// The cart's token: a cart is ordered at most once.
    pub cart_token: String,
}

#[derive(Clone, Debug)]
pub struct Placed {
    pub id: i64,
    pub order_no: i64,
    pub lines: Vec<PricedLine>,
    pub total_cents: i64,
}

/// Places an order. `audit`, when given (work done while impersonating), is written with the
/// order — its target gets the order number — or, with the refusal, alone.
pub async fn place(writer: &Writer, order: NewOrder, audit: Option<AuditEntry>) -> Result<Result<Placed, OrderRefusal>, sqlx::Error> {
    writer
        .run(move |tx| {
            let next_order_no = lock_shop(tx, order.tenant_id)?;
            let ids: Vec<i64> = order.lines.iter().map(|(id, _)| *id).collect();
            let offers = shop::offers_in(tx, order.tenant_id, order.price_group, &ids)?;
            let priced = match ordered_as(tx, order.tenant_id, &order.cart_token)? {
                Some(order_no) => Err(OrderRefusal::AlreadyPlaced { order_no }),
                None => price_order(&order.lines, &offers),
            };
            let (lines, total_cents) = match priced {
                Ok(priced) => priced,
                Err(refusal) => {
                    if let Some(entry) = audit {
                        audit::append(tx, &entry.denied(&refusal.message()))?;
                    }
                    return Ok(Err(refusal));
                }
            };
            let now = now_ms();
            let id = insert_order(tx, &order, next_order_no, total_cents, now)?;
            for (line_no, line) in lines.iter().enumerate() {
                execute(
                    tx,
                    "INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price_cents) VALUES (?, ?, ?, ?, ?)",
                    params![id, line_no as i64 + 1, line.product_id, line.quantity, line.unit_price_cents],
                )?;
                execute(tx, "UPDATE products SET stock = stock - ? WHERE id = ?", params![line.quantity, line.product_id])?;
            }
            execute(tx, "UPDATE shops SET next_order_no = ? WHERE tenant_id = ?", params![next_order_no + 1, order.tenant_id])?;
            append_to_dataset(tx, &order, next_order_no, &lines, now)?;
            if let Some(entry) = audit {
                let target = format!("order #{next_order_no} {}", entry.target);
                audit::append(tx, &AuditEntry { target, ..entry })?;
            }
            Ok(Ok(Placed { id, order_no: next_order_no, lines, total_cents }))
        })
        .await
}

/// Takes the shop's lock (PostgreSQL: its row, until commit; SQLite has one writer) and
/// returns the number of the next order: orders of a tenant are placed one at a time, so two
/// never share a number or both take the last item.
fn lock_shop(tx: &Conn, tenant_id: i64) -> SqlResult<i64> {
    let lock = if tx.is_postgres() { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT next_order_no FROM shops WHERE tenant_id = ?{lock}");
    query_row(tx, &sql, params![tenant_id], |r| r.get(0))
}

/// The number of the order a cart was placed as, if it was.
fn ordered_as(tx: &Conn, tenant_id: i64, cart_token: &str) -> SqlResult<Option<i64>> {
    query_row(tx, "SELECT order_no FROM orders WHERE tenant_id = ? AND cart_token = ?", params![tenant_id, cart_token], |r| r.get(0))
        .optional()
}

fn insert_order(tx: &Conn, order: &NewOrder, order_no: i64, total_cents: i64, now: i64) -> SqlResult<i64> {
    query_row(
        tx,
        "INSERT INTO orders (tenant_id, order_no, customer_user_id, placed_by_user_id, impersonated_by_user_id,
                             impersonation_id, mode, via, price_group, total_cents, created_at, cart_token)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        params![
            order.tenant_id,
            order_no,
            order.customer_user_id,
            order.placed_by_user_id,
            order.impersonated_by_user_id,
            order.impersonation_id,
            order.mode.map(ImpersonationMode::as_db),
            order.via,
            order.price_group.as_db(),
            total_cents,
            now,
            order.cart_token,
        ],
        |r| r.get(0),
    )
}

/// One row per line in the shop's `orders` dataset (columns of `orders_by_country::ORDER_COLUMNS`),
/// so the next build of what derives from it counts the order.
fn append_to_dataset(tx: &Conn, order: &NewOrder, order_no: i64, lines: &[PricedLine], now: i64) -> SqlResult<()> {
    let (generation, row_count): (i64, i64) = query_row(
        tx,
        "SELECT generation, row_count FROM datasets WHERE id = ?",
        params![order.orders_dataset_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (y, m, d) = civil_from_days(now.div_euclid(86_400_000));
    let day = format!("{y:04}-{m:02}-{d:02}");
    let euros = |cents: i64| cents as f64 / 100.0;
    let rows: Vec<Vec<serde_json::Value>> = lines
        .iter()
        .map(|l| {
            vec![
                json!(order_no),
                json!(day),
                json!(order.customer_id),
                json!(l.name),
                json!(l.quantity),
                json!(euros(l.unit_price_cents)),
                json!(euros(l.amount_cents())),
            ]
        })
        .collect();
    datasets::append_rows_on(tx, order.orders_dataset_id, generation, row_count, &rows)?;
    datasets::set_row_count(tx, order.orders_dataset_id, row_count + rows.len() as i64, now)
}

/// The orders of a tenant a scope covers, newest first (at most `limit`).
pub async fn list(db: &Db, tenant_id: i64, scope: OrdersScope, limit: i64) -> Result<Vec<OrderView>, sqlx::Error> {
    let (only, user_id) = match scope {
        OrdersScope::Tenant => (false, 0),
        OrdersScope::OwnOrPlaced(id) => (true, id),
    };
    db.read(move |c| {
        query_map(
            c,
            "SELECT o.id, o.order_no, cu.id, cu.email, cu.display_name, pb.id, pb.email, pb.display_name,
                    ib.id, ib.email, ib.display_name, o.mode, o.price_group, o.total_cents, o.created_at,
                    (SELECT CAST(SUM(quantity) AS BIGINT) FROM order_lines l WHERE l.order_id = o.id)
             FROM orders o
             JOIN users cu ON cu.id = o.customer_user_id
             JOIN users pb ON pb.id = o.placed_by_user_id
             LEFT JOIN users ib ON ib.id = o.impersonated_by_user_id
             WHERE o.tenant_id = ?1 AND (?2 = 0 OR o.customer_user_id = ?3 OR o.placed_by_user_id = ?3)
             ORDER BY o.id DESC LIMIT ?4",
            params![tenant_id, only as i64, user_id, limit],
            |r| {
                let impersonated_by = match r.get::<Option<i64>>(8)? {
                    Some(id) => Some(UserView { id, email: r.get(9)?, display_name: r.get(10)? }),
                    None => None,
                };
                let mode: Option<String> = r.get(11)?;
                let price_group: String = r.get(12)?;
                Ok(OrderView {
                    id: r.get(0)?,
                    order_no: r.get(1)?,
                    customer: UserView { id: r.get(2)?, email: r.get(3)?, display_name: r.get(4)? },
                    placed_by: UserView { id: r.get(5)?, email: r.get(6)?, display_name: r.get(7)? },
                    impersonated_by,
                    mode: mode.as_deref().and_then(ImpersonationMode::from_db),
                    price_group: PriceGroup::from_db(&price_group).unwrap_or(PriceGroup::Retail),
                    total_cents: r.get(13)?,
                    created_at: r.get(14)?,
                    items: r.get::<Option<i64>>(15)?.unwrap_or(0),
                })
            },
        )
    })
    .await
}
