-- Each cart is ordered at most once: a second Place order of the same cart (a double click,
-- another tab) is answered with the order the first one made.
ALTER TABLE orders ADD COLUMN cart_token TEXT;
CREATE UNIQUE INDEX orders_cart_token ON orders(tenant_id, cart_token);
