-- OAuth2 provider extensions (issue 4): JWT client authentication
-- (private_key_jwt and client_secret_jwt: RFC 7523 §2.2, OpenID Connect
-- Core §9), the client metadata of the JWT bearer grant (RFC 7523 §2.1),
-- and device authorization requests (RFC 8628).
--
-- As in 00003, no secret is stored in the clear: the client secret a
-- client_secret_jwt client signs with is kept sealed (AES-256-GCM under a
-- key derived from the application's secret pepper), because verifying an
-- HMAC needs the secret itself; the keyed hash stays for the other methods.
-- Device codes are SHA-256 hashes.

-- +goose Up

ALTER TABLE oauth2_clients
    -- token_endpoint_auth_method (RFC 7591 §2); '' means the secret methods
    -- for confidential clients and none for public ones, as before.
    ADD COLUMN token_endpoint_auth_method text NOT NULL DEFAULT ''
        CHECK (token_endpoint_auth_method IN ('', 'client_secret_basic', 'client_secret_post',
            'client_secret_jwt', 'private_key_jwt', 'none')),
    -- The only algorithm accepted for client assertions, '' for any allowed one.
    ADD COLUMN token_endpoint_auth_signing_alg text NOT NULL DEFAULT ''
        CHECK (char_length(token_endpoint_auth_signing_alg) <= 16),
    -- The client's public keys for private_key_jwt: an inline JWK set, or
    -- where to fetch it (never both).
    ADD COLUMN jwks jsonb,
    ADD COLUMN jwks_uri text NOT NULL DEFAULT '' CHECK (char_length(jwks_uri) <= 2048),
    -- nonce ‖ AES-256-GCM(secret) ‖ tag, for client_secret_jwt only.
    ADD COLUMN secret_sealed bytea,
    -- JWT bearer grant: the issuers whose assertions the client may
    -- exchange, as a JSON array of {"issuer", "jwks" or "jwks_uri",
    -- "subject_type": "username" | "id"}.
    ADD COLUMN jwt_bearer_issuers jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(jwt_bearer_issuers) = 'array'),
    ADD CONSTRAINT oauth2_clients_jwks_or_uri CHECK (jwks IS NULL OR jwks_uri = '');

-- A private_key_jwt client is confidential without a secret.
ALTER TABLE oauth2_clients DROP CONSTRAINT oauth2_clients_secret_iff_confidential;
ALTER TABLE oauth2_clients ADD CONSTRAINT oauth2_clients_secret_iff_confidential
    CHECK (public = (secret_hash IS NULL) OR (NOT public AND token_endpoint_auth_method = 'private_key_jwt'));

-- jti values of client assertions already used, kept until the assertion
-- expires (RFC 7523 §3 item 7: single use).
CREATE TABLE oauth2_assertion_jtis (
    client_id  text        NOT NULL REFERENCES oauth2_clients (client_id) ON DELETE CASCADE,
    jti        text        NOT NULL CHECK (jti <> '' AND char_length(jti) <= 255),
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX oauth2_assertion_jtis_expires_at_idx ON oauth2_assertion_jtis (expires_at);

-- Device authorization requests (RFC 8628). The device polls with the
-- device code (stored hashed); the user enters the user code on the
-- verification page, logs in, and approves (a grant is created) or denies.
CREATE TABLE oauth2_device_codes (
    device_code_hash bytea       PRIMARY KEY CHECK (octet_length(device_code_hash) = 32),
    -- Normalised (upper case, no separators); unique while the row lives.
    user_code        text        NOT NULL UNIQUE CHECK (user_code <> '' AND char_length(user_code) <= 32),
    client_id        text        NOT NULL REFERENCES oauth2_clients (client_id) ON DELETE CASCADE,
    scope            text        NOT NULL DEFAULT '',
    status           text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'denied', 'redeemed')),
    -- Set at approval.
    grant_id         text        REFERENCES oauth2_grants (grant_id) ON DELETE CASCADE,
    -- Minimum polling interval; slow_down adds five seconds (RFC 8628 §3.5).
    interval_seconds integer     NOT NULL CHECK (interval_seconds > 0),
    last_polled_at   timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    CONSTRAINT oauth2_device_codes_grant_iff_approved CHECK ((grant_id IS NOT NULL) = (status IN ('approved', 'redeemed')))
);
CREATE INDEX oauth2_device_codes_expires_at_idx ON oauth2_device_codes (expires_at);
CREATE INDEX oauth2_device_codes_grant_id_idx ON oauth2_device_codes (grant_id) WHERE grant_id IS NOT NULL;
