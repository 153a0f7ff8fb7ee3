-- Full-text search over accounts, contacts, leads and opportunities, with a trigram fallback for
-- misspelt names.
--
-- pg_trgm is installed once per database, in `public`, so every service schema (and every test
-- schema) finds it by its qualified name; the queries say `public.word_similarity` and
-- `OPERATOR(public.<%)`. pg_trgm is a trusted extension: the migrating database owner may create
-- it. Two schemas migrating at once can race on creating it, hence the exception handler.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
EXCEPTION WHEN unique_violation OR duplicate_object THEN
    NULL;
END
$$;

-- array_to_string is only STABLE (element output functions in general may depend on settings);
-- for text[] it is immutable, which a generated column requires.
CREATE FUNCTION search_join(items text[]) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN array_to_string(items, ' ');

-- The 'simple' configuration lower-cases and splits without stemming, so names stay names.
-- Weight A is the record's title, B the other searchable text.
ALTER TABLE accounts ADD COLUMN search_document tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', name), 'A')
    || setweight(to_tsvector('simple', domain || ' ' || industry), 'B')
) STORED;
ALTER TABLE contacts ADD COLUMN search_document tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', first_name || ' ' || last_name), 'A')
    || setweight(to_tsvector('simple', search_join(emails) || ' ' || title), 'B')
) STORED;
ALTER TABLE leads ADD COLUMN search_document tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', first_name || ' ' || last_name || ' ' || company), 'A')
    || setweight(to_tsvector('simple', email || ' ' || title), 'B')
) STORED;
ALTER TABLE opportunities ADD COLUMN search_document tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', name), 'A')
    || setweight(to_tsvector('simple', lost_reason), 'B')
) STORED;

CREATE INDEX accounts_search_idx ON accounts USING gin (search_document) WHERE deleted_at IS NULL;
CREATE INDEX contacts_search_idx ON contacts USING gin (search_document) WHERE deleted_at IS NULL;
CREATE INDEX leads_search_idx ON leads USING gin (search_document) WHERE deleted_at IS NULL;
CREATE INDEX opportunities_search_idx ON opportunities USING gin (search_document) WHERE deleted_at IS NULL;

-- Trigram indexes on the titles the fuzzy fallback compares against (same expressions as the
-- search queries use).
CREATE INDEX accounts_name_trgm_idx ON accounts
    USING gin (name public.gin_trgm_ops) WHERE deleted_at IS NULL;
CREATE INDEX contacts_name_trgm_idx ON contacts
    USING gin ((first_name || ' ' || last_name) public.gin_trgm_ops) WHERE deleted_at IS NULL;
CREATE INDEX leads_name_trgm_idx ON leads
    USING gin ((first_name || ' ' || last_name || ' ' || company) public.gin_trgm_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX opportunities_name_trgm_idx ON opportunities
    USING gin (name public.gin_trgm_ops) WHERE deleted_at IS NULL;
