-- revision: 1a0000000006
-- down_revision: 1a0000000005
-- message: create products, price in integer cents

-- upgrade
CREATE TABLE products (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    price INTEGER NOT NULL CHECK (price >= 0)
);

-- downgrade
DROP TABLE products;
