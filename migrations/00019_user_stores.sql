-- Secondary user stores (LDAP / Active Directory) of an organization, WSO2
-- style: each is addressed by an upper-case domain ("EMPLOYEES/alice"); the
-- built-in store is PRIMARY and has no row here. bind_password is sealed
-- (AES-256-GCM) by the application before it reaches the database;
-- bind_password_key_id names the key that sealed it. claim_mappings maps local
-- claim URIs (http://wso2.org/claims/...) to directory attribute names.
--
-- Users found in such a store get a shadow row in users (user_store_domain =
-- the store's domain, no password_hash), so sessions, tokens, locks and
-- scripts work on them like on local users.

-- +goose Up

CREATE TABLE user_stores (
    id                    uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    domain                text        NOT NULL CHECK (domain ~ '^[A-Z0-9][A-Z0-9_.-]{0,63}$' AND domain <> 'PRIMARY'),
    type                  text        NOT NULL CHECK (type IN ('LDAP', 'AD')),
    description           text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 1024),
    read_only             boolean     NOT NULL DEFAULT true,
    disabled              boolean     NOT NULL DEFAULT false,
    connection_url        text        NOT NULL CHECK (connection_url ~ '^ldaps?://' AND char_length(connection_url) <= 2048),
    start_tls             boolean     NOT NULL DEFAULT false,
    bind_dn               text        NOT NULL DEFAULT '' CHECK (char_length(bind_dn) <= 1024),
    bind_password         bytea,
    bind_password_key_id  text,
    user_search_base      text        NOT NULL CHECK (user_search_base <> '' AND char_length(user_search_base) <= 1024),
    user_object_class     text        NOT NULL CHECK (user_object_class <> '' AND char_length(user_object_class) <= 255),
    username_attribute    text        NOT NULL CHECK (username_attribute <> '' AND char_length(username_attribute) <= 255),
    user_search_filter    text        NOT NULL DEFAULT '' CHECK (char_length(user_search_filter) <= 2048),
    group_search_base     text        NOT NULL DEFAULT '' CHECK (char_length(group_search_base) <= 1024),
    group_object_class    text        NOT NULL DEFAULT '' CHECK (char_length(group_object_class) <= 255),
    group_name_attribute  text        NOT NULL DEFAULT 'cn' CHECK (group_name_attribute <> '' AND char_length(group_name_attribute) <= 255),
    membership_attribute  text        NOT NULL DEFAULT '' CHECK (membership_attribute IN ('', 'member', 'uniqueMember', 'memberOf')),
    claim_mappings        jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(claim_mappings) = 'object'),
    connect_timeout_ms    integer     NOT NULL DEFAULT 5000 CHECK (connect_timeout_ms BETWEEN 1 AND 600000),
    request_timeout_ms    integer     NOT NULL DEFAULT 10000 CHECK (request_timeout_ms BETWEEN 1 AND 600000),
    pool_size             integer     NOT NULL DEFAULT 4 CHECK (pool_size BETWEEN 1 AND 256),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_stores_org_domain_key UNIQUE (org_id, domain),
    CONSTRAINT user_stores_sealed_password CHECK ((bind_password IS NULL) = (bind_password_key_id IS NULL))
);
CREATE TRIGGER user_stores_set_updated_at BEFORE UPDATE ON user_stores
    FOR EACH ROW EXECUTE FUNCTION keyflow_set_updated_at();
