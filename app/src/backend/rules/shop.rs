//! The rules of the shop: what a cart may hold, how an order is priced (always on the server,
//! from the price list of the moment), who may be an order's customer, and whose orders a
//! person sees. Pure: callers load products, prices and stock; these functions decide.

use crate::backend::domain::User;
use crate::model::PriceGroup;

/// Lines a cart holds at most.
pub const MAX_LINES: usize = 20;
/// Items of one product an order takes at most.
pub const MAX_QUANTITY: i64 = 99;

/// Why an order (or a cart change) was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderRefusal {
    EmptyCart,
    BadQuantity { quantity: i64 },
    TooManyLines,
    UnknownProduct(i64),
    OutOfStock { name: String, left: i64 },
    NotPriced { name: String },
    NotACustomer { name: String },
    /// The same cart was ordered already.
    AlreadyPlaced { order_no: i64 },
}

impl OrderRefusal {
    pub fn message(&self) -> String {
        match self {
            OrderRefusal::EmptyCart => "the cart is empty".into(),
            OrderRefusal::BadQuantity { quantity } => {
                format!("a quantity must be a whole number from 1 to {MAX_QUANTITY} (got {quantity})")
            }
            OrderRefusal::TooManyLines => format!("a cart holds at most {MAX_LINES} different products"),
            OrderRefusal::UnknownProduct(id) => format!("no product #{id} in this shop"),
            OrderRefusal::OutOfStock { name, left } => format!("only {left} of {name} left"),
            OrderRefusal::NotPriced { name } => format!("{name} has no price for this price group"),
            OrderRefusal::NotACustomer { name } => {
                format!("{name} is not a customer of the shop: act on behalf of a customer to order")
            }
            OrderRefusal::AlreadyPlaced { order_no } => format!("this cart was ordered already, as order #{order_no}"),
        }
    }

    /// The HTTP status of the refusal.
    pub fn status(&self) -> u16 {
        match self {
            OrderRefusal::EmptyCart | OrderRefusal::BadQuantity { .. } | OrderRefusal::TooManyLines => 400,
            OrderRefusal::UnknownProduct(_) => 404,
            OrderRefusal::OutOfStock { .. } | OrderRefusal::NotPriced { .. } | OrderRefusal::AlreadyPlaced { .. } => 409,
            OrderRefusal::NotACustomer { .. } => 403,
        }
    }
}

/// The price group of a person: their own, Retail when they have none.
pub fn price_group_of(stored: Option<PriceGroup>) -> PriceGroup {
    stored.unwrap_or(PriceGroup::Retail)
}

/// A cart's lines `(product id, quantity)` as an order takes them: one line per product (a
/// product named twice adds up), quantities from 1 to `MAX_QUANTITY`, at most `MAX_LINES`.
pub fn check_cart(lines: &[(i64, i64)]) -> Result<Vec<(i64, i64)>, OrderRefusal> {
    let mut merged: Vec<(i64, i64)> = Vec::new();
    for &(product, quantity) in lines {
        if !(1..=MAX_QUANTITY).contains(&quantity) {
            return Err(OrderRefusal::BadQuantity { quantity });
        }
        match merged.iter_mut().find(|(p, _)| *p == product) {
            Some((_, total)) => {
                *total += quantity;
                if *total > MAX_QUANTITY {
                    return Err(OrderRefusal::BadQuantity { quantity: *total });
                }
            }
            None => merged.push((product, quantity)),
        }
    }
    if merged.is_empty() {
        return Err(OrderRefusal::EmptyCart);
    }
    if merged.len() > MAX_LINES {
        return Err(OrderRefusal::TooManyLines);
    }
    Ok(merged)
}

/// What the shop offers of one product, in one price group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub product_id: i64,
    pub name: String,
    pub stock: i64,
    /// None when the product has no price in the group.
    pub unit_price_cents: Option<i64>,
}

/// One priced line of an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricedLine {
    pub product_id: i64,
    pub name: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
}

impl PricedLine {
    pub fn amount_cents(&self) -> i64 {
        self.unit_price_cents * self.quantity
    }
}

/// Prices checked lines from the offers of the moment; refuses unknown products, products
/// without a price and quantities beyond the stock. Returns the lines and the total.
pub fn price_order(lines: &[(i64, i64)], offers: &[Offer]) -> Result<(Vec<PricedLine>, i64), OrderRefusal> {
    let mut priced = Vec::with_capacity(lines.len());
    for &(product_id, quantity) in lines {
        let offer = offers.iter().find(|o| o.product_id == product_id).ok_or(OrderRefusal::UnknownProduct(product_id))?;
        let unit_price_cents = offer.unit_price_cents.ok_or_else(|| OrderRefusal::NotPriced { name: offer.name.clone() })?;
        if quantity > offer.stock {
            return Err(OrderRefusal::OutOfStock { name: offer.name.clone(), left: offer.stock });
        }
        priced.push(PricedLine { product_id, name: offer.name.clone(), quantity, unit_price_cents });
    }
    let total = priced.iter().map(PricedLine::amount_cents).sum();
    Ok((priced, total))
}

/// Whether `customer` may be an order's customer: only a person with a customer record.
pub fn may_be_customer(customer: &User, has_customer_record: bool) -> Result<(), OrderRefusal> {
    if has_customer_record && !customer.is_service_account() && !customer.disabled {
        Ok(())
    } else {
        Err(OrderRefusal::NotACustomer { name: customer.display_name.clone() })
    }
}

/// Whose orders a person sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrdersScope {
    /// Every order of the tenant (admins).
    Tenant,
    /// Their own orders and the orders they placed for others.
    OwnOrPlaced(i64),
}

/// The orders of `user_id` (the person acted as) and those they placed; every order of the
/// tenant when the permissions are an admin's.
pub fn orders_scope(user_id: i64, permissions_are_admin: bool) -> OrdersScope {
    if permissions_are_admin {
        OrdersScope::Tenant
    } else {
        OrdersScope::OwnOrPlaced(user_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::domain::AccountType;

    fn person(id: i64) -> User {
        User {
            id,
            tenant_id: 1,
            email: format!("p{id}@example.com"),
            display_name: format!("Person {id}"),
            password_hash: Some("x".into()),
            is_admin: false,
            account_type: AccountType::User,
            disabled: false,
        }
    }

    fn offer(id: i64, stock: i64, price: Option<i64>) -> Offer {
        Offer { product_id: id, name: format!("Tee {id}"), stock, unit_price_cents: price }
    }

    #[test]
    fn a_cart_merges_products_and_bounds_quantities_and_lines() {
        assert_eq!(check_cart(&[(1, 2), (2, 1), (1, 3)]), Ok(vec![(1, 5), (2, 1)]));
        assert_eq!(check_cart(&[(1, 99)]), Ok(vec![(1, 99)]));
        assert_eq!(check_cart(&[]), Err(OrderRefusal::EmptyCart));
        assert_eq!(check_cart(&[(1, 0)]), Err(OrderRefusal::BadQuantity { quantity: 0 }));
        assert_eq!(check_cart(&[(1, -3)]), Err(OrderRefusal::BadQuantity { quantity: -3 }));
        assert_eq!(check_cart(&[(1, 100)]), Err(OrderRefusal::BadQuantity { quantity: 100 }));
        assert_eq!(check_cart(&[(1, 60), (1, 40)]), Err(OrderRefusal::BadQuantity { quantity: 100 }));
        let many: Vec<(i64, i64)> = (1..=21).map(|p| (p, 1)).collect();
        assert_eq!(check_cart(&many), Err(OrderRefusal::TooManyLines));
        assert!(check_cart(&many[..20]).is_ok());
    }

    #[test]
    fn an_order_is_priced_from_the_offers_and_the_stock() {
        let offers = [offer(1, 500, Some(1330)), offer(2, 3, Some(1890)), offer(3, 10, None)];
        let (lines, total) = price_order(&[(1, 2), (2, 3)], &offers).unwrap();
        assert_eq!(lines.iter().map(PricedLine::amount_cents).collect::<Vec<_>>(), vec![2660, 5670]);
        assert_eq!(total, 2660 + 5670);
        assert_eq!(price_order(&[(2, 4)], &offers), Err(OrderRefusal::OutOfStock { name: "Tee 2".into(), left: 3 }));
        assert_eq!(price_order(&[(9, 1)], &offers), Err(OrderRefusal::UnknownProduct(9)));
        assert_eq!(price_order(&[(3, 1)], &offers), Err(OrderRefusal::NotPriced { name: "Tee 3".into() }));
    }

    #[test]
    fn only_people_with_a_customer_record_are_customers() {
        assert_eq!(may_be_customer(&person(1), true), Ok(()));
        assert!(matches!(may_be_customer(&person(1), false), Err(OrderRefusal::NotACustomer { .. })));
        let service = User { account_type: AccountType::Service, ..person(2) };
        assert!(may_be_customer(&service, true).is_err());
        let disabled = User { disabled: true, ..person(3) };
        assert!(may_be_customer(&disabled, true).is_err());
    }

    #[test]
    fn admins_see_every_order_others_their_own_and_those_they_placed() {
        assert_eq!(orders_scope(1, true), OrdersScope::Tenant);
        assert_eq!(orders_scope(4, false), OrdersScope::OwnOrPlaced(4));
    }

    #[test]
    fn people_without_a_price_group_pay_retail() {
        assert_eq!(price_group_of(None), PriceGroup::Retail);
        assert_eq!(price_group_of(Some(PriceGroup::Staff)), PriceGroup::Staff);
    }

    #[test]
    fn refusals_say_what_is_wrong_with_a_fitting_status() {
        assert_eq!(OrderRefusal::OutOfStock { name: "Long Sleeve Tee".into(), left: 3 }.message(), "only 3 of Long Sleeve Tee left");
        assert_eq!(OrderRefusal::OutOfStock { name: "x".into(), left: 0 }.status(), 409);
        assert_eq!(OrderRefusal::EmptyCart.status(), 400);
        assert_eq!(OrderRefusal::UnknownProduct(1).status(), 404);
        assert_eq!(OrderRefusal::NotACustomer { name: "Sam".into() }.status(), 403);
    }
}
