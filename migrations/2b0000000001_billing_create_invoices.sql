-- revision: 2b0000000001
-- down_revision: 1a000000000a
-- message: billing: create invoices
-- branch_labels: billing

-- upgrade
CREATE TABLE invoices (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    amount NUMERIC(10, 2) NOT NULL,
    issued_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX invoices_order_id_idx ON invoices (order_id);

-- downgrade
DROP TABLE invoices;
