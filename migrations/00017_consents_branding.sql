-- Per-user consent, pending browser interactions and branding preferences
-- (issue 4, items 2, 4 and 6).

-- +goose Up

-- The scopes a subject granted an OAuth2 client (WSO2's OIDC consent,
-- Keycloak's user consent). A later authorization request for scopes
-- within the grant skips the consent page; approving more scopes widens it.
CREATE TABLE oauth2_consents (
    org_id     uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- The token subject (the local user id, or a federated subject).
    subject    text        NOT NULL CHECK (subject <> '' AND char_length(subject) <= 255),
    -- The local user, NULL for a federated subject; deleting the user drops
    -- the grant.
    user_id    uuid        REFERENCES users (id) ON DELETE CASCADE,
    client_id  text        NOT NULL REFERENCES oauth2_clients (client_id) ON DELETE CASCADE,
    scopes     text[]      NOT NULL DEFAULT '{}',
    granted_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, subject, client_id)
);
CREATE INDEX oauth2_consents_user_id_idx ON oauth2_consents (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX oauth2_consents_client_id_idx ON oauth2_consents (client_id);

-- A page the browser flow shows between requests once the login workflow
-- is out of the picture (the consent page after a finished login, the
-- account chooser before one starts): what the answer needs, for a few
-- minutes, used once. csrf_hash is the SHA-256 of the double-submit token
-- the browser holds in a cookie, so only that browser can answer.
CREATE TABLE browser_interactions (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    kind       text        NOT NULL CHECK (kind <> '' AND char_length(kind) <= 32),
    csrf_hash  bytea       NOT NULL CHECK (octet_length(csrf_hash) = 32),
    data       jsonb       NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX browser_interactions_expires_at_idx ON browser_interactions (expires_at);

-- WSO2's branding preferences (/api/server/v1/branding-preference): the
-- look of the login, consent, error and logout pages per organization
-- (type ORG) or application (type APP, name = the application id). The
-- preference is the JSON the API received, returned as is.
CREATE TABLE branding_preferences (
    org_id         uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    type           text        NOT NULL CHECK (type IN ('ORG', 'APP')),
    name           text        NOT NULL CHECK (name <> '' AND char_length(name) <= 255),
    locale         text        NOT NULL CHECK (locale <> '' AND char_length(locale) <= 32),
    application_id uuid        REFERENCES applications (id) ON DELETE CASCADE,
    preference     jsonb       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, type, name, locale),
    CHECK ((type = 'APP') = (application_id IS NOT NULL))
);
