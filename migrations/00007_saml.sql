-- SAML 2.0 identity provider (issue 6): the IdP's signing keys per tenant,
-- the service providers (the SAML inbound configuration of an application)
-- and the ids of AuthnRequests already answered (replay protection).
--
-- Private keys are sealed with a key-encryption key only the application
-- knows (AES-256-GCM, kek_id names it), as for oauth2_signing_keys.

-- +goose Up

-- One RSA signing key and its self-signed certificate per tenant (root
-- organization). The certificate is what the IdP metadata publishes.
CREATE TABLE saml_signing_keys (
    org_id      uuid        PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    -- DER of the X.509 certificate.
    certificate bytea       NOT NULL CHECK (octet_length(certificate) > 0),
    -- nonce ‖ AES-256-GCM(PKCS#8 DER) ‖ tag, sealed with key kek_id.
    private_key bytea       NOT NULL CHECK (octet_length(private_key) > 0),
    kek_id      text        NOT NULL CHECK (kek_id <> ''),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Service providers: the SAML settings of an application. The entity id is
-- unique per organization (the Issuer of an AuthnRequest names the SP).
CREATE TABLE saml_service_providers (
    id                      uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                  uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    application_id          uuid        NOT NULL UNIQUE REFERENCES applications (id) ON DELETE CASCADE,
    entity_id               text        NOT NULL CHECK (entity_id <> '' AND char_length(entity_id) <= 1024),
    -- [{"url","binding","index","default"}], in metadata order.
    acs                     jsonb       NOT NULL DEFAULT '[]'::jsonb,
    slo_url                 text        NOT NULL DEFAULT '',
    slo_response_url        text        NOT NULL DEFAULT '',
    -- PEM certificates the SP signs requests with.
    signing_certificates    text[]      NOT NULL DEFAULT '{}',
    -- PEM certificate assertions are encrypted to ('' when none).
    encryption_certificate  text        NOT NULL DEFAULT '',
    name_id_format          text        NOT NULL DEFAULT '',
    sign_response           boolean     NOT NULL DEFAULT true,
    sign_assertion          boolean     NOT NULL DEFAULT true,
    signature_algorithm     text        NOT NULL DEFAULT '',
    digest_algorithm        text        NOT NULL DEFAULT '',
    -- SHA-1 signatures and digests are refused unless this is set.
    allow_sha1              boolean     NOT NULL DEFAULT false,
    encrypt_assertion       boolean     NOT NULL DEFAULT false,
    encryption_algorithm    text        NOT NULL DEFAULT '',
    key_transport_algorithm text        NOT NULL DEFAULT '',
    require_signed_requests boolean     NOT NULL DEFAULT false,
    -- local claim URI → SAML attribute name.
    attribute_mapping       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    audiences               text[]      NOT NULL DEFAULT '{}',
    idp_initiated           boolean     NOT NULL DEFAULT false,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT saml_service_providers_entity_unique UNIQUE (org_id, entity_id),
    CONSTRAINT saml_service_providers_encryption_cert CHECK (NOT encrypt_assertion OR encryption_certificate <> '')
);
CREATE TRIGGER saml_service_providers_set_updated_at BEFORE UPDATE ON saml_service_providers
    FOR EACH ROW EXECUTE FUNCTION keyflow_set_updated_at();

-- AuthnRequest ids seen, per issuer, until the request would have expired
-- anyway. Expired rows are swept by the inserts.
CREATE TABLE saml_request_ids (
    issuer      text        NOT NULL,
    request_id  text        NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (issuer, request_id)
);
CREATE INDEX saml_request_ids_expires_at_idx ON saml_request_ids (expires_at);
