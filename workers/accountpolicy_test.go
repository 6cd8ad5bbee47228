package workers

import (
	"testing"

	"github.com/keyflow/keyflow/store"
)

// TestUpdateUserPasswordPolicy: the scripts' updateUserPassword meets the organization's password
// policy; a refusal reaches the script's onFail and leaves the password unchanged.
func TestUpdateUserPasswordPolicy(t *testing.T) {
	w := newScriptWorld(t)
	if _, err := w.st.PutPasswordPolicy(t.Context(), w.org.ID, store.PasswordPolicy{Enabled: true, MinLength: 20}, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	final := w.succeed(w.input(`function onLoginRequest(context) {
		executeStep(1, {onSuccess: function(context) {
			updateUserPassword(context.currentKnownSubject, 'too-Short1', {
				onSuccess: function(context) { context.selectedAcr = 'changed'; },
				onFail: function(context) { context.selectedAcr = 'failed'; }
			});
		}});
	}`), creds("bob", "pw-bob"))
	if final.Result.ACR != "failed" || !w.passwordIs("bob", "pw-bob") {
		t.Errorf("acr %q; old password kept: %v", final.Result.ACR, w.passwordIs("bob", "pw-bob"))
	}
}
