-- SAML single logout and the HTTP-Artifact binding (issue 6).

-- +goose Up

-- Single logout in progress: the IdP sends LogoutRequests to the session's
-- service providers one after the other through the browser. state is the
-- front-end's JSON (who asked, who is left, who failed); pending_request_id
-- is the ID of the LogoutRequest out for an answer, which the
-- LogoutResponse's InResponseTo must name (NULL between steps).
CREATE TABLE saml_logouts (
    id                 uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id             uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    state              jsonb       NOT NULL,
    pending_request_id text        UNIQUE CHECK (char_length(pending_request_id) <= 256),
    expires_at         timestamptz NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX saml_logouts_expires_at_idx ON saml_logouts (expires_at);

-- Artifacts issued with the HTTP-Artifact binding (saml-bindings §3.6): the
-- message handle of a type 0x0004 artifact, the service provider that may
-- resolve it, and the Response, sealed by the front-end. Single use, short
-- lived.
CREATE TABLE saml_artifacts (
    handle       bytea       PRIMARY KEY CHECK (octet_length(handle) = 20),
    org_id       uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    sp_entity_id text        NOT NULL,
    message      bytea       NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX saml_artifacts_expires_at_idx ON saml_artifacts (expires_at);
