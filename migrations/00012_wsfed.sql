-- WS-Federation passive requestor profile (issue 6): the relying parties
-- (the WS-Federation inbound configuration of an application). The tokens
-- are signed with the tenant's SAML signing key (saml_signing_keys).

-- +goose Up

-- Relying parties: the realm (wtrealm) is unique per organization; a
-- wreply is honoured only when it equals one of reply_urls.
CREATE TABLE wsfed_relying_parties (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id            uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    application_id    uuid        NOT NULL UNIQUE REFERENCES applications (id) ON DELETE CASCADE,
    realm             text        NOT NULL CHECK (realm <> '' AND char_length(realm) <= 1024),
    -- Where tokens may be posted, compared exactly; at least one.
    reply_urls        text[]      NOT NULL CHECK (cardinality(reply_urls) > 0),
    -- The reply of a request without wreply ('' for reply_urls[1]).
    default_reply_url text        NOT NULL DEFAULT '',
    -- Where sign-out may send the browser, besides reply_urls ('' for none).
    logout_reply_url  text        NOT NULL DEFAULT '' CHECK (char_length(logout_reply_url) <= 2048),
    -- urn:oasis:names:tc:SAML:1.0:assertion or urn:oasis:names:tc:SAML:2.0:assertion.
    token_type        text        NOT NULL DEFAULT 'urn:oasis:names:tc:SAML:1.0:assertion'
        CHECK (token_type IN ('urn:oasis:names:tc:SAML:1.0:assertion', 'urn:oasis:names:tc:SAML:2.0:assertion')),
    -- local claim URI → claim type URI.
    claim_mapping     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    name_id_format    text        NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT wsfed_relying_parties_realm_unique UNIQUE (org_id, realm),
    CONSTRAINT wsfed_relying_parties_default_reply CHECK (default_reply_url = '' OR default_reply_url = ANY (reply_urls))
);
CREATE TRIGGER wsfed_relying_parties_set_updated_at BEFORE UPDATE ON wsfed_relying_parties
    FOR EACH ROW EXECUTE FUNCTION keyflow_set_updated_at();
