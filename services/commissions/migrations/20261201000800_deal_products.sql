-- Product-specific rates. Each won step keeps the participant's shares of the deal's products
-- (the lines of its accepted quote: product id, SKU, name, share of the net amount in minor
-- units), so a recalculation replays them; a line rated by a product rate names its product.
ALTER TABLE deal_steps ADD COLUMN products jsonb NOT NULL DEFAULT '[]';

ALTER TABLE commission_lines ADD COLUMN product_id uuid;
ALTER TABLE commission_lines DROP CONSTRAINT commission_lines_rule_check;
ALTER TABLE commission_lines ADD CONSTRAINT commission_lines_rule_check
    CHECK (rule IN ('schedule', 'pipeline', 'product', 'cap'));
ALTER TABLE commission_lines ADD CONSTRAINT commission_lines_product_check
    CHECK ((rule = 'product') = (product_id IS NOT NULL));
