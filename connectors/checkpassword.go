package connectors

import "context"

// PasswordProcessor is a password authenticator (BasicAuthenticator): Process checks the
// "username" and "password" params.
type PasswordProcessor interface {
	Process(ctx context.Context, in ProcessInput) (Outcome, error)
}

// CheckPassword checks a username ([DOMAIN/]name) and password of tenant with a, outside a login
// (HTTP Basic, the password grant's checks): the same lockout, account status and user store
// rules apply. It returns the user's id; ok is false for any refusal, whose reason is not told.
func CheckPassword(ctx context.Context, a PasswordProcessor, tenant, username, password string) (userID string, ok bool, err error) {
	if username == "" || password == "" {
		return "", false, nil
	}
	out, err := a.Process(ctx, ProcessInput{
		StepContext: StepContext{TenantDomain: tenant, Step: 1, IdP: LocalIdP},
		Params:      map[string]string{"username": username, "password": password},
		Attempt:     1,
	})
	if err != nil {
		return "", false, err
	}
	if out.Status != StatusSuccess || out.User == nil || out.User.ID == "" {
		return "", false, nil
	}
	return out.User.ID, true, nil
}
