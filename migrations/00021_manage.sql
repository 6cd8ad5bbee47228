-- Management API (issue 5 item 3): identity providers (WSO2 "connections"),
-- claim dialects with local and external claims, and an index for reading the
-- audit trail.
--
-- identity_providers keeps WSO2's IdentityProviderPOSTRequest shape: the
-- scalar members as columns, the nested ones (certificate, claims, roles,
-- groups, federatedAuthenticators, provisioning) as JSON. Secret authenticator
-- properties (client secrets…) arrive in the JSON already sealed by the API
-- (AES-256-GCM under a key from configuration): this table never holds them
-- in clear.
--
-- Claims are per organization, as WSO2's are per tenant: local claims
-- (http://wso2.org/claims/…, the dialect every other one maps to) and
-- external claims of other dialects, each mapped to one local claim. A local
-- claim that external claims map to cannot be deleted (the foreign key
-- refuses it). Every organization gets WSO2's default local claims and the
-- OIDC and SCIM 2.0 dialects that Keyflow's own code uses
-- (api/oauth2/op/claims.go, api/scim/schema.go) when it is created (trigger),
-- and the existing ones get them here.

-- +goose Up

CREATE TABLE identity_providers (
    id                       uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                   uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name                     text        NOT NULL CHECK (name <> '' AND char_length(name) <= 255),
    description              text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 1024),
    image                    text        NOT NULL DEFAULT '' CHECK (char_length(image) <= 2048),
    template_id              text        NOT NULL DEFAULT '' CHECK (char_length(template_id) <= 255),
    is_enabled               boolean     NOT NULL DEFAULT true,
    is_primary               boolean     NOT NULL DEFAULT false,
    is_federation_hub        boolean     NOT NULL DEFAULT false,
    home_realm_identifier    text        NOT NULL DEFAULT '' CHECK (char_length(home_realm_identifier) <= 255),
    alias                    text        NOT NULL DEFAULT '' CHECK (char_length(alias) <= 2048),
    idp_issuer_name          text        NOT NULL DEFAULT '' CHECK (char_length(idp_issuer_name) <= 2048),
    certificate              jsonb       NOT NULL DEFAULT '{}',
    claims                   jsonb       NOT NULL DEFAULT '{}',
    roles                    jsonb       NOT NULL DEFAULT '{}',
    groups                   jsonb       NOT NULL DEFAULT '[]',
    federated_authenticators jsonb       NOT NULL DEFAULT '{}',
    provisioning             jsonb       NOT NULL DEFAULT '{}',
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT identity_providers_org_name_key UNIQUE (org_id, name)
);
CREATE TRIGGER identity_providers_set_updated_at BEFORE UPDATE ON identity_providers
    FOR EACH ROW EXECUTE FUNCTION keyflow_set_updated_at();

CREATE TABLE claim_dialects (
    org_id     uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- Renaming a dialect (WSO2's PUT) carries its external claims along.
    uri        text        NOT NULL CHECK (uri <> '' AND char_length(uri) <= 255),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, uri)
);

CREATE TABLE local_claims (
    org_id               uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    uri                  text        NOT NULL CHECK (uri <> '' AND char_length(uri) <= 255),
    display_name         text        NOT NULL CHECK (display_name <> '' AND char_length(display_name) <= 255),
    description          text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 1024),
    display_order        integer     NOT NULL DEFAULT 0,
    read_only            boolean     NOT NULL DEFAULT false,
    required             boolean     NOT NULL DEFAULT false,
    supported_by_default boolean     NOT NULL DEFAULT false,
    reg_ex               text        NOT NULL DEFAULT '' CHECK (char_length(reg_ex) <= 1024),
    -- [{"mappedAttribute": "...", "userstore": "PRIMARY"}, ...]
    attribute_mappings   jsonb       NOT NULL DEFAULT '[]',
    -- [{"key": "...", "value": "..."}, ...]
    properties           jsonb       NOT NULL DEFAULT '[]',
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, uri)
);
CREATE TRIGGER local_claims_set_updated_at BEFORE UPDATE ON local_claims
    FOR EACH ROW EXECUTE FUNCTION keyflow_set_updated_at();

CREATE TABLE external_claims (
    org_id           uuid        NOT NULL,
    dialect_uri      text        NOT NULL CHECK (dialect_uri <> 'http://wso2.org/claims'),
    uri              text        NOT NULL CHECK (uri <> '' AND char_length(uri) <= 255),
    mapped_local_uri text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, dialect_uri, uri),
    FOREIGN KEY (org_id, dialect_uri) REFERENCES claim_dialects (org_id, uri) ON DELETE CASCADE ON UPDATE CASCADE,
    -- No action on delete: a mapped local claim cannot be deleted.
    CONSTRAINT external_claims_mapped_local_fkey FOREIGN KEY (org_id, mapped_local_uri)
        REFERENCES local_claims (org_id, uri)
);
CREATE INDEX external_claims_mapped_local_idx ON external_claims (org_id, mapped_local_uri);
CREATE TRIGGER external_claims_set_updated_at BEFORE UPDATE ON external_claims
    FOR EACH ROW EXECUTE FUNCTION keyflow_set_updated_at();

-- The audit trail is read newest first, optionally by action.
CREATE INDEX audit_events_org_action_at_idx ON audit_events (org_id, action, at DESC);

-- +goose StatementBegin
CREATE FUNCTION keyflow_seed_claims(org uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO claim_dialects (org_id, uri) VALUES
        (org, 'http://wso2.org/claims'),
        (org, 'http://wso2.org/oidc/claim'),
        (org, 'urn:ietf:params:scim:schemas:core:2.0'),
        (org, 'urn:ietf:params:scim:schemas:core:2.0:User'),
        (org, 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'),
        (org, 'urn:scim:wso2:schema')
    ON CONFLICT DO NOTHING;

    INSERT INTO local_claims (org_id, uri, display_name, display_order, supported_by_default, required, read_only, attribute_mappings)
    SELECT org, 'http://wso2.org/claims/' || c.name, c.display, c.ord, c.def, c.req, c.ro,
        jsonb_build_array(jsonb_build_object('mappedAttribute', replace(c.name, 'identity/', ''), 'userstore', 'PRIMARY'))
    FROM (VALUES
        ('username', 'Username', 0, true, true, true),
        ('userid', 'User ID', 0, false, false, true),
        ('emailaddress', 'Email', 1, true, false, false),
        ('givenname', 'First Name', 2, true, false, false),
        ('lastname', 'Last Name', 3, true, false, false),
        ('fullname', 'Full Name', 4, false, false, false),
        ('middleName', 'Middle Name', 5, false, false, false),
        ('honorificPrefix', 'Honorific Prefix', 6, false, false, false),
        ('honorificSuffix', 'Honorific Suffix', 7, false, false, false),
        ('displayName', 'Display Name', 8, false, false, false),
        ('nickname', 'Nick Name', 9, false, false, false),
        ('url', 'URL', 10, false, false, false),
        ('photourl', 'Photo URL', 11, false, false, false),
        ('thumbnail', 'Thumbnail', 12, false, false, false),
        ('title', 'Title', 13, false, false, false),
        ('userType', 'User Type', 14, false, false, false),
        ('preferredLanguage', 'Preferred Language', 15, false, false, false),
        ('local', 'Locale', 16, false, false, false),
        ('timeZone', 'Time Zone', 17, false, false, false),
        ('gender', 'Gender', 18, false, false, false),
        ('dob', 'Birth Date', 19, false, false, false),
        ('mobile', 'Mobile', 20, true, false, false),
        ('mobileNumbers', 'Mobile Numbers', 21, false, false, false),
        ('emails.work', 'Emails - Work Email', 22, false, false, false),
        ('emails.home', 'Emails - Home Email', 23, false, false, false),
        ('emails.other', 'Emails - Other Email', 24, false, false, false),
        ('phoneNumbers.work', 'Phone Numbers - Work Phone', 25, false, false, false),
        ('phoneNumbers.home', 'Phone Numbers - Home Phone', 26, false, false, false),
        ('phoneNumbers.fax', 'Phone Numbers - Fax Number', 27, false, false, false),
        ('phoneNumbers.pager', 'Phone Numbers - Pager Number', 28, false, false, false),
        ('phoneNumbers.other', 'Phone Numbers - Other', 29, false, false, false),
        ('addresses.formatted', 'Address', 30, false, false, false),
        ('streetaddress', 'Street', 31, false, false, false),
        ('locality', 'Locality', 32, false, false, false),
        ('region', 'Region', 33, false, false, false),
        ('postalcode', 'Postal Code', 34, false, false, false),
        ('country', 'Country', 35, true, false, false),
        ('externalid', 'External ID', 36, false, false, false),
        ('employeeNumber', 'Employee Number', 37, false, false, false),
        ('costCenter', 'Cost Center', 38, false, false, false),
        ('organization', 'Organization', 39, false, false, false),
        ('division', 'Division', 40, false, false, false),
        ('department', 'Department', 41, false, false, false),
        ('managerId', 'Manager - ID', 42, false, false, false),
        ('manager', 'Manager - Display Name', 43, false, false, false),
        ('groups', 'Groups', 44, false, false, true),
        ('roles', 'Roles', 45, false, false, true),
        ('created', 'Created Time', 46, false, false, true),
        ('modified', 'Last Modified Time', 47, false, false, true),
        ('userSource', 'User Source', 48, false, false, false),
        ('userAccountType', 'User Account Type', 49, false, false, false),
        ('identity/emailVerified', 'Email Verified', 50, false, false, false),
        ('identity/phoneVerified', 'Phone Verified', 51, false, false, false),
        ('identity/askPassword', 'Ask Password', 52, false, false, false),
        ('identity/verifyEmail', 'Verify Email', 53, false, false, false),
        ('identity/accountLocked', 'Account Locked', 54, false, false, false),
        ('identity/accountDisabled', 'Account Disabled', 55, false, false, false)
    ) AS c (name, display, ord, def, req, ro)
    ON CONFLICT DO NOTHING;

    INSERT INTO external_claims (org_id, dialect_uri, uri, mapped_local_uri)
    SELECT org, m.dialect, m.uri, 'http://wso2.org/claims/' || m.local
    FROM (VALUES
        ('http://wso2.org/oidc/claim', 'name', 'fullname'),
        ('http://wso2.org/oidc/claim', 'given_name', 'givenname'),
        ('http://wso2.org/oidc/claim', 'family_name', 'lastname'),
        ('http://wso2.org/oidc/claim', 'middle_name', 'middleName'),
        ('http://wso2.org/oidc/claim', 'nickname', 'nickname'),
        ('http://wso2.org/oidc/claim', 'preferred_username', 'username'),
        ('http://wso2.org/oidc/claim', 'profile', 'url'),
        ('http://wso2.org/oidc/claim', 'picture', 'photourl'),
        ('http://wso2.org/oidc/claim', 'website', 'url'),
        ('http://wso2.org/oidc/claim', 'gender', 'gender'),
        ('http://wso2.org/oidc/claim', 'birthdate', 'dob'),
        ('http://wso2.org/oidc/claim', 'zoneinfo', 'timeZone'),
        ('http://wso2.org/oidc/claim', 'locale', 'local'),
        ('http://wso2.org/oidc/claim', 'updated_at', 'modified'),
        ('http://wso2.org/oidc/claim', 'email', 'emailaddress'),
        ('http://wso2.org/oidc/claim', 'email_verified', 'identity/emailVerified'),
        ('http://wso2.org/oidc/claim', 'phone_number', 'mobile'),
        ('http://wso2.org/oidc/claim', 'phone_number_verified', 'identity/phoneVerified'),
        ('http://wso2.org/oidc/claim', 'formatted', 'addresses.formatted'),
        ('http://wso2.org/oidc/claim', 'street_address', 'streetaddress'),
        ('http://wso2.org/oidc/claim', 'locality', 'locality'),
        ('http://wso2.org/oidc/claim', 'region', 'region'),
        ('http://wso2.org/oidc/claim', 'postal_code', 'postalcode'),
        ('http://wso2.org/oidc/claim', 'country', 'country'),
        ('http://wso2.org/oidc/claim', 'groups', 'groups'),
        ('http://wso2.org/oidc/claim', 'roles', 'roles'),
        ('urn:ietf:params:scim:schemas:core:2.0', 'urn:ietf:params:scim:schemas:core:2.0:id', 'userid'),
        ('urn:ietf:params:scim:schemas:core:2.0', 'urn:ietf:params:scim:schemas:core:2.0:externalId', 'externalid'),
        ('urn:ietf:params:scim:schemas:core:2.0', 'urn:ietf:params:scim:schemas:core:2.0:meta.created', 'created'),
        ('urn:ietf:params:scim:schemas:core:2.0', 'urn:ietf:params:scim:schemas:core:2.0:meta.lastModified', 'modified'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:userName', 'username'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:name.formatted', 'fullname'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:name.familyName', 'lastname'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:name.givenName', 'givenname'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:name.middleName', 'middleName'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:name.honorificPrefix', 'honorificPrefix'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:name.honorificSuffix', 'honorificSuffix'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:displayName', 'displayName'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:nickName', 'nickname'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:profileUrl', 'url'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:title', 'title'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:userType', 'userType'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:preferredLanguage', 'preferredLanguage'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:locale', 'local'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:timezone', 'timeZone'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:emails', 'emailaddress'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:emails.work', 'emails.work'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:emails.home', 'emails.home'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:emails.other', 'emails.other'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:phoneNumbers.mobile', 'mobile'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:phoneNumbers.work', 'phoneNumbers.work'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:phoneNumbers.home', 'phoneNumbers.home'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:phoneNumbers.fax', 'phoneNumbers.fax'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:phoneNumbers.pager', 'phoneNumbers.pager'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:phoneNumbers.other', 'phoneNumbers.other'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:photos.photo', 'photourl'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:photos.thumbnail', 'thumbnail'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:groups', 'groups'),
        ('urn:ietf:params:scim:schemas:core:2.0:User', 'urn:ietf:params:scim:schemas:core:2.0:User:roles', 'roles'),
        ('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber', 'employeeNumber'),
        ('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter', 'costCenter'),
        ('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization', 'organization'),
        ('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division', 'division'),
        ('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department', 'department'),
        ('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value', 'managerId'),
        ('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User', 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName', 'manager'),
        ('urn:scim:wso2:schema', 'urn:scim:wso2:schema:country', 'country'),
        ('urn:scim:wso2:schema', 'urn:scim:wso2:schema:dateOfBirth', 'dob'),
        ('urn:scim:wso2:schema', 'urn:scim:wso2:schema:mobileNumbers', 'mobileNumbers'),
        ('urn:scim:wso2:schema', 'urn:scim:wso2:schema:askPassword', 'identity/askPassword'),
        ('urn:scim:wso2:schema', 'urn:scim:wso2:schema:verifyEmail', 'identity/verifyEmail'),
        ('urn:scim:wso2:schema', 'urn:scim:wso2:schema:emailVerified', 'identity/emailVerified'),
        ('urn:scim:wso2:schema', 'urn:scim:wso2:schema:phoneVerified', 'identity/phoneVerified'),
        ('urn:scim:wso2:schema', 'urn:scim:wso2:schema:userSource', 'userSource'),
        ('urn:scim:wso2:schema', 'urn:scim:wso2:schema:userAccountType', 'userAccountType'),
        ('urn:scim:wso2:schema', 'urn:scim:wso2:schema:accountLocked', 'identity/accountLocked'),
        ('urn:scim:wso2:schema', 'urn:scim:wso2:schema:accountDisabled', 'identity/accountDisabled')
    ) AS m (dialect, uri, local)
    ON CONFLICT DO NOTHING;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION keyflow_seed_claims_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM keyflow_seed_claims(NEW.id);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER organizations_seed_claims AFTER INSERT ON organizations
    FOR EACH ROW EXECUTE FUNCTION keyflow_seed_claims_trigger();

SELECT keyflow_seed_claims(id) FROM organizations;
