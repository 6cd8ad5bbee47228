// SAML scenario: @node-saml/node-saml is the service provider, Chromium the user's browser.
// SP-initiated HTTP-Redirect AuthnRequest → login page → Response POSTed to the SP's ACS →
// validatePostResponse (signatures against the certificate of GET /samlsso/metadata, audience,
// InResponseTo); IsPassive without a session gets NoPassive, with one a Success without UI;
// SSO from the session over both bindings; ForceAuthn shows the login page again; an unknown SP
// entity id and an unregistered ACS get an error page and nothing at any ACS. Every Response
// received is saved to OUT_DIR for the Go test's xmlsec1 check.
import { SAML } from "@node-saml/node-saml";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { check, env, loginIfAsked, recorder, run, watch } from "./lib.mjs";

const base = env("BASE_URL");
const entityID = env("SP_ENTITY_ID");
const acsURL = env("ACS_URL");
const unregisteredACS = env("UNREGISTERED_ACS_URL");
const outDir = env("OUT_DIR");
const username = env("USERNAME");
const password = env("PASSWORD");

const statusOf = (xml) => [...xml.matchAll(/<(?:\w+:)?StatusCode\s+Value="([^"]+)"/g)].map((m) => m[1].replace(/^.*:/, ""));

await run("saml", async ({ browser, summary, setPage }) => {
  const acs = await recorder(Number(new URL(acsURL).port));
  try {
    const res = await fetch(`${base}/samlsso/metadata`);
    check(res.ok, `metadata: HTTP ${res.status}`);
    const metadata = await res.text();
    const m = metadata.match(/<(?:\w+:)?X509Certificate(?:\s[^>]*)?>([^<]+)</);
    check(m, "a certificate in the IdP metadata");
    const idpCert = `-----BEGIN CERTIFICATE-----\n${m[1].replace(/\s+/g, "").match(/.{1,64}/g).join("\n")}\n-----END CERTIFICATE-----\n`;

    const sp = (opts = {}) => new SAML({
      entryPoint: `${base}/samlsso`, issuer: entityID, callbackUrl: acsURL, audience: entityID, idpCert,
      wantAssertionsSigned: true, wantAuthnResponseSigned: true, validateInResponseTo: "always",
      acceptedClockSkewMs: 5000, ...opts,
    });

    const context = await browser.newContext();
    context.setDefaultTimeout(60_000);
    const page = await context.newPage();
    setPage(page);
    const w = watch(page);
    summary.responses = [];

    // Sends an AuthnRequest from s and returns what reached the ACS (logging in when asked).
    // With post, the AuthnRequest goes over HTTP-POST: an auto-submitting page of the SP's own
    // origin (another site than the IdP's) posts it.
    const sso = async (label, s, relay, { post = false } = {}) => {
      let url;
      if (post) {
        url = acs.serve(`/start-${label}`, await s.getAuthorizeFormAsync(relay, undefined, {}));
      } else {
        url = await s.getAuthorizeUrlAsync(relay, undefined, {});
        check(new URL(url).searchParams.get("SAMLRequest"), `${label}: HTTP-Redirect AuthnRequest`);
      }
      const mark = w.mark();
      const hits = acs.hits.length;
      await page.goto(url);
      await loginIfAsked(page, username, password, acsURL);
      check(acs.hits.length === hits + 1, `${label}: the ACS got ${acs.hits.length - hits} requests`);
      const hit = acs.hits[hits];
      check(hit.method === "POST" && hit.form && hit.form.SAMLResponse, `${label}: a POSTed SAMLResponse`);
      check(hit.form.RelayState === relay, `${label}: RelayState echoed (${hit.form.RelayState})`);
      const xml = Buffer.from(hit.form.SAMLResponse, "base64").toString("utf8");
      const file = path.join(outDir, `response-${summary.responses.length + 1}-${label}.xml`);
      await writeFile(file, xml);
      const status = statusOf(xml);
      summary.responses.push({ label, file, status });
      const { loginShown, navs } = await w.since(mark);
      return { hit, xml, status, loginShown, navs };
    };

    // IsPassive without a session: no login page, a NoPassive status.
    const passiveSP = sp({ passive: true });
    const passive = await sso("passive", passiveSP, "relay-passive");
    check(!passive.loginShown, "IsPassive shows no login page");
    check(passive.status.includes("NoPassive"), `IsPassive without a session: status ${passive.status}`);
    let passiveResult;
    try {
      const r = await passiveSP.validatePostResponseAsync({ SAMLResponse: passive.hit.form.SAMLResponse });
      passiveResult = r.profile === null ? "profile null (NoPassive accepted)" : "a profile";
    } catch (e) {
      passiveResult = `rejected: ${e.message}`;
    }
    summary.passive = { status: passive.status, nodeSaml: passiveResult };

    // SP-initiated SSO with a login.
    const main = sp();
    const login = await sso("login", main, "relay-login");
    check(login.loginShown, "the first SSO shows the login page");
    check(login.status[0] === "Success", `status ${login.status}`);
    const { profile } = await main.validatePostResponseAsync({ SAMLResponse: login.hit.form.SAMLResponse });
    check(profile && profile.nameID, "node-saml accepted the Response with a NameID");
    const classRef = login.xml.match(/<(?:\w+:)?AuthnContextClassRef[^>]*>([^<]*)</);
    summary.login = { nameID: profile.nameID, nameIDFormat: profile.nameIDFormat, issuer: profile.issuer,
      sessionIndex: profile.sessionIndex, attributes: profile.attributes, authnContextClassRef: classRef && classRef[1] };

    // A second request in the same browser is answered from the SSO session.
    const again = sp();
    const ssoAgain = await sso("sso", again, "relay-sso");
    const p2 = (await again.validatePostResponseAsync({ SAMLResponse: ssoAgain.hit.form.SAMLResponse })).profile;
    check(p2.nameID === profile.nameID, "SSO: same NameID");
    summary.sso = { loginShown: ssoAgain.loginShown };
    check(!ssoAgain.loginShown, "SSO: no login page");

    // The same over the HTTP-POST binding (a cross-site POST to the IdP).
    // (node-saml deflates POSTed requests unless told not to; saml-bindings §3.5.4 does not.)
    const viaPost = sp({ authnRequestBinding: "HTTP-POST", skipRequestCompression: true });
    const sp2 = await sso("sso-post", viaPost, "relay-sso-post", { post: true });
    const p5 = (await viaPost.validatePostResponseAsync({ SAMLResponse: sp2.hit.form.SAMLResponse })).profile;
    check(p5.nameID === profile.nameID, "SSO over HTTP-POST: same NameID");
    summary.ssoPost = { loginShown: sp2.loginShown, navs: sp2.navs };

    // IsPassive with a session: answered without UI.
    const passiveSSO = sp({ passive: true });
    const ps = await sso("passive-session", passiveSSO, "relay-passive-session");
    check(!ps.loginShown && ps.status[0] === "Success", `IsPassive with a session: status ${ps.status}, login page ${ps.loginShown}`);
    const p4 = (await passiveSSO.validatePostResponseAsync({ SAMLResponse: ps.hit.form.SAMLResponse })).profile;
    check(p4 && p4.nameID === profile.nameID, "IsPassive with a session: same NameID");
    summary.passiveWithSession = { status: ps.status };

    // ForceAuthn re-authenticates.
    const forced = sp({ forceAuthn: true });
    const fa = await sso("forceAuthn", forced, "relay-force");
    check(fa.loginShown, "ForceAuthn shows the login page");
    const p3 = (await forced.validatePostResponseAsync({ SAMLResponse: fa.hit.form.SAMLResponse })).profile;
    check(p3.nameID === profile.nameID, "ForceAuthn: same NameID");
    summary.forceAuthn = { loginShown: fa.loginShown };

    // Requests that cannot be tied to a registered SP and ACS: an error page, nothing posted.
    const refused = async (label, s) => {
      const url = await s.getAuthorizeUrlAsync("relay-" + label, undefined, {});
      const hits = acs.hits.length;
      const resp = await page.goto(url);
      const html = await page.content();
      const out = { status: resp.status(), url: page.url(), text: (await page.locator("body").innerText()).slice(0, 200) };
      check(acs.hits.length === hits, `${label}: ${acs.hits.length - hits} requests reached an ACS`);
      check(!html.includes("SAMLResponse"), `${label}: the page carries a SAMLResponse`);
      check(page.url().startsWith(`${base}/samlsso`), `${label}: browser left the IdP for ${page.url()}`);
      check(resp.status() >= 400, `${label}: HTTP ${resp.status()}`);
      return out;
    };
    summary.unknownSP = await refused("unknownSP", sp({ issuer: `${entityID}:unknown`, audience: `${entityID}:unknown` }));
    summary.unregisteredACS = await refused("unregisteredACS", sp({ callbackUrl: unregisteredACS }));
    await context.close();
  } finally {
    await acs.close();
  }
});
