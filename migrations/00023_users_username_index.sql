-- SCIM's `userName eq "…"` (and login look-ups across user store domains) select users by
-- organization and folded username. The unique (org_id, user_store_domain, username_key) index
-- cannot serve that without the domain, so PostgreSQL walked every user of the organization
-- (docs/performance.md, item 5).

-- +goose Up

CREATE INDEX users_org_username_key_idx ON users (org_id, username_key);
