package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// AuditApplicationCreate is recorded when an application is created.
const AuditApplicationCreate = "application.create"

// Authentication sequence types (WSO2 authenticationSequence.type).
const (
	// SequenceDefault uses the organization's default sequence.
	SequenceDefault = "DEFAULT"
	// SequenceUserDefined uses the application's own steps.
	SequenceUserDefined = "USER_DEFINED"
)

// LocalIdP is the idp of local authenticators in an authentication sequence.
const LocalIdP = "LOCAL"

// Application is a service provider: the settings a login needs (the inbound protocol
// configurations live in their own tables, such as oauth2_clients).
type Application struct {
	ID    string
	OrgID string
	Name  string
	// ClientID is the application's OAuth2 client; empty when it has none.
	ClientID string
	// Sequence is the authentication sequence, in WSO2's shape.
	Sequence AuthenticationSequence
	// APIBasedAuthentication allows app-native authentication (WSO2
	// advancedConfigurations.enableAPIBasedAuthentication).
	APIBasedAuthentication bool
	CreatedAt              time.Time
	UpdatedAt              time.Time
}

// AuthenticationSequence is WSO2's application authenticationSequence (wso2-wire.md §3),
// without requestPathAuthenticators. Its JSON is the wire shape of the Application
// Management API.
type AuthenticationSequence struct {
	// Type is SequenceDefault or SequenceUserDefined; empty means SequenceDefault.
	Type string `json:"type"`
	// Steps are sorted by ID, which runs 1..len(Steps).
	Steps []AuthenticationStep `json:"steps"`
	// SubjectStepID and AttributeStepID name the steps whose user is the subject and whose
	// attributes are used; values outside 1..len(Steps) mean 1, as in WSO2.
	SubjectStepID   int    `json:"subjectStepId,omitempty"`
	AttributeStepID int    `json:"attributeStepId,omitempty"`
	Script          string `json:"script,omitempty"`
}

// AuthenticationStep is one step of a sequence.
type AuthenticationStep struct {
	ID      int                    `json:"id"`
	Options []AuthenticationOption `json:"options"`
}

// AuthenticationOption is one authenticator of a step: a local authenticator by its internal
// name when IdP is LocalIdP, else a federated connection by name.
type AuthenticationOption struct {
	IdP           string `json:"idp"`
	Authenticator string `json:"authenticator"`
}

// SubjectStep returns the effective subject step (1 when unset or out of range).
func (s AuthenticationSequence) SubjectStep() int {
	return effectiveStep(s.SubjectStepID, len(s.Steps))
}

// AttributeStep returns the effective attribute step (1 when unset or out of range).
func (s AuthenticationSequence) AttributeStep() int {
	return effectiveStep(s.AttributeStepID, len(s.Steps))
}

func effectiveStep(id, n int) int {
	if id < 1 || id > n {
		return 1
	}
	return id
}

// Validate applies WSO2's UpdateAuthenticationSequence rules: a user-defined sequence has at
// least one step, step ids are consecutive from 1 (in any order; Normalize sorts them), and
// every step has at least one option with an authenticator and an idp.
func (s AuthenticationSequence) Validate() error {
	switch s.Type {
	case "", SequenceDefault:
		return nil
	case SequenceUserDefined:
	default:
		return fmt.Errorf("authentication sequence type %q is not DEFAULT or USER_DEFINED", s.Type)
	}
	if len(s.Steps) == 0 {
		return fmt.Errorf("authentication steps cannot be empty for a USER_DEFINED sequence")
	}
	seen := make([]bool, len(s.Steps)+1)
	for _, st := range s.Steps {
		if st.ID < 1 || st.ID > len(s.Steps) || seen[st.ID] {
			return fmt.Errorf("step ids need to be consecutive starting from 1")
		}
		seen[st.ID] = true
		if len(st.Options) == 0 {
			return fmt.Errorf("step %d has no options", st.ID)
		}
		for _, o := range st.Options {
			if o.Authenticator == "" || o.IdP == "" || !utf8.ValidString(o.Authenticator+o.IdP) {
				return fmt.Errorf("step %d has an option without authenticator or idp", st.ID)
			}
		}
	}
	return nil
}

// normalized returns s with the type filled in and the steps sorted by id; a DEFAULT sequence
// keeps no steps (WSO2 wipes them).
func (s AuthenticationSequence) normalized() AuthenticationSequence {
	if s.Type == "" {
		s.Type = SequenceDefault
	}
	if s.Type == SequenceDefault {
		s.Steps = []AuthenticationStep{}
		return s
	}
	s.Steps = slices.Clone(s.Steps)
	slices.SortFunc(s.Steps, func(a, b AuthenticationStep) int { return a.ID - b.ID })
	return s
}

// NewApplication is the input of CreateApplication. ID, CreatedAt and UpdatedAt are ignored.
type NewApplication struct {
	Application
	// Actor is recorded in the audit trail; the zero value means ActorSystem.
	Actor Actor
}

const applicationColumns = `id, org_id, name, coalesce(oauth2_client_id, ''), auth_sequence,
	api_based_authentication, created_at, updated_at`

func scanApplication(row pgx.Row) (Application, error) {
	var (
		a   Application
		seq []byte
	)
	if err := row.Scan(&a.ID, &a.OrgID, &a.Name, &a.ClientID, &seq, &a.APIBasedAuthentication,
		&a.CreatedAt, &a.UpdatedAt); err != nil {
		return Application{}, err
	}
	if err := json.Unmarshal(seq, &a.Sequence); err != nil {
		return Application{}, fmt.Errorf("decode auth_sequence of application %s: %w", a.ID, err)
	}
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return a, nil
}

// CreateApplication stores an application and records an audit event. A taken name (per
// organization) or client id returns ErrConflict; an unknown organization or OAuth2 client
// ErrNotFound; an invalid sequence a plain error.
func (q *queries) CreateApplication(ctx context.Context, na NewApplication) (Application, error) {
	a := na.Application
	if _, err := uuid.Parse(a.OrgID); err != nil {
		return Application{}, fmt.Errorf("store: create application: organization %q: %w", a.OrgID, ErrNotFound)
	}
	if err := validateName("application name", a.Name, 255); err != nil {
		return Application{}, fmt.Errorf("store: create application: %w", err)
	}
	if err := a.Sequence.Validate(); err != nil {
		return Application{}, fmt.Errorf("store: create application %q: %w", a.Name, err)
	}
	seq, err := json.Marshal(a.Sequence.normalized())
	if err != nil {
		return Application{}, fmt.Errorf("store: create application: encode sequence: %w", err)
	}
	var out Application
	err = q.atomic(ctx, func(q *queries) error {
		var err error
		out, err = scanApplication(q.db.QueryRow(ctx, `
			INSERT INTO applications (org_id, name, oauth2_client_id, auth_sequence, api_based_authentication)
			VALUES ($1, $2, $3, $4, $5)
			RETURNING `+applicationColumns,
			a.OrgID, a.Name, nullIfEmpty(a.ClientID), seq, a.APIBasedAuthentication))
		if isForeignKeyViolation(err) {
			return fmt.Errorf("store: create application: organization %s or client %q: %w", a.OrgID, a.ClientID, ErrNotFound)
		}
		if err != nil {
			return mapErr("store: create application", err)
		}
		return q.audit(ctx, auditEvent{
			orgID: out.OrgID, actor: na.Actor, action: AuditApplicationCreate,
			targetType: "application", targetID: out.ID,
			after: map[string]any{
				"name": out.Name, "clientId": out.ClientID, "authenticationSequence": out.Sequence,
				"enableAPIBasedAuthentication": out.APIBasedAuthentication,
			},
		})
	})
	if err != nil {
		return Application{}, err
	}
	return out, nil
}

// ApplicationByClientID returns the application of an OAuth2 client, or ErrNotFound.
func (q *queries) ApplicationByClientID(ctx context.Context, clientID string) (Application, error) {
	if clientID == "" || !utf8.ValidString(clientID) {
		return Application{}, fmt.Errorf("store: application by client id: %w", ErrNotFound)
	}
	a, err := scanApplication(q.db.QueryRow(ctx, `
		SELECT `+applicationColumns+` FROM applications WHERE oauth2_client_id = $1`, clientID))
	if err != nil {
		return Application{}, mapErr("store: application by client id", err)
	}
	return a, nil
}

// Application returns the application with the given id, or ErrNotFound.
func (q *queries) Application(ctx context.Context, id string) (Application, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Application{}, fmt.Errorf("store: application %q: %w", id, ErrNotFound)
	}
	a, err := scanApplication(q.db.QueryRow(ctx, `
		SELECT `+applicationColumns+` FROM applications WHERE id = $1`, id))
	if err != nil {
		return Application{}, mapErr("store: application", err)
	}
	return a, nil
}
