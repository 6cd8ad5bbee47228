-- WebAuthn (passkey) credentials of FIDOAuthenticator. A row is the
-- credential record of WebAuthn Level 3 §4 as go-webauthn describes it, one
-- column per field so that it can be queried and audited without decoding a
-- blob. Nothing here is secret: the public key verifies assertions, it cannot
-- make them. The user handle the authenticator stores is the user id itself,
-- so no per-user handle table is needed.

-- +goose Up

CREATE TABLE webauthn_credentials (
    -- The credential id the authenticator chose (at most 1023 bytes, §5.1).
    id                 bytea       PRIMARY KEY CHECK (octet_length(id) BETWEEN 16 AND 1023),
    user_id            uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The relying party the credential is scoped to; every look-up filters on it.
    rp_id              text        NOT NULL CHECK (rp_id <> '' AND char_length(rp_id) <= 253),
    -- COSE_Key of the credential public key.
    public_key         bytea       NOT NULL CHECK (octet_length(public_key) BETWEEN 1 AND 4096),
    attestation_type   text        NOT NULL DEFAULT '' CHECK (char_length(attestation_type) <= 32),
    attestation_format text        NOT NULL DEFAULT '' CHECK (char_length(attestation_format) <= 32),
    -- Signature counter (§6.1.1): accepted assertions must carry a larger one,
    -- unless the authenticator keeps none (0 forever).
    sign_count         bigint      NOT NULL DEFAULT 0 CHECK (sign_count BETWEEN 0 AND 4294967295),
    -- Authenticator model; NULL when the authenticator sent none (all zero).
    aaguid             uuid,
    transports         text[]      NOT NULL DEFAULT '{}',
    -- Authenticator data flags of the credential record: UV is latched once
    -- set (uvInitialized), BE never changes, BS follows the last assertion.
    user_present       boolean     NOT NULL DEFAULT false,
    user_verified      boolean     NOT NULL DEFAULT false,
    backup_eligible    boolean     NOT NULL DEFAULT false,
    backup_state       boolean     NOT NULL DEFAULT false CHECK (backup_eligible OR NOT backup_state),
    -- A label the user chose ("Work laptop").
    name               text        NOT NULL DEFAULT '' CHECK (char_length(name) <= 255),
    created_at         timestamptz NOT NULL DEFAULT now(),
    last_used_at       timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id, rp_id);
CREATE TRIGGER webauthn_credentials_set_updated_at BEFORE UPDATE ON webauthn_credentials
    FOR EACH ROW EXECUTE FUNCTION keyflow_set_updated_at();
