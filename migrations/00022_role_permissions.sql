-- Role permissions (WSO2 roles v2): a role grants API scopes such as
-- internal_user_mgt_view to whoever holds it. A user's management scopes are
-- the union over the roles held directly or through a group.

-- +goose Up

CREATE TABLE role_permissions (
    role_id    uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    permission text NOT NULL CHECK (permission ~ '^[A-Za-z0-9_:./-]{1,255}$'),
    PRIMARY KEY (role_id, permission)
);

