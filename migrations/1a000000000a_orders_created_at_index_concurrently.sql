-- revision: 1a000000000a
-- down_revision: 1a0000000009
-- message: index orders.created_at without blocking writes
-- transactional: false

-- upgrade
-- CONCURRENTLY cannot run in a transaction, hence transactional: false. If it fails it leaves an
-- INVALID index behind; Fleetway drops it before the next attempt. IF NOT EXISTS keeps the
-- revision re-runnable, as a non-transactional revision must be.
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_created_at_idx ON orders (created_at);

-- downgrade
DROP INDEX CONCURRENTLY IF EXISTS orders_created_at_idx;
