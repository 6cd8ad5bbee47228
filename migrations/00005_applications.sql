-- Applications (service providers): what a login needs per client. The
-- authentication sequence is stored in WSO2's authenticationSequence shape
-- (type, steps[{id, options[{idp, authenticator}]}], subjectStepId,
-- attributeStepId, script) so the management API can store and return it
-- as sent.
--
-- An application may have an OAuth2 client (its inbound OIDC
-- configuration); SAML and WS-Fed applications will add their own columns.

-- +goose Up

CREATE TABLE applications (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id        uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name          text        NOT NULL CHECK (name <> '' AND char_length(name) <= 255),
    -- The application's OAuth2 client; NULL for applications without one.
    oauth2_client_id text     UNIQUE REFERENCES oauth2_clients (client_id) ON DELETE SET NULL,
    -- WSO2 authenticationSequence (without requestPathAuthenticators).
    auth_sequence jsonb       NOT NULL DEFAULT '{"type":"DEFAULT","steps":[]}'::jsonb,
    -- advancedConfigurations.enableAPIBasedAuthentication: app-native
    -- authentication (/oauth2/authorize?response_mode=direct) is allowed.
    api_based_authentication boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT applications_name_unique UNIQUE (org_id, name)
);
CREATE TRIGGER applications_set_updated_at BEFORE UPDATE ON applications
    FOR EACH ROW EXECUTE FUNCTION keyflow_set_updated_at();
