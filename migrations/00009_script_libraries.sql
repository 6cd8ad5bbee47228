-- Script libraries and federated account links, both used by the login
-- scripts.
--
-- script_libraries are WSO2's "function libraries" (Script Libraries in the
-- console): JavaScript modules of an organization that authentication scripts
-- load with require('<name>') or loadLocalLibrary('<name>'). Names are unique
-- per organization, compared exactly (WSO2 names them like files, e.g.
-- "riskLib.js"). content is capped so a library cannot blow up the workflow
-- that evaluates it.
--
-- federated_associations link an identity at a federated IdP (idp connection
-- name + subject there) to a local user: WSO2's IDN_ASSOCIATED_ID, written by
-- doAssociationWithLocalUser and read by getAssociatedLocalUser.

-- +goose Up

CREATE TABLE script_libraries (
    org_id      uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name        text        NOT NULL CHECK (name <> '' AND char_length(name) <= 255),
    content     text        NOT NULL CHECK (octet_length(content) <= 262144),
    description text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 1024),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, name)
);
CREATE TRIGGER script_libraries_set_updated_at BEFORE UPDATE ON script_libraries
    FOR EACH ROW EXECUTE FUNCTION keyflow_set_updated_at();

CREATE TABLE federated_associations (
    org_id     uuid        NOT NULL,
    idp        text        NOT NULL CHECK (idp <> '' AND char_length(idp) <= 255),
    subject    text        NOT NULL CHECK (subject <> '' AND char_length(subject) <= 1024),
    user_id    uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, idp, subject),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX federated_associations_user_id_idx ON federated_associations (user_id);
