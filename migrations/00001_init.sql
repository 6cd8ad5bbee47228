-- Foundation schema: organizations, users and their claims, groups, roles,
-- role assignments and the audit trail.
--
-- Conventions used by every later migration:
--   * ids are uuid (gen_random_uuid(), core since PostgreSQL 13) except for
--     append-only tables, which use bigint identities;
--   * timestamps are timestamptz; updated_at is maintained by a trigger;
--   * names compared case-insensitively are stored twice: as given (for
--     display) and as a *_key column holding the Unicode case-folded, NFC form
--     computed by the store package. Uniqueness and look-ups use the key, so
--     behaviour never depends on the database's locale (lower() in a "C"
--     locale database folds ASCII only);
--   * rows owned by an organization go away with it (ON DELETE CASCADE);
--     audit events deliberately outlive what they describe (no foreign keys).

-- +goose Up

-- +goose StatementBegin
CREATE FUNCTION keyflow_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

-- An organization is a tenant (parent_id IS NULL, a "root organization", the
-- handle being WSO2's tenant domain, e.g. carbon.super) or a sub-organization
-- of one. Deleting an organization that still has children is refused.
CREATE TABLE organizations (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    parent_id   uuid        REFERENCES organizations (id) ON DELETE RESTRICT,
    handle      text        NOT NULL CHECK (handle <> '' AND char_length(handle) <= 255),
    name        text        NOT NULL CHECK (name <> '' AND char_length(name) <= 255),
    status      text        NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'DISABLED')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT organizations_handle_key UNIQUE (handle),
    CONSTRAINT organizations_not_own_parent CHECK (parent_id <> id)
);
CREATE INDEX organizations_parent_id_idx ON organizations (parent_id) WHERE parent_id IS NOT NULL;
CREATE TRIGGER organizations_set_updated_at BEFORE UPDATE ON organizations
    FOR EACH ROW EXECUTE FUNCTION keyflow_set_updated_at();

-- Users of the built-in user store and users provisioned from elsewhere
-- (user_store_domain names the store, WSO2 style: PRIMARY, or a secondary
-- store's upper-case domain). password_hash is NULL when the user has no local
-- password (federated, invited and not yet set). status is the account
-- lifecycle; locked and disabled are independent flags, as in WSO2
-- (accountLocked / accountDisabled claims).
CREATE TABLE users (
    id                    uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_store_domain     text        NOT NULL DEFAULT 'PRIMARY'
                                      CHECK (user_store_domain <> '' AND char_length(user_store_domain) <= 64),
    username              text        NOT NULL CHECK (username <> '' AND char_length(username) <= 255),
    username_key          text        NOT NULL CHECK (username_key <> ''),
    password_hash         text,
    status                text        NOT NULL DEFAULT 'ACTIVE' CHECK (status IN (
                                          'ACTIVE',
                                          'PENDING_SELF_REGISTRATION',
                                          'PENDING_EMAIL_VERIFICATION',
                                          'PENDING_ASK_PASSWORD',
                                          'PENDING_FORCED_PASSWORD_RESET',
                                          'PENDING_ADMIN_APPROVAL')),
    locked                boolean     NOT NULL DEFAULT false,
    -- NULL with locked = true means locked until an administrator unlocks.
    locked_until          timestamptz,
    lock_reason           text,
    disabled              boolean     NOT NULL DEFAULT false,
    failed_login_attempts integer     NOT NULL DEFAULT 0 CHECK (failed_login_attempts >= 0),
    password_updated_at   timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_org_domain_username_key UNIQUE (org_id, user_store_domain, username_key),
    -- The target of composite foreign keys that keep memberships inside one organization.
    CONSTRAINT users_org_id_id_key UNIQUE (org_id, id)
);
CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION keyflow_set_updated_at();

-- Local claims of a user (http://wso2.org/claims/emailaddress, ...), one row
-- per claim. Multi-valued claims keep WSO2's encoding inside value. Length
-- caps keep (claim_uri, value) within a btree entry so it can be indexed.
CREATE TABLE user_claims (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    claim_uri  text NOT NULL CHECK (claim_uri <> '' AND char_length(claim_uri) <= 255),
    value      text NOT NULL CHECK (octet_length(value) <= 2048),
    PRIMARY KEY (user_id, claim_uri)
);
-- Find users by claim value (login identifiers, SCIM filters such as emails eq ...).
CREATE INDEX user_claims_claim_uri_value_idx ON user_claims (claim_uri, value);

CREATE TABLE groups (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id            uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_store_domain text        NOT NULL DEFAULT 'PRIMARY'
                                  CHECK (user_store_domain <> '' AND char_length(user_store_domain) <= 64),
    name              text        NOT NULL CHECK (name <> '' AND char_length(name) <= 255),
    name_key          text        NOT NULL CHECK (name_key <> ''),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT groups_org_domain_name_key UNIQUE (org_id, user_store_domain, name_key),
    CONSTRAINT groups_org_id_id_key UNIQUE (org_id, id)
);
CREATE TRIGGER groups_set_updated_at BEFORE UPDATE ON groups
    FOR EACH ROW EXECUTE FUNCTION keyflow_set_updated_at();

-- Direct user members of a group (no nested groups: WSO2's user stores do not
-- have them). The composite keys make cross-organization membership impossible.
CREATE TABLE group_members (
    org_id     uuid        NOT NULL,
    group_id   uuid        NOT NULL,
    user_id    uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id),
    FOREIGN KEY (org_id, group_id) REFERENCES groups (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
-- "Groups of this user".
CREATE INDEX group_members_user_id_idx ON group_members (user_id);

-- Roles (WSO2 roles v2): a role belongs to an organization and has an
-- audience, the organization itself or one of its applications; audience_id is
-- the organization's or the application's id. (The applications table comes
-- later, so audience_id carries no foreign key yet.)
CREATE TABLE roles (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id        uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name          text        NOT NULL CHECK (name <> '' AND char_length(name) <= 255),
    name_key      text        NOT NULL CHECK (name_key <> ''),
    audience_type text        NOT NULL DEFAULT 'ORGANIZATION'
                              CHECK (audience_type IN ('ORGANIZATION', 'APPLICATION')),
    audience_id   uuid        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT roles_org_audience_name_key UNIQUE (org_id, audience_type, audience_id, name_key),
    CONSTRAINT roles_org_id_id_key UNIQUE (org_id, id),
    CONSTRAINT roles_org_audience_is_org CHECK (audience_type <> 'ORGANIZATION' OR audience_id = org_id)
);
CREATE INDEX roles_audience_idx ON roles (audience_type, audience_id);
CREATE TRIGGER roles_set_updated_at BEFORE UPDATE ON roles
    FOR EACH ROW EXECUTE FUNCTION keyflow_set_updated_at();

-- A role is assigned to a user or to a group (whose members then hold it),
-- never both in one row, always within the role's organization.
CREATE TABLE role_assignments (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id     uuid        NOT NULL,
    role_id    uuid        NOT NULL,
    user_id    uuid,
    group_id   uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT role_assignments_one_assignee CHECK (num_nonnulls(user_id, group_id) = 1),
    FOREIGN KEY (org_id, role_id) REFERENCES roles (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, group_id) REFERENCES groups (org_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX role_assignments_role_user_key ON role_assignments (role_id, user_id)
    WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX role_assignments_role_group_key ON role_assignments (role_id, group_id)
    WHERE group_id IS NOT NULL;
-- "Roles of this user / group".
CREATE INDEX role_assignments_user_id_idx ON role_assignments (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX role_assignments_group_id_idx ON role_assignments (group_id) WHERE group_id IS NOT NULL;

-- Append-only audit trail. No foreign keys: an event must survive the
-- deletion of its organization, actor or target. before/after hold the changed
-- state without secrets (never password hashes, keys or tokens).
CREATE TABLE audit_events (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    org_id         uuid,
    actor_type     text        NOT NULL CHECK (actor_type <> ''),
    actor_id       text        NOT NULL DEFAULT '',
    action         text        NOT NULL CHECK (action <> ''),
    target_type    text        NOT NULL DEFAULT '',
    target_id      text        NOT NULL DEFAULT '',
    before         jsonb,
    after          jsonb,
    -- Ties events to a flow (login, approval...) or request.
    correlation_id text        NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_org_at_idx ON audit_events (org_id, at DESC);
CREATE INDEX audit_events_target_idx ON audit_events (target_type, target_id, at DESC);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_type, actor_id, at DESC);
