-- SAML back-channel single logout (saml-bindings §3.2, SOAP binding): a service provider's
-- single logout service may take the IdP's LogoutRequests over SOAP, sent by the IdP itself
-- rather than through the browser (WSO2's logoutMethod BACKCHANNEL). Existing rows keep
-- their binding; the column default stays 'POST' (new applications get SOAP from the API).

-- +goose Up

ALTER TABLE saml_service_providers
    DROP CONSTRAINT IF EXISTS saml_service_providers_slo_binding_check,
    ADD CONSTRAINT saml_service_providers_slo_binding_check CHECK (slo_binding IN ('POST', 'REDIRECT', 'SOAP'));
