-- Credentials of the local authenticators beyond the password (which lives in
-- users.password_hash): TOTP secrets and backup codes. The failed-login
-- counter and the lock of BasicAuthenticator use the columns users already has
-- (failed_login_attempts, locked, locked_until, lock_reason).
--
-- Nothing here is usable if the table is stolen alone: TOTP secrets are
-- AES-256-GCM ciphertext (the key is in the server's configuration, never in
-- the database), backup codes are keyed hashes.

-- +goose Up

-- One TOTP credential per user (RFC 6238). secret_ciphertext is
-- nonce || AES-GCM(secret) with the user id as additional data, so a
-- ciphertext copied onto another user does not decrypt. key_id names the
-- encryption key for rotation. confirmed_at is NULL until the user proved
-- possession with a first code (an enrolment in progress);
-- last_used_step is the RFC 6238 time step of the last accepted code, so a
-- code (and any older one) is never accepted twice (RFC 6238 §5.2).
CREATE TABLE totp_credentials (
    user_id           uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_ciphertext bytea       NOT NULL CHECK (octet_length(secret_ciphertext) BETWEEN 29 AND 1024),
    key_id            text        NOT NULL DEFAULT '' CHECK (char_length(key_id) <= 64),
    confirmed_at      timestamptz,
    last_used_step    bigint      CHECK (last_used_step >= 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER totp_credentials_set_updated_at BEFORE UPDATE ON totp_credentials
    FOR EACH ROW EXECUTE FUNCTION keyflow_set_updated_at();

-- Backup (recovery) codes: a set generated at once, each usable once.
-- code_hash is HMAC-SHA-256 under a server key of the user id and the code;
-- used_at is set when a code is spent.
CREATE TABLE backup_codes (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  bytea       NOT NULL CHECK (octet_length(code_hash) = 32),
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT backup_codes_user_hash_key UNIQUE (user_id, code_hash)
);
