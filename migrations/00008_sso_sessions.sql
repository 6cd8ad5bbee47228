-- SSO sessions (issue 3, item 4): what a browser's commonAuthId cookie
-- stands for. A later login from the same browser skips the steps the
-- session already satisfied, unless the request forces authentication.
--
-- The cookie carries a random token; only its SHA-256 is stored, so a
-- database read does not yield usable cookies. The session's public id
-- (the OIDC sid, SAML SessionIndex, the id scripts and My Account see) is a
-- separate UUID.

-- +goose Up

CREATE TABLE sso_sessions (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash      bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    org_id          uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- The local user, NULL for a federated subject that is not linked.
    user_id         uuid        REFERENCES users (id) ON DELETE CASCADE,
    subject         text        NOT NULL CHECK (subject <> ''),
    -- The authenticated steps (flows.AuthenticatedStep), opaque to the store.
    steps           jsonb       NOT NULL DEFAULT '[]',
    -- When the user first authenticated in this session (OIDC auth_time).
    auth_time       timestamptz NOT NULL,
    last_active_at  timestamptz NOT NULL,
    -- Idle and absolute ends; the session is void after either.
    idle_expires_at timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    user_agent      text        NOT NULL DEFAULT '' CHECK (char_length(user_agent) <= 512),
    ip              text        NOT NULL DEFAULT '' CHECK (char_length(ip) <= 64),
    created_at      timestamptz NOT NULL DEFAULT now(),
    terminated_at   timestamptz
);
CREATE INDEX sso_sessions_user_id_idx ON sso_sessions (user_id) WHERE terminated_at IS NULL;
CREATE INDEX sso_sessions_expires_at_idx ON sso_sessions (expires_at);

-- The applications a session logged into, for single logout fan-out
-- (OIDC front/back-channel, SAML SLO) and for My Account's session list.
CREATE TABLE sso_session_participants (
    session_id     uuid        NOT NULL REFERENCES sso_sessions (id) ON DELETE CASCADE,
    -- "oidc", "saml", "wsfed", "app-native".
    protocol       text        NOT NULL CHECK (protocol <> ''),
    -- The client id, SP entity id or realm.
    relying_party  text        NOT NULL CHECK (relying_party <> ''),
    application_id uuid        REFERENCES applications (id) ON DELETE CASCADE,
    -- The protocol's own session reference (SAML SessionIndex), '' if none.
    rp_session     text        NOT NULL DEFAULT '',
    first_at       timestamptz NOT NULL DEFAULT now(),
    last_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, protocol, relying_party)
);
