-- Secrets for conditional-authentication scripts (WSO2's secret management,
-- secret type ADAPTIVE_AUTH_CALL_CHOREO): scripts refer to them by name
-- (secrets.name, getSecretByName) and only the HTTP activity resolves them.
-- Values are sealed (AES-256-GCM) by the application before they reach the
-- database; key_id names the key that sealed them.

-- +goose Up

CREATE TABLE secrets (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    type        text        NOT NULL CHECK (type ~ '^[A-Z][A-Z0-9_]{0,63}$'),
    name        text        NOT NULL CHECK (name ~ '^[A-Za-z][A-Za-z0-9_]{0,63}$'),
    description text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 1024),
    ciphertext  bytea       NOT NULL,
    key_id      text        NOT NULL CHECK (key_id <> ''),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT secrets_name_unique UNIQUE (org_id, type, name)
);
CREATE TRIGGER secrets_set_updated_at BEFORE UPDATE ON secrets
    FOR EACH ROW EXECUTE FUNCTION keyflow_set_updated_at();
