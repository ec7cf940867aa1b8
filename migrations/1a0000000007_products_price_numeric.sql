-- revision: 1a0000000007
-- down_revision: 1a0000000006
-- message: change products.price to numeric(10,2)

-- upgrade
-- A type change rewrites the table under ACCESS EXCLUSIVE: the step's lock_timeout makes it
-- give way to traffic (and retry) instead of queueing every query behind it.
-- The CHECK is dropped and added again in the same statement (one rewrite): left alone,
-- PostgreSQL would rewrite it with casts, and after a downgrade it would read
-- `(price)::numeric >= (0)::numeric` instead of `price >= 0`, so up/down would not round-trip.
ALTER TABLE products
    DROP CONSTRAINT products_price_check,
    ALTER COLUMN price TYPE NUMERIC(10, 2) USING (price / 100.0)::NUMERIC(10, 2),
    ADD CONSTRAINT products_price_check CHECK (price >= 0);

-- downgrade
ALTER TABLE products
    DROP CONSTRAINT products_price_check,
    ALTER COLUMN price TYPE INTEGER USING round(price * 100)::INTEGER,
    ADD CONSTRAINT products_price_check CHECK (price >= 0);
