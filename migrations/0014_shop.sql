-- The shop: products with a price per price group and their stock, which users are the shop's
-- customers (and their id in the `customers` dataset), and orders with both people behind them.

-- A tenant that sells: where its orders go, and the number its next order gets.
CREATE TABLE shops (
    tenant_id         INTEGER PRIMARY KEY REFERENCES tenants(id),
    orders_dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    next_order_no     INTEGER NOT NULL CHECK (next_order_no > 0)
);

CREATE TABLE products (
    id        INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants(id),
    slug      TEXT NOT NULL,
    name      TEXT NOT NULL,
    stock     INTEGER NOT NULL CHECK (stock >= 0),
    UNIQUE (tenant_id, slug)
);

CREATE TABLE product_prices (
    product_id       INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    price_group      TEXT NOT NULL CHECK (price_group IN ('Retail', 'Wholesale', 'Staff')),
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents > 0),
    PRIMARY KEY (product_id, price_group)
);

-- Users who are customers of their tenant's shop, with their `customer_id` in its datasets.
CREATE TABLE shop_customers (
    user_id     INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    customer_id INTEGER NOT NULL
);

CREATE TABLE orders (
    id                      INTEGER PRIMARY KEY,
    tenant_id               INTEGER NOT NULL REFERENCES tenants(id),
    order_no                INTEGER NOT NULL,
    -- Whose order it is (the person acted for).
    customer_user_id        INTEGER NOT NULL REFERENCES users(id),
    -- Who is shown as having placed it, as the mode decides.
    placed_by_user_id       INTEGER NOT NULL REFERENCES users(id),
    -- The person really at the keyboard, when placed while impersonating.
    impersonated_by_user_id INTEGER REFERENCES users(id),
    impersonation_id        INTEGER,
    mode                    TEXT CHECK (mode IS NULL OR mode IN ('on_behalf_of', 'full', 'full_impersonator_permissions')),
    via                     TEXT NOT NULL,
    price_group             TEXT NOT NULL CHECK (price_group IN ('Retail', 'Wholesale', 'Staff')),
    total_cents             INTEGER NOT NULL CHECK (total_cents > 0),
    created_at              INTEGER NOT NULL,
    UNIQUE (tenant_id, order_no)
);
CREATE INDEX orders_customer ON orders(tenant_id, customer_user_id, id);
CREATE INDEX orders_placed_by ON orders(tenant_id, placed_by_user_id, id);

CREATE TABLE order_lines (
    order_id         INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    line_no          INTEGER NOT NULL,
    product_id       INTEGER NOT NULL REFERENCES products(id),
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents > 0),
    PRIMARY KEY (order_id, line_no)
);
