-- Application management API (issue 5): an application's description, and
-- the client secret of a newly created OAuth2 client kept — sealed — until
-- the first read of the application's OIDC inbound configuration, which is
-- where WSO2's Console shows it once.

-- +goose Up

ALTER TABLE applications
    ADD COLUMN description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 1024);

-- One pending secret per application, gone with the application or its
-- client. sealed is AES-256-GCM under a key the API derives from the client
-- secret pepper (never stored here); expires_at bounds how long it waits.
CREATE TABLE application_pending_secrets (
    application_id uuid        PRIMARY KEY REFERENCES applications (id) ON DELETE CASCADE,
    client_id      text        NOT NULL REFERENCES oauth2_clients (client_id) ON DELETE CASCADE,
    sealed         bytea       NOT NULL,
    expires_at     timestamptz NOT NULL
);
