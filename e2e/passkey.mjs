// Passkey scenario: Chromium with a CDP virtual authenticator (CTAP2, internal, resident keys,
// user verification). First login (application ENROL_CLIENT_ID: password, then FIDOAuthenticator
// with progressive enrolment): the page's passkey button runs navigator.credentials.create() and
// the login succeeds. Then, in a new browser context whose virtual authenticator got the same
// credential, a usernameless login (application PASSKEY_CLIENT_ID: a single FIDOAuthenticator
// step) with the passkey alone.
import * as oidc from "openid-client";
import { check, env, passwordLogin, recorder, run, watch } from "./lib.mjs";

const issuer = env("ISSUER");
const redirectURI = env("REDIRECT_URI");
const enrol = { id: env("ENROL_CLIENT_ID"), secret: env("ENROL_CLIENT_SECRET") };
const passkey = { id: env("PASSKEY_CLIENT_ID"), secret: env("PASSKEY_CLIENT_SECRET") };
const username = env("USERNAME");
const password = env("PASSWORD");

const decodeChallenge = (s) => JSON.parse(Buffer.from(s, s.includes("-") || s.includes("_") ? "base64url" : "base64").toString("utf8"));

await run("passkey", async ({ browser, summary, setPage }) => {
  const rp = await recorder(Number(new URL(redirectURI).port));
  try {
    // A fresh browser context with a CDP virtual authenticator holding the given credentials.
    let context, page, cdp, authenticatorId;
    const openContext = async (credentials = []) => {
      context = await browser.newContext();
      context.setDefaultTimeout(60_000);
      page = await context.newPage();
      setPage(page);
      cdp = await context.newCDPSession(page);
      await cdp.send("WebAuthn.enable", { enableUI: false });
      ({ authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
        options: {
          protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true,
          isUserVerified: true, automaticPresenceSimulation: true,
        },
      }));
      for (const credential of credentials) await cdp.send("WebAuthn.addCredential", { authenticatorId, credential });
    };
    await openContext();

    // Starts an authorization code + PKCE request for the client and returns a function that
    // exchanges the callback's code.
    const start = async (c) => {
      const config = await oidc.discovery(new URL(issuer), c.id, c.secret, oidc.ClientSecretBasic(c.secret),
        { execute: [oidc.allowInsecureRequests] });
      oidc.enableNonRepudiationChecks(config);
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectURI, scope: "openid profile", state, nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256",
      });
      const hits = rp.hits.length;
      return {
        url: url.href,
        finish: async (label) => {
          check(page.url().startsWith(redirectURI), `${label}: browser ended at ${page.url()}`);
          check(rp.hits.length === hits + 1, `${label}: the callback got ${rp.hits.length - hits} requests`);
          const tokens = await oidc.authorizationCodeGrant(config, new URL(rp.hits[hits].url), {
            pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
          });
          return tokens.claims();
        },
      };
    };

    // Clicks the passkey button of the page's passkey form and waits for the callback.
    const passkeyButton = async (label) => {
      const form = page.locator("form[data-passkey]");
      await form.waitFor({ state: "attached" });
      const info = decodeChallenge(await form.getAttribute("data-passkey"));
      await Promise.all([
        page.waitForURL((u) => u.href.startsWith(redirectURI), { waitUntil: "load" }),
        form.locator("[data-passkey-start]").click(),
      ]);
      return info;
    };

    // 1. Password, then progressive enrolment of a passkey.
    const a = await start(enrol);
    await page.goto(a.url);
    check(page.url().includes("/authenticationendpoint/login"), `enrol: login page, got ${page.url()}`);
    await passwordLogin(page, username, password);
    check(page.url().includes("/authenticationendpoint/login"), `enrol: a passkey step after the password, got ${page.url()}`);
    const reg = await passkeyButton("enrol");
    check(reg.mode === "registration", `enrol: challenge mode ${reg.mode}`);
    const enrolled = await a.finish("enrol");
    const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    check(credentials.length === 1, `one credential in the authenticator, got ${credentials.length}`);
    check(credentials[0].isResidentCredential, "a discoverable credential");
    summary.enrol = {
      sub: enrolled.sub, amr: enrolled.amr, rpId: credentials[0].rpId, signCount: credentials[0].signCount,
      residentKey: reg.publicKeyCredentialCreationOptions?.authenticatorSelection?.residentKey,
      userVerification: reg.publicKeyCredentialCreationOptions?.authenticatorSelection?.userVerification,
    };

    // 2. A new browser context (no cookies, no session) whose authenticator holds the same
    // credential (exported with its private key and re-added); the passkey alone logs in
    // (usernameless: a discoverable credential).
    await context.close();
    await openContext(credentials);
    const w = watch(page);
    const mark = w.mark();
    const b = await start(passkey);
    await page.goto(b.url);
    check(page.url().includes("/authenticationendpoint/login"), `passkey: login page, got ${page.url()}`);
    check(await page.locator('input[name="password"]').count() === 0, "passkey: no password field");
    const get = await passkeyButton("passkey");
    check(get.mode !== "registration", "passkey: a login challenge");
    const opts = get.publicKeyCredentialRequestOptions || get.publicKey || get;
    const signedIn = await b.finish("passkey");
    check(signedIn.sub === enrolled.sub, `passkey: subject ${signedIn.sub}, enrolled ${enrolled.sub}`);
    const after = (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;
    summary.passkey = {
      sub: signedIn.sub, amr: signedIn.amr, allowCredentials: (opts.allowCredentials || []).length,
      rpId: opts.rpId, signCount: after[0].signCount, navs: (await w.since(mark)).navs,
    };
    check(after[0].signCount > credentials[0].signCount, "the sign counter advanced");
    await context.close();
  } finally {
    await rp.close();
  }
});
