// Keyflow passkeys. Static: everything it needs comes from the form's data- attributes (the
// server never writes user data into a script). It runs WebAuthn's get() ceremony with the
// server's challengeData — or create(), when the challenge is a progressive-enrolment
// registration (mode "registration") — puts the result into the hidden field the authenticator
// requires (tokenResponse) and submits the form.
"use strict";
(function () {
  function b64urlToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function bufToB64url(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  // challengeData is base64(url) JSON: WSO2's {requestId, publicKeyCredentialRequestOptions},
  // or go-webauthn's {publicKey: …}, or the options themselves.
  function parse(data) {
    var d = JSON.parse(new TextDecoder().decode(b64urlToBuf(data)));
    if (d.mode === "registration") {
      var c = d.publicKeyCredentialCreationOptions;
      c.challenge = b64urlToBuf(c.challenge);
      c.user.id = b64urlToBuf(c.user.id);
      (c.excludeCredentials || []).forEach(function (x) { x.id = b64urlToBuf(x.id); });
      return { requestId: d.requestId, create: true, options: c };
    }
    var opts = d.publicKeyCredentialRequestOptions || d.publicKey || d;
    opts.challenge = b64urlToBuf(opts.challenge);
    (opts.allowCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    return { requestId: d.requestId, options: opts };
  }
  function encode(c) {
    var r = c.response, out = { clientDataJSON: bufToB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      out.attestationObject = bufToB64url(r.attestationObject);
      out.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.authenticatorData = bufToB64url(r.authenticatorData);
      out.signature = bufToB64url(r.signature);
      out.userHandle = r.userHandle ? bufToB64url(r.userHandle) : null;
    }
    return {
      id: c.id, rawId: bufToB64url(c.rawId), type: c.type, response: out,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {}
    };
  }
  function start(form) {
    var status = form.querySelector("[data-passkey-status]");
    var field = form.querySelector('input[type="hidden"][name="' + form.dataset.passkeyField + '"]');
    var req;
    try { req = parse(form.dataset.passkey); } catch (e) { return fail(); }
    function fail() {
      status.textContent = form.dataset.passkeyError;
      status.hidden = false;
    }
    var ceremony = req.create ? navigator.credentials.create({ publicKey: req.options })
      : navigator.credentials.get({ publicKey: req.options });
    ceremony.then(function (c) {
      var cred = encode(c);
      field.value = JSON.stringify(req.requestId ? { requestId: req.requestId, credential: cred } : cred);
      form.submit();
    }, fail);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-passkey]").forEach(function (form) {
      var button = form.querySelector("[data-passkey-start]");
      if (!window.PublicKeyCredential || !button) return;
      button.addEventListener("click", function () { start(form); });
    });
  });
})();
