-- The binding of a SAML service provider's single logout service: the IdP sends its
-- LogoutRequests and LogoutResponses there over HTTP-POST or HTTP-Redirect (an SP may offer
-- only the one).

-- +goose Up

ALTER TABLE saml_service_providers
    ADD COLUMN slo_binding text NOT NULL DEFAULT 'POST' CHECK (slo_binding IN ('POST', 'REDIRECT'));
