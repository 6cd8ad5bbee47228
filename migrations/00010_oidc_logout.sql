-- OpenID Connect logout (issue 4): the client metadata of RP-Initiated
-- Logout 1.0, Back-Channel Logout 1.0 and Front-Channel Logout 1.0.

-- +goose Up

ALTER TABLE oauth2_clients
    -- Where the end-session endpoint may send the browser after logout
    -- (post_logout_redirect_uri), compared exactly.
    ADD COLUMN post_logout_redirect_uris text[] NOT NULL DEFAULT '{}',
    -- Back-Channel Logout §2.2: where Logout Tokens are POSTed, '' for none,
    -- and whether they must carry sid.
    ADD COLUMN backchannel_logout_uri text NOT NULL DEFAULT ''
        CHECK (char_length(backchannel_logout_uri) <= 2048),
    ADD COLUMN backchannel_logout_session_required boolean NOT NULL DEFAULT false,
    -- Front-Channel Logout §2: the page the OP renders in an iframe at
    -- logout, '' for none, and whether it gets iss and sid.
    ADD COLUMN frontchannel_logout_uri text NOT NULL DEFAULT ''
        CHECK (char_length(frontchannel_logout_uri) <= 2048),
    ADD COLUMN frontchannel_logout_session_required boolean NOT NULL DEFAULT false;
