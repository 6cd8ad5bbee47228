-- Dynamic Client Registration (issue 4; RFC 7591 and RFC 7592): the
-- registrations made through /api/identity/oauth2/dcr/v1.1/register. Each
-- is an application with its OAuth2 client (created in the same
-- transaction) plus the registration access token with which the client
-- reads, replaces and deletes its own registration (RFC 7592 §1.1).
--
-- As everywhere, no secret is stored in the clear: token_hash is an
-- HMAC-SHA256 of the (256-bit, server-generated) token under a key the API
-- derives from the client secret pepper, which is never stored here.

-- +goose Up

CREATE TABLE dcr_registrations (
    client_id      text        PRIMARY KEY REFERENCES oauth2_clients (client_id) ON DELETE CASCADE,
    application_id uuid        NOT NULL UNIQUE REFERENCES applications (id) ON DELETE CASCADE,
    token_hash     bytea       NOT NULL CHECK (octet_length(token_hash) = 32),
    created_at     timestamptz NOT NULL DEFAULT now()
);
