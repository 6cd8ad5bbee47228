-- API resources (WSO2 IS 7): an organization's own APIs, each identified by
-- its identifier (the audience of the access tokens issued for it) and
-- offering scopes. A scope name is unique in the organization, so a role
-- permission (role_permissions.permission) names at most one scope.
-- Applications are authorized for API resources and, per API resource, for
-- some of its scopes, under a policy: RBAC (a user gets a scope only through
-- a role holding it) or NO POLICY (any user of the application gets it).

-- +goose Up

CREATE TABLE api_resources (
    id                     uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                 uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    identifier             text        NOT NULL CHECK (identifier <> '' AND char_length(identifier) <= 255),
    name                   text        NOT NULL CHECK (name <> '' AND char_length(name) <= 255),
    description            text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 1024),
    requires_authorization boolean     NOT NULL DEFAULT true,
    type                   text        NOT NULL DEFAULT 'BUSINESS' CHECK (type IN ('BUSINESS', 'SYSTEM')),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_resources_identifier_unique UNIQUE (org_id, identifier),
    CONSTRAINT api_resources_org_id_id_key UNIQUE (org_id, id)
);
CREATE TRIGGER api_resources_set_updated_at BEFORE UPDATE ON api_resources
    FOR EACH ROW EXECUTE FUNCTION keyflow_set_updated_at();

-- The scopes of an API resource; org_id repeats the resource's so that the
-- name is unique in the organization.
CREATE TABLE api_resource_scopes (
    id              uuid NOT NULL PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL,
    api_resource_id uuid NOT NULL,
    name            text NOT NULL CHECK (name ~ '^[A-Za-z0-9_:./-]{1,255}$'),
    display_name    text NOT NULL CHECK (display_name <> '' AND char_length(display_name) <= 255),
    description     text NOT NULL DEFAULT '' CHECK (char_length(description) <= 1024),
    CONSTRAINT api_resource_scopes_resource_fkey FOREIGN KEY (org_id, api_resource_id)
        REFERENCES api_resources (org_id, id) ON DELETE CASCADE,
    CONSTRAINT api_resource_scopes_name_unique UNIQUE (org_id, name),
    CONSTRAINT api_resource_scopes_resource_id_key UNIQUE (api_resource_id, id)
);

-- An application's authorization for an API resource. The store checks that
-- both belong to the same organization.
CREATE TABLE application_authorized_apis (
    application_id  uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    api_resource_id uuid NOT NULL REFERENCES api_resources (id) ON DELETE CASCADE,
    policy          text NOT NULL CHECK (policy IN ('RBAC', 'NO POLICY')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (application_id, api_resource_id)
);
CREATE INDEX application_authorized_apis_resource_idx ON application_authorized_apis (api_resource_id);

-- The scopes of an authorized API resource the application may obtain; gone
-- with the authorization or the scope.
CREATE TABLE application_authorized_scopes (
    application_id  uuid NOT NULL,
    api_resource_id uuid NOT NULL,
    scope_id        uuid NOT NULL,
    PRIMARY KEY (application_id, scope_id),
    FOREIGN KEY (application_id, api_resource_id)
        REFERENCES application_authorized_apis (application_id, api_resource_id) ON DELETE CASCADE,
    FOREIGN KEY (api_resource_id, scope_id)
        REFERENCES api_resource_scopes (api_resource_id, id) ON DELETE CASCADE
);
CREATE INDEX application_authorized_scopes_scope_idx ON application_authorized_scopes (scope_id);
