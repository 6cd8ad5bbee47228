package flows_test

import (
	"testing"

	"github.com/keyflow/keyflow/scripting"
)

// TestScriptResponseOnViews checks that what a script sets on context.response (setCookie,
// headers) reaches the front-end on the view published after it was set, and only there.
func TestScriptResponseOnViews(t *testing.T) {
	w := newWorld(t)
	in := loginInput(`function onLoginRequest(context) {
		setCookie(context.response, 'first', 'a', {path: '/'});
		executeStep(1, {onSuccess: function(context) {
			setCookie(context.response, 'deviceId', context.currentKnownSubject.identifier, {'max-age': 60});
			context.response.headers['X-Step'] = '1';
		}});
	}`, basicTOTP())
	r := w.login(in, password("alice", "pw-alice"))
	if len(r.views) != 2 {
		t.Fatalf("%d views", len(r.views))
	}
	first, final := r.views[0].Response, r.views[1].Response
	if first == nil || len(first.Cookies) != 1 || first.Cookies[0].Name != "first" || first.Cookies[0].Path != "/" ||
		first.Cookies[0].Value != scripting.EncodeCookie("a", "") {
		t.Errorf("first view response %+v", first)
	}
	if final == nil || len(final.Cookies) != 1 || final.Cookies[0].Name != "deviceId" || final.Cookies[0].MaxAge == nil ||
		*final.Cookies[0].MaxAge != 60 || final.Headers["X-Step"] != "1" {
		t.Errorf("final view response %+v", final)
	}
	if v, _, ok := scripting.DecodeCookie(final.Cookies[0].Value); !ok || v != "alice" {
		t.Errorf("deviceId value %q", v)
	}
}
