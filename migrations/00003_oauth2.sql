-- OAuth2 / OpenID Connect provider: signing keys, clients, opaque tokens and
-- revoked JWT ids (issue 4).
--
-- Nothing here holds a secret in the clear: private keys are sealed with a
-- key-encryption key that only the application knows (AES-256-GCM, kek_id
-- names it), client secrets are keyed hashes, opaque tokens are SHA-256
-- hashes.

-- +goose Up

-- Signing keys for JWTs (access tokens, later ID tokens). Each algorithm has
-- its own rotation chain: at most one 'next' (published ahead of use, so
-- verifiers caching the JWKS already know it when it starts signing), one
-- 'current' (signs) and one 'previous' (published so tokens it signed still
-- verify). Rotation, one transaction, deletes previous and moves
-- current → previous, next → current, a new key → next.
CREATE TABLE oauth2_signing_keys (
    kid          text        PRIMARY KEY CHECK (kid <> '' AND char_length(kid) <= 64),
    alg          text        NOT NULL CHECK (alg IN ('ES256', 'RS256', 'EdDSA')),
    state        text        NOT NULL CHECK (state IN ('next', 'current', 'previous')),
    -- The public JWK as JSON (served by /oauth2/jwks without decrypting anything).
    public_jwk   jsonb       NOT NULL,
    -- nonce ‖ AES-256-GCM(PKCS#8 DER) ‖ tag, sealed with key kek_id.
    private_key  bytea       NOT NULL,
    kek_id       text        NOT NULL CHECK (kek_id <> ''),
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- When the key became current, and when it stopped being current.
    activated_at timestamptz,
    retired_at   timestamptz
);
CREATE UNIQUE INDEX oauth2_signing_keys_one_current_idx ON oauth2_signing_keys (alg) WHERE state = 'current';
CREATE UNIQUE INDEX oauth2_signing_keys_one_next_idx ON oauth2_signing_keys (alg) WHERE state = 'next';
CREATE UNIQUE INDEX oauth2_signing_keys_one_previous_idx ON oauth2_signing_keys (alg) WHERE state = 'previous';

-- OAuth2 clients: the inbound OIDC configuration of an application. Minimal
-- for now; the applications table and management API will reference it.
CREATE TABLE oauth2_clients (
    client_id             text        PRIMARY KEY CHECK (client_id <> '' AND char_length(client_id) <= 255),
    org_id                uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name                  text        NOT NULL DEFAULT '' CHECK (char_length(name) <= 255),
    -- Keyed hash of the secret (format owned by the application); NULL for public clients.
    secret_hash           text,
    public                boolean     NOT NULL,
    grant_types           text[]      NOT NULL DEFAULT '{}',
    -- Compared exactly (OAuth 2.0 Security BCP §4.1.3).
    redirect_uris         text[]      NOT NULL DEFAULT '{}',
    -- Scopes the client may be granted; empty means none beyond those every client gets.
    scopes                text[]      NOT NULL DEFAULT '{}',
    -- The aud of its access tokens; empty means the client id.
    audiences             text[]      NOT NULL DEFAULT '{}',
    token_format          text        NOT NULL DEFAULT 'jwt' CHECK (token_format IN ('jwt', 'opaque')),
    access_token_lifetime_seconds integer NOT NULL CHECK (access_token_lifetime_seconds > 0),
    signing_alg           text        NOT NULL CHECK (signing_alg IN ('ES256', 'RS256', 'EdDSA')),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT oauth2_clients_secret_iff_confidential CHECK (public = (secret_hash IS NULL))
);
CREATE INDEX oauth2_clients_org_id_idx ON oauth2_clients (org_id);
CREATE TRIGGER oauth2_clients_set_updated_at BEFORE UPDATE ON oauth2_clients
    FOR EACH ROW EXECUTE FUNCTION keyflow_set_updated_at();

-- Opaque tokens, found by the SHA-256 of the token. Deleting the client deletes
-- its tokens.
CREATE TABLE oauth2_tokens (
    token_hash  bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    kind        text        NOT NULL CHECK (kind IN ('access_token', 'refresh_token')),
    -- A stable public id (the jti an equivalent JWT would have), for audit and logs.
    token_id    text        NOT NULL,
    client_id   text        NOT NULL REFERENCES oauth2_clients (client_id) ON DELETE CASCADE,
    subject     text        NOT NULL,
    scope       text        NOT NULL DEFAULT '',
    audiences   text[]      NOT NULL DEFAULT '{}',
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX oauth2_tokens_expires_at_idx ON oauth2_tokens (expires_at);
CREATE INDEX oauth2_tokens_client_id_idx ON oauth2_tokens (client_id);

-- Revoked JWTs by jti, kept until they expire anyway. Introspection keeps an
-- in-memory copy, refreshed by revoked_at, so verifying a JWT needs no query.
CREATE TABLE oauth2_revoked_jtis (
    jti        text        PRIMARY KEY CHECK (jti <> '' AND char_length(jti) <= 255),
    client_id  text        NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX oauth2_revoked_jtis_revoked_at_idx ON oauth2_revoked_jtis (revoked_at);
CREATE INDEX oauth2_revoked_jtis_expires_at_idx ON oauth2_revoked_jtis (expires_at);
