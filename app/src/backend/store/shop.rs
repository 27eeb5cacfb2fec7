//! The shop's catalogue: products, their price per price group and stock, and which users are
//! the shop's customers.

use super::{execute, params, query_map, query_row, Conn, Db, Optional, SqlResult};
use crate::backend::rules::shop::Offer;
use crate::model::{PriceGroup, ProductView};

/// A tenant's shop.
#[derive(Clone, Debug)]
pub struct ShopRow {
    pub tenant_id: i64,
    pub orders_dataset_id: i64,
}

pub async fn of_tenant(db: &Db, tenant_id: i64) -> Result<Option<ShopRow>, sqlx::Error> {
    db.read(move |c| {
        query_row(c, "SELECT tenant_id, orders_dataset_id FROM shops WHERE tenant_id = ?", params![tenant_id], |r| {
            Ok(ShopRow { tenant_id: r.get(0)?, orders_dataset_id: r.get(1)? })
        })
        .optional()
    })
    .await
}

/// Opens a tenant's shop (the seed), its orders numbered from `first_order_no`.
pub fn open_in(tx: &Conn, tenant_id: i64, orders_dataset_id: i64, first_order_no: i64) -> SqlResult<()> {
    execute(
        tx,
        "INSERT INTO shops (tenant_id, orders_dataset_id, next_order_no) VALUES (?, ?, ?)",
        params![tenant_id, orders_dataset_id, first_order_no],
    )
    .map(|_| ())
}

/// Adds a product with its price in each group (the seed).
pub fn add_product_in(tx: &Conn, tenant_id: i64, slug: &str, name: &str, stock: i64, prices: &[(PriceGroup, i64)]) -> SqlResult<i64> {
    let id: i64 = query_row(
        tx,
        "INSERT INTO products (tenant_id, slug, name, stock) VALUES (?, ?, ?, ?) RETURNING id",
        params![tenant_id, slug, name, stock],
        |r| r.get(0),
    )?;
    for (group, cents) in prices {
        execute(
            tx,
            "INSERT INTO product_prices (product_id, price_group, unit_price_cents) VALUES (?, ?, ?)",
            params![id, group.as_db(), cents],
        )?;
    }
    Ok(id)
}

/// Makes a user a customer of the shop, with their id in the `customers` dataset (the seed).
pub fn add_customer_in(tx: &Conn, user_id: i64, customer_id: i64) -> SqlResult<()> {
    execute(tx, "INSERT INTO shop_customers (user_id, customer_id) VALUES (?, ?)", params![user_id, customer_id]).map(|_| ())
}

/// A user's id in the `customers` dataset, when they are a customer.
pub async fn customer_id(db: &Db, user_id: i64) -> Result<Option<i64>, sqlx::Error> {
    db.read(move |c| query_row(c, "SELECT customer_id FROM shop_customers WHERE user_id = ?", params![user_id], |r| r.get(0)).optional())
        .await
}

/// The tenant's products by name, priced in `group` (products without a price there are left out).
pub async fn catalogue(db: &Db, tenant_id: i64, group: PriceGroup) -> Result<Vec<ProductView>, sqlx::Error> {
    db.read(move |c| {
        query_map(
            c,
            "SELECT p.id, p.slug, p.name, pp.unit_price_cents, p.stock
             FROM products p JOIN product_prices pp ON pp.product_id = p.id AND pp.price_group = ?
             WHERE p.tenant_id = ? ORDER BY p.name",
            params![group.as_db(), tenant_id],
            |r| Ok(ProductView { id: r.get(0)?, slug: r.get(1)?, name: r.get(2)?, unit_price_cents: r.get(3)?, stock: r.get(4)? }),
        )
    })
    .await
}

/// What the tenant offers of `product_ids`, priced in `group`, inside the caller's unit of work
/// (an order reads them after taking its shop's lock).
pub fn offers_in(tx: &Conn, tenant_id: i64, group: PriceGroup, product_ids: &[i64]) -> SqlResult<Vec<Offer>> {
    let mut offers = Vec::with_capacity(product_ids.len());
    for &id in product_ids {
        let offer = query_row(
            tx,
            "SELECT p.id, p.name, p.stock, pp.unit_price_cents
             FROM products p LEFT JOIN product_prices pp ON pp.product_id = p.id AND pp.price_group = ?
             WHERE p.id = ? AND p.tenant_id = ?",
            params![group.as_db(), id, tenant_id],
            |r| Ok(Offer { product_id: r.get(0)?, name: r.get(1)?, stock: r.get(2)?, unit_price_cents: r.get(3)? }),
        )
        .optional()?;
        offers.extend(offer);
    }
    Ok(offers)
}
