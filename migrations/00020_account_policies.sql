-- Account policies (issue 5 item 5): an organization's password policy
-- (composition rules, history, maximum age) and idle-account setting, the
-- password history they check against, and the last login time idle-account
-- detection reads.
--
-- Every password change goes through users.password_hash, whichever code
-- path makes it (SCIM, the scripts' updateUserPassword, later self-service),
-- so two triggers on that column keep the rules that must hold for all of
-- them: the new hash joins the user's history, and a password set while an
-- administrator forced a reset ends that state (unless the same statement
-- sets the status, as an administrator does when forcing a reset together
-- with a temporary password).

-- +goose Up

-- One row per organization that configured anything; no row means every rule
-- off. The *_enabled flags mirror WSO2's identity-governance connectors
-- (passwordPolicy.enable, passwordHistory.enable,
-- passwordExpiry.enablePasswordExpiry, suspension.notification.enable), so
-- switching a connector off keeps its values. Zero minimums mean "no rule".
CREATE TABLE password_policies (
    org_id               uuid        PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    policy_enabled       boolean     NOT NULL DEFAULT false,
    min_length           integer     NOT NULL DEFAULT 0 CHECK (min_length >= 0),
    -- 0: no maximum.
    max_length           integer     NOT NULL DEFAULT 0 CHECK (max_length >= 0),
    min_upper            integer     NOT NULL DEFAULT 0 CHECK (min_upper >= 0),
    min_lower            integer     NOT NULL DEFAULT 0 CHECK (min_lower >= 0),
    min_digits           integer     NOT NULL DEFAULT 0 CHECK (min_digits >= 0),
    min_special          integer     NOT NULL DEFAULT 0 CHECK (min_special >= 0),
    -- A Go (RE2) regular expression the whole password must match; '' none.
    pattern              text        NOT NULL DEFAULT '' CHECK (char_length(pattern) <= 1024),
    error_message        text        NOT NULL DEFAULT '' CHECK (char_length(error_message) <= 1024),
    history_enabled      boolean     NOT NULL DEFAULT false,
    -- How many of the latest passwords (the current one included) cannot be reused.
    history_count        integer     NOT NULL DEFAULT 0 CHECK (history_count BETWEEN 0 AND 100),
    expiry_enabled       boolean     NOT NULL DEFAULT false,
    max_age_days         integer     NOT NULL DEFAULT 0 CHECK (max_age_days >= 0),
    idle_enabled         boolean     NOT NULL DEFAULT false,
    -- Accounts idle for this many days are disabled by the maintenance job.
    idle_disable_days    integer     NOT NULL DEFAULT 0 CHECK (idle_disable_days >= 0),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER password_policies_set_updated_at BEFORE UPDATE ON password_policies
    FOR EACH ROW EXECUTE FUNCTION keyflow_set_updated_at();

-- Hashes (argon2id, connectors/password's encoding) of a user's latest
-- passwords, newest first by id, the current one included. Never audited or
-- exposed; trimmed to what the organization's history rule needs.
CREATE TABLE password_history (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_hash text        NOT NULL CHECK (password_hash <> ''),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_history_user_idx ON password_history (user_id, id DESC);

-- The last successful login of each user (RecordLoginSuccess), kept beside
-- users rather than in it so a login does not change the user row (its
-- updated_at is the SCIM resource version). No row: never logged in.
CREATE TABLE user_last_logins (
    user_id       uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    last_login_at timestamptz NOT NULL
);

-- +goose StatementBegin
CREATE FUNCTION keyflow_record_password_history() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    keep integer;
BEGIN
    IF NEW.password_hash IS NULL OR NEW.password_hash = '' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.password_hash IS NOT DISTINCT FROM OLD.password_hash THEN
        RETURN NULL;
    END IF;
    INSERT INTO password_history (user_id, password_hash) VALUES (NEW.id, NEW.password_hash);
    -- At least the current password, so enabling history later has it.
    SELECT greatest(CASE WHEN p.history_enabled THEN p.history_count ELSE 0 END, 1) INTO keep
    FROM password_policies p WHERE p.org_id = NEW.org_id;
    DELETE FROM password_history h
    WHERE h.user_id = NEW.id
      AND h.id NOT IN (SELECT id FROM password_history WHERE user_id = NEW.id
                       ORDER BY id DESC LIMIT coalesce(keep, 1));
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER users_password_history AFTER INSERT OR UPDATE OF password_hash ON users
    FOR EACH ROW EXECUTE FUNCTION keyflow_record_password_history();

-- +goose StatementBegin
CREATE FUNCTION keyflow_password_reset_done() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.password_hash IS NOT NULL AND NEW.password_hash IS DISTINCT FROM OLD.password_hash
       AND OLD.status = 'PENDING_FORCED_PASSWORD_RESET' AND NEW.status = OLD.status THEN
        NEW.status := 'ACTIVE';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER users_password_reset_done BEFORE UPDATE OF password_hash ON users
    FOR EACH ROW EXECUTE FUNCTION keyflow_password_reset_done();
