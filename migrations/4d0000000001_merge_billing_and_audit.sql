-- revision: 4d0000000001
-- down_revision: 2b0000000001, 3c0000000002
-- message: merge the billing and audit branches

-- upgrade
-- A merge revision joins two heads into one (Alembic's `merge`); it usually runs no SQL.

-- downgrade
