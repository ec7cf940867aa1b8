-- revision: 4d0000000002
-- down_revision: 4d0000000001
-- message: create the order_totals view (needs both branches)

-- upgrade
CREATE VIEW order_totals AS
SELECT o.id AS order_id,
       o.user_id,
       COALESCE(sum(oi.quantity * oi.unit_price), 0)::NUMERIC(12, 2) AS total,
       EXISTS (SELECT 1 FROM invoices i WHERE i.order_id = o.id) AS invoiced
  FROM orders o
  LEFT JOIN order_items oi ON oi.order_id = o.id
 GROUP BY o.id, o.user_id;

-- downgrade
DROP VIEW order_totals;
