package wfhost

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keyflow/keyflow/connectors"
	"github.com/keyflow/keyflow/connectors/notify"
	"github.com/keyflow/keyflow/scripting"
)

// emailClaim is the local claim holding a user's e-mail address.
const emailClaim = "http://wso2.org/claims/emailaddress"

// MailTransport sends one plain-text message; *notify.SMTP implements it.
type MailTransport interface {
	Send(ctx context.Context, m notify.Mail) error
}

// EmailTemplate is one sendEmail template. Subject and Body may contain placeholders written
// {{name}}, replaced by the script's placeholder of that name or by the built-in ones:
// {{user-name}}, {{user-store-domain}}, {{tenant-domain}} and {{TEMPLATE_TYPE}} (the template id),
// as WSO2's TRIGGER_NOTIFICATION event carries them. A placeholder without a value becomes empty.
type EmailTemplate struct {
	Subject string
	Body    string
}

// EmailSender implements scripting.Mailer (sendEmail): it renders the template named by the
// script's templateId and sends it to the user's e-mail address (the "send-to" placeholder when
// the script gives one, else the user's emailaddress claim).
type EmailSender struct {
	Transport MailTransport
	// Templates are keyed by template id (WSO2's TEMPLATE_TYPE, e.g. "AccountLocked").
	Templates map[string]EmailTemplate
	// Directory reads the recipient's e-mail claim when the user object does not carry it.
	Directory scripting.Directory
}

var _ scripting.Mailer = (*EmailSender)(nil)

// SendEmail implements scripting.Mailer.
func (e *EmailSender) SendEmail(ctx context.Context, u *connectors.User, templateID string, placeholders map[string]string) error {
	if e.Transport == nil {
		return errors.New("no mail transport")
	}
	tpl, ok := e.Templates[templateID]
	if !ok {
		return fmt.Errorf("no e-mail template %q", templateID)
	}
	to := placeholders["send-to"]
	if to == "" {
		to = u.Claims[emailClaim]
	}
	if to == "" && e.Directory != nil && !u.Federated() {
		claims, err := e.Directory.ReadClaims(ctx, u, []string{emailClaim})
		if err != nil {
			return fmt.Errorf("reading the e-mail address: %w", err)
		}
		to = claims[emailClaim]
	}
	if to == "" {
		return errors.New("the user has no e-mail address")
	}
	values := map[string]string{
		"user-name": u.Username, "user-store-domain": u.UserStoreDomain, "tenant-domain": u.TenantDomain,
		"TEMPLATE_TYPE": templateID,
	}
	for k, v := range placeholders {
		values[k] = v
	}
	m := notify.Mail{To: []string{to}, Subject: RenderTemplate(tpl.Subject, values), Text: RenderTemplate(tpl.Body, values)}
	if err := e.Transport.Send(ctx, m); err != nil {
		return fmt.Errorf("sending template %q: %w", templateID, err)
	}
	return nil
}

// RenderTemplate replaces every {{name}} in text with values[name] ("" when absent). Text without
// a closing "}}" is kept as written.
func RenderTemplate(text string, values map[string]string) string {
	var b strings.Builder
	for {
		i := strings.Index(text, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(text[i+2:], "}}")
		if j < 0 {
			break
		}
		b.WriteString(text[:i])
		b.WriteString(values[strings.TrimSpace(text[i+2:i+2+j])])
		text = text[i+2+j+2:]
	}
	b.WriteString(text)
	return b.String()
}
