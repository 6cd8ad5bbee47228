-- Nested groups (SCIM 2.0 Group members of type "Group", RFC 7643 §4.2): a group can be a
-- member of another group of the same organization. A user is then a member of every group
-- reachable upwards from its direct groups, and holds the roles assigned to any of them. The
-- store refuses cycles (a group containing itself, directly or transitively); the CHECK below
-- catches the direct case whatever the caller.

-- +goose Up

CREATE TABLE group_member_groups (
    org_id          uuid        NOT NULL,
    group_id        uuid        NOT NULL, -- the containing (parent) group
    member_group_id uuid        NOT NULL, -- the contained (member) group
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, member_group_id),
    CONSTRAINT group_member_groups_not_self CHECK (group_id <> member_group_id),
    -- The composite keys make cross-organization nesting impossible.
    FOREIGN KEY (org_id, group_id) REFERENCES groups (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, member_group_id) REFERENCES groups (org_id, id) ON DELETE CASCADE
);
-- "Groups containing this group": the upward walk from a user's direct groups.
CREATE INDEX group_member_groups_member_group_id_idx ON group_member_groups (member_group_id);
