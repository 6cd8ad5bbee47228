-- Pushed Authorization Requests (RFC 9126, issue 4). A client pushes the
-- parameters of an authorization request to /oauth2/par and gets a
-- request_uri (urn:ietf:params:oauth:request_uri:<random>) to send to the
-- authorization endpoint instead. Only the SHA-256 of the random part is
-- stored; a row is used once (deleted when used) and lives about a minute.

-- +goose Up

CREATE TABLE oauth2_pushed_requests (
    request_hash bytea       PRIMARY KEY CHECK (octet_length(request_hash) = 32),
    client_id    text        NOT NULL REFERENCES oauth2_clients (client_id) ON DELETE CASCADE,
    -- The validated authorization parameters (a request object already
    -- verified and merged), as a JSON object of strings.
    params       jsonb       NOT NULL CHECK (jsonb_typeof(params) = 'object'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX oauth2_pushed_requests_expires_at_idx ON oauth2_pushed_requests (expires_at);
