package store

import (
	"context"
	"fmt"
	"unicode/utf8"
)

// OrganizationByHandle finds an organization by its handle (a root
// organization's tenant domain, e.g. carbon.super), compared exactly. It
// returns ErrNotFound when there is none.
func (q *queries) OrganizationByHandle(ctx context.Context, handle string) (Organization, error) {
	if handle == "" || !utf8.ValidString(handle) {
		return Organization{}, fmt.Errorf("store: organization by handle: %w", ErrNotFound)
	}
	org, err := scanOrganization(q.db.QueryRow(ctx,
		`SELECT `+orgColumns+` FROM organizations WHERE handle = $1`, handle))
	if err != nil {
		return Organization{}, mapErr("store: organization by handle", err)
	}
	return org, nil
}
