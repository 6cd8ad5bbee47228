package store

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Script libraries are an organization's JavaScript modules that login scripts load with
// require(name) or loadLocalLibrary(name) (WSO2 "function libraries").

// MaxScriptLibrarySize bounds a library's content in bytes (the schema enforces it too).
const MaxScriptLibrarySize = 256 << 10

// ScriptLibrary is one stored library.
type ScriptLibrary struct {
	OrgID       string
	Name        string
	Content     string
	Description string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const scriptLibraryColumns = `org_id, name, content, description, created_at, updated_at`

func scanScriptLibrary(row pgx.Row) (ScriptLibrary, error) {
	var l ScriptLibrary
	err := row.Scan(&l.OrgID, &l.Name, &l.Content, &l.Description, &l.CreatedAt, &l.UpdatedAt)
	l.CreatedAt, l.UpdatedAt = l.CreatedAt.UTC(), l.UpdatedAt.UTC()
	return l, err
}

func validateScriptLibrary(l ScriptLibrary) error {
	switch {
	case l.Name == "" || !utf8.ValidString(l.Name) || utf8.RuneCountInString(l.Name) > 255:
		return fmt.Errorf("library name must be 1 to 255 characters of valid UTF-8")
	case len(l.Content) > MaxScriptLibrarySize:
		return fmt.Errorf("library content is %d bytes, the limit is %d", len(l.Content), MaxScriptLibrarySize)
	case !utf8.ValidString(l.Content) || !utf8.ValidString(l.Description):
		return fmt.Errorf("library content and description must be valid UTF-8")
	case utf8.RuneCountInString(l.Description) > 1024:
		return fmt.Errorf("library description is longer than 1024 characters")
	}
	return nil
}

// Audit actions of script libraries. Events carry the name, description and content size,
// not the content.
const (
	AuditScriptLibraryCreate = "script_library.create"
	AuditScriptLibraryUpdate = "script_library.update"
	AuditScriptLibraryDelete = "script_library.delete"
)

func scriptLibraryAudit(l ScriptLibrary) map[string]any {
	return map[string]any{"name": l.Name, "description": l.Description, "contentBytes": len(l.Content)}
}

// CreateScriptLibrary stores a new library (audited as done by the system). ErrConflict: the
// organization has a library of that name; ErrNotFound: no such organization. Invalid input
// returns a plain error.
func (q *queries) CreateScriptLibrary(ctx context.Context, l ScriptLibrary) (ScriptLibrary, error) {
	return q.CreateScriptLibraryBy(ctx, l, Actor{})
}

// CreateScriptLibraryBy is CreateScriptLibrary recording actor in the audit trail.
func (q *queries) CreateScriptLibraryBy(ctx context.Context, l ScriptLibrary, actor Actor) (ScriptLibrary, error) {
	if !isUUID(l.OrgID) {
		return ScriptLibrary{}, fmt.Errorf("store: create script library: organization %q: %w", l.OrgID, ErrNotFound)
	}
	if err := validateScriptLibrary(l); err != nil {
		return ScriptLibrary{}, fmt.Errorf("store: create script library: %w", err)
	}
	var out ScriptLibrary
	err := q.atomic(ctx, func(q *queries) error {
		var err error
		out, err = scanScriptLibrary(q.db.QueryRow(ctx, `
			INSERT INTO script_libraries (org_id, name, content, description) VALUES ($1, $2, $3, $4)
			RETURNING `+scriptLibraryColumns, l.OrgID, l.Name, l.Content, l.Description))
		if isForeignKeyViolation(err) {
			return fmt.Errorf("store: create script library: organization %s: %w", l.OrgID, ErrNotFound)
		}
		if err != nil {
			return mapErr("store: create script library", err)
		}
		return q.audit(ctx, auditEvent{orgID: l.OrgID, actor: actor, action: AuditScriptLibraryCreate,
			targetType: "script_library", targetID: l.Name, after: scriptLibraryAudit(out)})
	})
	if err != nil {
		return ScriptLibrary{}, err
	}
	return out, nil
}

// ScriptLibrary returns the library name of an organization, or ErrNotFound.
func (q *queries) ScriptLibrary(ctx context.Context, orgID, name string) (ScriptLibrary, error) {
	if !isUUID(orgID) || !utf8.ValidString(name) {
		return ScriptLibrary{}, fmt.Errorf("store: script library %q: %w", name, ErrNotFound)
	}
	l, err := scanScriptLibrary(q.db.QueryRow(ctx, `
		SELECT `+scriptLibraryColumns+` FROM script_libraries WHERE org_id = $1 AND name = $2`, orgID, name))
	if err != nil {
		return ScriptLibrary{}, mapErr(fmt.Sprintf("store: script library %q", name), err)
	}
	return l, nil
}

// ScriptLibraries lists an organization's libraries by name, without their content (Content is
// empty), as a management listing needs.
func (q *queries) ScriptLibraries(ctx context.Context, orgID string) ([]ScriptLibrary, error) {
	if !isUUID(orgID) {
		return nil, nil
	}
	rows, err := q.db.Query(ctx, `
		SELECT org_id, name, '', description, created_at, updated_at FROM script_libraries
		WHERE org_id = $1 ORDER BY name`, orgID)
	if err != nil {
		return nil, mapErr("store: script libraries", err)
	}
	defer rows.Close()
	out := []ScriptLibrary{}
	for rows.Next() {
		l, err := scanScriptLibrary(rows)
		if err != nil {
			return nil, mapErr("store: script libraries", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr("store: script libraries", err)
	}
	return out, nil
}

// UpdateScriptLibrary replaces the content and description of an existing library (the name is
// its identity), audited as done by the system. ErrNotFound: no such library.
func (q *queries) UpdateScriptLibrary(ctx context.Context, l ScriptLibrary) (ScriptLibrary, error) {
	return q.UpdateScriptLibraryBy(ctx, l, Actor{})
}

// UpdateScriptLibraryBy is UpdateScriptLibrary recording actor in the audit trail.
func (q *queries) UpdateScriptLibraryBy(ctx context.Context, l ScriptLibrary, actor Actor) (ScriptLibrary, error) {
	if !isUUID(l.OrgID) || !utf8.ValidString(l.Name) {
		return ScriptLibrary{}, fmt.Errorf("store: update script library %q: %w", l.Name, ErrNotFound)
	}
	if err := validateScriptLibrary(l); err != nil {
		return ScriptLibrary{}, fmt.Errorf("store: update script library: %w", err)
	}
	var out ScriptLibrary
	err := q.atomic(ctx, func(q *queries) error {
		before, err := scanScriptLibrary(q.db.QueryRow(ctx, `
			SELECT `+scriptLibraryColumns+` FROM script_libraries WHERE org_id = $1 AND name = $2 FOR UPDATE`,
			l.OrgID, l.Name))
		if err != nil {
			return mapErr(fmt.Sprintf("store: update script library %q", l.Name), err)
		}
		if out, err = scanScriptLibrary(q.db.QueryRow(ctx, `
			UPDATE script_libraries SET content = $3, description = $4 WHERE org_id = $1 AND name = $2
			RETURNING `+scriptLibraryColumns, l.OrgID, l.Name, l.Content, l.Description)); err != nil {
			return mapErr(fmt.Sprintf("store: update script library %q", l.Name), err)
		}
		return q.audit(ctx, auditEvent{orgID: l.OrgID, actor: actor, action: AuditScriptLibraryUpdate,
			targetType: "script_library", targetID: l.Name, before: scriptLibraryAudit(before), after: scriptLibraryAudit(out)})
	})
	if err != nil {
		return ScriptLibrary{}, err
	}
	return out, nil
}

// DeleteScriptLibrary deletes a library, audited as done by the system. ErrNotFound: no such
// library.
func (q *queries) DeleteScriptLibrary(ctx context.Context, orgID, name string) error {
	return q.DeleteScriptLibraryBy(ctx, orgID, name, Actor{})
}

// DeleteScriptLibraryBy is DeleteScriptLibrary recording actor in the audit trail.
func (q *queries) DeleteScriptLibraryBy(ctx context.Context, orgID, name string, actor Actor) error {
	if !isUUID(orgID) || !utf8.ValidString(name) {
		return fmt.Errorf("store: delete script library %q: %w", name, ErrNotFound)
	}
	return q.atomic(ctx, func(q *queries) error {
		before, err := scanScriptLibrary(q.db.QueryRow(ctx, `
			DELETE FROM script_libraries WHERE org_id = $1 AND name = $2 RETURNING `+scriptLibraryColumns, orgID, name))
		if err != nil {
			return mapErr(fmt.Sprintf("store: delete script library %q", name), err)
		}
		return q.audit(ctx, auditEvent{orgID: orgID, actor: actor, action: AuditScriptLibraryDelete,
			targetType: "script_library", targetID: name, before: scriptLibraryAudit(before)})
	})
}
