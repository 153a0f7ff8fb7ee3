-- Products, price books and quotes. Prices and quote amounts are integers in the minor unit of
-- their currency (cents for USD); rates are parts per million (190000 = 19 %).

CREATE TABLE products (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    sku         text NOT NULL,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    deleted_at  timestamptz,
    CONSTRAINT products_tenant_id_key UNIQUE (tenant_id, id)
);
-- A deleted product frees its SKU.
CREATE UNIQUE INDEX products_sku_key ON products (tenant_id, lower(sku)) WHERE deleted_at IS NULL;
CREATE INDEX products_created_idx ON products (tenant_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX products_name_idx ON products (tenant_id, name, id) WHERE deleted_at IS NULL;

CREATE TABLE price_books (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    is_standard boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    deleted_at  timestamptz,
    CONSTRAINT price_books_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT price_books_standard_live_check CHECK (NOT (is_standard AND deleted_at IS NOT NULL))
);
-- One standard price book per tenant: concurrent lazy creations collapse into one.
CREATE UNIQUE INDEX price_books_standard_key ON price_books (tenant_id) WHERE is_standard;
CREATE UNIQUE INDEX price_books_name_key ON price_books (tenant_id, lower(name)) WHERE deleted_at IS NULL;

CREATE TABLE price_book_entries (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    price_book_id    uuid NOT NULL,
    product_id       uuid NOT NULL,
    currency         text NOT NULL,
    unit_price_minor bigint NOT NULL CHECK (unit_price_minor >= 0),
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CONSTRAINT price_book_entries_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT price_book_entries_book_fkey FOREIGN KEY (tenant_id, price_book_id) REFERENCES price_books (tenant_id, id),
    CONSTRAINT price_book_entries_product_fkey FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id),
    CONSTRAINT price_book_entries_price_key UNIQUE (tenant_id, price_book_id, product_id, currency)
);
CREATE INDEX price_book_entries_created_idx ON price_book_entries (tenant_id, price_book_id, created_at, id);

CREATE TABLE quotes (
    id                    uuid PRIMARY KEY,
    tenant_id             uuid NOT NULL,
    opportunity_id        uuid NOT NULL,
    name                  text NOT NULL,
    status                text NOT NULL CHECK (status IN ('draft', 'sent', 'accepted', 'rejected')),
    price_book_id         uuid NOT NULL,
    currency              text NOT NULL,
    discount_rate_ppm     integer NOT NULL DEFAULT 0 CHECK (discount_rate_ppm BETWEEN 0 AND 1000000),
    discount_amount_minor bigint NOT NULL DEFAULT 0 CHECK (discount_amount_minor >= 0),
    tax_rate_ppm          integer NOT NULL DEFAULT 0 CHECK (tax_rate_ppm BETWEEN 0 AND 1000000),
    subtotal_minor        bigint NOT NULL CHECK (subtotal_minor >= 0),
    discount_total_minor  bigint NOT NULL CHECK (discount_total_minor >= 0),
    tax_minor             bigint NOT NULL CHECK (tax_minor >= 0),
    total_minor           bigint NOT NULL CHECK (total_minor >= 0),
    created_by            uuid NOT NULL,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    deleted_at            timestamptz,
    CONSTRAINT quotes_tenant_id_key UNIQUE (tenant_id, id),
    CONSTRAINT quotes_opportunity_fkey FOREIGN KEY (tenant_id, opportunity_id) REFERENCES opportunities (tenant_id, id),
    CONSTRAINT quotes_price_book_fkey FOREIGN KEY (tenant_id, price_book_id) REFERENCES price_books (tenant_id, id)
);
-- At most one accepted quote per opportunity, even under concurrent accepts.
CREATE UNIQUE INDEX quotes_accepted_key ON quotes (tenant_id, opportunity_id) WHERE status = 'accepted' AND deleted_at IS NULL;
CREATE INDEX quotes_opportunity_idx ON quotes (tenant_id, opportunity_id) WHERE deleted_at IS NULL;
CREATE INDEX quotes_created_idx ON quotes (tenant_id, created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE quote_lines (
    tenant_id             uuid NOT NULL,
    quote_id              uuid NOT NULL,
    position              integer NOT NULL CHECK (position >= 0),
    product_id            uuid NOT NULL,
    product_sku           text NOT NULL,
    product_name          text NOT NULL,
    quantity              bigint NOT NULL CHECK (quantity > 0),
    unit_price_minor      bigint NOT NULL CHECK (unit_price_minor >= 0),
    discount_rate_ppm     integer NOT NULL DEFAULT 0 CHECK (discount_rate_ppm BETWEEN 0 AND 1000000),
    discount_amount_minor bigint NOT NULL DEFAULT 0 CHECK (discount_amount_minor >= 0),
    subtotal_minor        bigint NOT NULL CHECK (subtotal_minor >= 0),
    discount_minor        bigint NOT NULL CHECK (discount_minor >= 0),
    total_minor           bigint NOT NULL CHECK (total_minor >= 0),
    PRIMARY KEY (tenant_id, quote_id, position),
    CONSTRAINT quote_lines_quote_fkey FOREIGN KEY (tenant_id, quote_id) REFERENCES quotes (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT quote_lines_product_fkey FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id)
);

ALTER TABLE products ENABLE ROW LEVEL SECURITY;
ALTER TABLE price_books ENABLE ROW LEVEL SECURITY;
ALTER TABLE price_book_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE quotes ENABLE ROW LEVEL SECURITY;
ALTER TABLE quote_lines ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON products
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON price_books
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON price_book_entries
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON quotes
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_isolation ON quote_lines
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
