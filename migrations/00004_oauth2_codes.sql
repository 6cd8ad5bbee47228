-- OAuth2 / OpenID Connect provider, authorization code flow (issue 4):
-- client settings for the browser flows, grants (one per completed
-- authorization), authorization codes, and the link from tokens to the
-- grant they belong to, so that a replayed code or refresh token can revoke
-- everything issued from it (RFC 6749 §4.1.2, OAuth 2.0 Security BCP §4.14).
--
-- As in 00003, nothing secret is stored in the clear: codes and refresh
-- tokens are SHA-256 hashes.

-- +goose Up

-- Client settings for the authorization endpoint. Defaults keep existing
-- clients working as before.
ALTER TABLE oauth2_clients
    -- Allowed response_type values (space-separated combinations as in OAuth
    -- 2.0 Multiple Response Types, normalised); empty means derived from
    -- grant_types ("code" for authorization_code, the implicit ones for implicit).
    ADD COLUMN response_types text[] NOT NULL DEFAULT '{}',
    -- PKCE (RFC 7636) required even for confidential clients; public clients
    -- always need it.
    ADD COLUMN pkce_required boolean NOT NULL DEFAULT false,
    -- Whether the "plain" challenge method is accepted (S256 always is).
    ADD COLUMN pkce_allow_plain boolean NOT NULL DEFAULT false,
    -- ID token signing algorithm; '' means signing_alg.
    ADD COLUMN id_token_signing_alg text NOT NULL DEFAULT ''
        CHECK (id_token_signing_alg IN ('', 'ES256', 'RS256', 'EdDSA')),
    ADD COLUMN id_token_lifetime_seconds integer NOT NULL DEFAULT 3600
        CHECK (id_token_lifetime_seconds > 0),
    -- Lifetime of a refresh token family: rotation keeps the first expiry.
    ADD COLUMN refresh_token_lifetime_seconds integer NOT NULL DEFAULT 86400
        CHECK (refresh_token_lifetime_seconds > 0),
    -- First-party clients skip the consent page.
    ADD COLUMN skip_consent boolean NOT NULL DEFAULT false;

-- A grant is one completed authorization: the authenticated subject, what
-- was granted, and the facts the ID token and userinfo report. Every code,
-- refresh token and access token issued from it points back to it, so
-- revoking the grant revokes them all.
CREATE TABLE oauth2_grants (
    grant_id   text        PRIMARY KEY CHECK (grant_id <> '' AND char_length(grant_id) <= 64),
    client_id  text        NOT NULL REFERENCES oauth2_clients (client_id) ON DELETE CASCADE,
    subject    text        NOT NULL CHECK (subject <> ''),
    scope      text        NOT NULL DEFAULT '',
    -- OpenID Connect claims (already mapped from local claims and filtered by
    -- scope) for ID tokens and userinfo.
    claims     jsonb       NOT NULL DEFAULT '{}',
    acr        text        NOT NULL DEFAULT '',
    amr        text[]      NOT NULL DEFAULT '{}',
    auth_time  timestamptz NOT NULL,
    -- The SSO session id (OIDC sid), '' when none.
    session_id text        NOT NULL DEFAULT '',
    nonce      text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    -- After this nothing issued from the grant is valid; rows are then deleted.
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX oauth2_grants_client_id_idx ON oauth2_grants (client_id);
CREATE INDEX oauth2_grants_expires_at_idx ON oauth2_grants (expires_at);
CREATE INDEX oauth2_grants_session_id_idx ON oauth2_grants (session_id) WHERE session_id <> '';

-- Authorization codes, by the SHA-256 of the code. Single use: used_at is
-- set by the one exchange that succeeds.
CREATE TABLE oauth2_codes (
    code_hash             bytea       PRIMARY KEY CHECK (octet_length(code_hash) = 32),
    grant_id              text        NOT NULL REFERENCES oauth2_grants (grant_id) ON DELETE CASCADE,
    client_id             text        NOT NULL,
    -- The redirect_uri parameter of the authorization request, '' when it was
    -- omitted (RFC 6749 §4.1.3 compares it only when it was sent).
    redirect_uri          text        NOT NULL DEFAULT '',
    code_challenge        text        NOT NULL DEFAULT '',
    code_challenge_method text        NOT NULL DEFAULT '' CHECK (code_challenge_method IN ('', 'S256', 'plain')),
    issued_at             timestamptz NOT NULL,
    expires_at            timestamptz NOT NULL,
    used_at               timestamptz
);
CREATE INDEX oauth2_codes_grant_id_idx ON oauth2_codes (grant_id);
CREATE INDEX oauth2_codes_expires_at_idx ON oauth2_codes (expires_at);

-- Opaque tokens issued from a grant (refresh tokens always are).
ALTER TABLE oauth2_tokens
    ADD COLUMN grant_id text REFERENCES oauth2_grants (grant_id) ON DELETE CASCADE;
CREATE INDEX oauth2_tokens_grant_id_idx ON oauth2_tokens (grant_id) WHERE grant_id IS NOT NULL;

-- JWT access tokens issued from a grant, by jti: revoking the grant copies
-- them into oauth2_revoked_jtis; userinfo finds the grant's claims through it.
CREATE TABLE oauth2_grant_jtis (
    jti        text        PRIMARY KEY CHECK (jti <> '' AND char_length(jti) <= 255),
    grant_id   text        NOT NULL REFERENCES oauth2_grants (grant_id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);
CREATE INDEX oauth2_grant_jtis_grant_id_idx ON oauth2_grant_jtis (grant_id);
