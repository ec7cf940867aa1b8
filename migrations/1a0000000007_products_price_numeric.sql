-- revision: 1a0000000007
-- down_revision: 1a0000000006
-- message: change products.price to numeric(10,2)

-- upgrade
-- A type change rewrites the table under ACCESS EXCLUSIVE: the step's lock_timeout makes it
-- give way to traffic (and retry) instead of queueing every query behind it.
ALTER TABLE products ALTER COLUMN price TYPE NUMERIC(10, 2) USING (price / 100.0)::NUMERIC(10, 2);

-- downgrade
ALTER TABLE products ALTER COLUMN price TYPE INTEGER USING round(price * 100)::INTEGER;
