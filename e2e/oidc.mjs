// OIDC scenario: openid-client (panva) is the relying party, Chromium the user's browser.
// Discovery; authorization code + PKCE (S256) + state + nonce through the server-rendered login
// page; the code reaches the RP's callback server; openid-client exchanges it and validates the
// ID token (JWS signature against the JWKS, iss, aud, nonce); userinfo; the refresh grant with
// rotation and reuse detection; a second authorization answered from the SSO session
// (commonAuthId) without the login page, and prompt=login showing it again.
import * as oidc from "openid-client";
import { check, env, loginIfAsked, recorder, run, watch } from "./lib.mjs";

const issuer = env("ISSUER");
const clientID = env("CLIENT_ID");
const clientSecret = env("CLIENT_SECRET");
const redirectURI = env("REDIRECT_URI");
const postLogoutURI = env("POST_LOGOUT_URI");
const username = env("USERNAME");
const password = env("PASSWORD");

await run("oidc", async ({ browser, summary, setPage }) => {
  const rp = await recorder(Number(new URL(redirectURI).port));
  try {
    const config = await oidc.discovery(new URL(issuer), clientID, clientSecret,
      oidc.ClientSecretBasic(clientSecret), { execute: [oidc.allowInsecureRequests] });
    // Validate the ID token's JWS signature against the JWKS (openid-client skips it for ID tokens
    // from the token endpoint unless asked).
    oidc.enableNonRepudiationChecks(config);
    const md = config.serverMetadata();
    check(md.issuer === issuer, `discovery issuer ${md.issuer}`);
    check((md.code_challenge_methods_supported || []).includes("S256"), "S256 advertised");
    summary.discovery = { issuer: md.issuer, jwks_uri: md.jwks_uri, authorization_endpoint: md.authorization_endpoint };

    const context = await browser.newContext();
    context.setDefaultTimeout(60_000);
    const page = await context.newPage();
    setPage(page);
    const w = watch(page);

    // One authorization round trip; returns the validated tokens and whether the login page showed.
    const authorize = async (label, extra = {}) => {
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectURI, scope: "openid profile", state, nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256", ...extra,
      });
      const mark = w.mark();
      const hits = rp.hits.length;
      await page.goto(url.href);
      await loginIfAsked(page, username, password, (u) => u.href.startsWith(redirectURI));
      check(page.url().startsWith(redirectURI), `${label}: browser ended at ${page.url()}`);
      check(rp.hits.length === hits + 1, `${label}: the callback got ${rp.hits.length - hits} requests`);
      const hit = rp.hits[hits];
      check(hit.query.state === state, `${label}: state echoed`);
      check(hit.query.code, `${label}: code in the callback`);
      const tokens = await oidc.authorizationCodeGrant(config, new URL(hit.url), {
        pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
      });
      const claims = tokens.claims();
      check(claims.iss === issuer, `${label}: iss ${claims.iss}`);
      check([].concat(claims.aud).includes(clientID), `${label}: aud ${claims.aud}`);
      check(claims.nonce === nonce, `${label}: nonce`);
      const { loginShown, navs } = await w.since(mark);
      return { tokens, claims, loginShown, navs };
    };

    const first = await authorize("first");
    check(first.loginShown, "first authorization shows the login page");
    const cookies = await context.cookies();
    const sso = cookies.find((c) => c.name === "commonAuthId");
    check(sso, `SSO cookie commonAuthId set (cookies: ${cookies.map((c) => c.name).join(",")})`);
    summary.first = {
      sub: first.claims.sub, iss: first.claims.iss, aud: first.claims.aud, auth_time: first.claims.auth_time,
      amr: first.claims.amr, sid: first.claims.sid, alg: JSON.parse(Buffer.from(first.tokens.id_token.split(".")[0], "base64url")).alg,
      token_type: first.tokens.token_type, scope: first.tokens.scope, has_refresh: Boolean(first.tokens.refresh_token),
      cookie: { httpOnly: sso.httpOnly, sameSite: sso.sameSite, path: sso.path },
    };

    const userinfo = await oidc.fetchUserInfo(config, first.tokens.access_token, first.claims.sub);
    summary.userinfo = userinfo;

    check(first.tokens.refresh_token, "a refresh token");
    const refreshed = await oidc.refreshTokenGrant(config, first.tokens.refresh_token);
    check(refreshed.access_token && refreshed.access_token !== first.tokens.access_token, "a new access token");
    summary.refresh = {
      rotated: Boolean(refreshed.refresh_token) && refreshed.refresh_token !== first.tokens.refresh_token,
      id_token: Boolean(refreshed.id_token),
    };
    if (refreshed.id_token) {
      check(refreshed.claims().sub === first.claims.sub, "refreshed ID token of the same subject");
    }
    const userinfo2 = await oidc.fetchUserInfo(config, refreshed.access_token, first.claims.sub);
    check(userinfo2.sub === first.claims.sub, "userinfo with the refreshed access token");

    const second = await authorize("sso");
    check(!second.loginShown, `SSO: no login page (navigations: ${second.navs.join(" | ")})`);
    check(second.claims.sub === first.claims.sub, "SSO: same subject");
    summary.sso = { loginShown: second.loginShown, auth_time: second.claims.auth_time, sid: second.claims.sid };

    const third = await authorize("prompt=login", { prompt: "login" });
    check(third.loginShown, "prompt=login shows the login page");
    check(third.claims.sub === first.claims.sub, "prompt=login: same subject");
    summary.promptLogin = { loginShown: third.loginShown, auth_time: third.claims.auth_time };

    // Reuse of the rotated-away refresh token is refused (and, per the issue, revokes the family).
    if (summary.refresh.rotated) {
      let reuse = "accepted";
      try {
        await oidc.refreshTokenGrant(config, first.tokens.refresh_token);
      } catch (e) {
        reuse = e.error || e.code || String(e);
      }
      let family = "accepted";
      try {
        await oidc.refreshTokenGrant(config, refreshed.refresh_token);
      } catch (e) {
        family = e.error || e.code || String(e);
      }
      summary.refresh.reuse = reuse;
      summary.refresh.familyAfterReuse = family;
    }
    // Introspection and revocation (client_secret_basic): the access token of the prompt=login
    // round is active, then revoked, then inactive and refused by userinfo.
    const at = third.tokens.access_token;
    const active = await oidc.tokenIntrospection(config, at);
    check(active.active === true && active.sub === first.claims.sub, `introspection: ${JSON.stringify(active)}`);
    check(active.client_id === clientID, `introspection client_id ${active.client_id}`);
    await oidc.tokenRevocation(config, at);
    const revoked = await oidc.tokenIntrospection(config, at);
    check(revoked.active === false, `introspection after revocation: ${JSON.stringify(revoked)}`);
    summary.introspection = { active: active.active, afterRevocation: revoked.active, token_type: active.token_type };
    summary.userinfoAfterRevocation = await errorOf(() => oidc.fetchUserInfo(config, at, first.claims.sub));

    // Client credentials: a token for the client itself, introspected as active.
    const cc = await oidc.clientCredentialsGrant(config, { scope: "openid" });
    const ccInfo = await oidc.tokenIntrospection(config, cc.access_token);
    check(ccInfo.active === true && ccInfo.client_id === clientID, `client credentials token: ${JSON.stringify(ccInfo)}`);
    summary.clientCredentials = { token_type: cc.token_type, active: ccInfo.active, refresh: Boolean(cc.refresh_token) };

    // Negatives.
    const neg = (summary.negatives = {});
    // PKCE mismatch: a valid code exchanged with another verifier.
    neg.pkceMismatch = await codeRound(page, config, rp, async (hit, verifier, state) => errorOf(() =>
      oidc.authorizationCodeGrant(config, new URL(hit.url), {
        pkceCodeVerifier: verifier + "x", expectedState: state, idTokenExpected: true,
      })));
    // Code reuse: the second exchange fails and the tokens of the first are revoked.
    neg.codeReuse = await codeRound(page, config, rp, async (hit, verifier, state) => {
      const opts = { pkceCodeVerifier: verifier, expectedState: state, idTokenExpected: true };
      const t1 = await oidc.authorizationCodeGrant(config, new URL(hit.url), opts);
      const again = await errorOf(() => oidc.authorizationCodeGrant(config, new URL(hit.url), opts));
      const after = await oidc.tokenIntrospection(config, t1.access_token);
      return { second: again, firstTokenActiveAfter: after.active };
    });
    // Bad client secret: 401 with WWW-Authenticate.
    const md2 = config.serverMetadata();
    const bad = await fetch(md2.token_endpoint, {
      method: "POST",
      headers: {
        Authorization: "Basic " + Buffer.from(`${encodeURIComponent(clientID)}:${encodeURIComponent(clientSecret + "x")}`).toString("base64"),
        "Content-Type": "application/x-www-form-urlencoded",
      },
      body: "grant_type=client_credentials",
    });
    neg.badSecret = { status: bad.status, wwwAuthenticate: bad.headers.get("www-authenticate"), body: await bad.json().catch(() => null) };
    // Wrong redirect URI: an error page, no redirect anywhere.
    {
      const hits = rp.hits.length;
      const u = new URL(md2.authorization_endpoint);
      const wrong = new URL("/elsewhere", redirectURI).href;
      u.search = new URLSearchParams({ client_id: clientID, response_type: "code", scope: "openid", redirect_uri: wrong,
        state: "s-wrong", code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
        code_challenge_method: "S256" }).toString();
      const resp = await page.goto(u.href);
      neg.wrongRedirectURI = { status: resp.status(), stayed: page.url().startsWith(new URL(issuer).origin),
        callbackHits: rp.hits.length - hits, text: (await page.locator("body").innerText()).slice(0, 200) };
    }
    // Unsupported response type: an error back to the registered redirect URI, state echoed.
    {
      const hits = rp.hits.length;
      const u = new URL(md2.authorization_endpoint);
      u.search = new URLSearchParams({ client_id: clientID, response_type: "unknown_type", scope: "openid",
        redirect_uri: redirectURI, state: "s-unsupported" }).toString();
      await page.goto(u.href);
      const hit = rp.hits[hits];
      neg.unsupportedResponseType = hit ? { error: hit.query.error, state: hit.query.state, iss: hit.query.iss } : { callbackHits: 0, url: page.url() };
    }
    // RP-initiated logout with the latest ID token as hint and the registered post-logout URI:
    // the browser comes back with state, and the next authorization shows the login page.
    {
      check(md2.end_session_endpoint, "end_session_endpoint advertised");
      const hits = rp.hits.length;
      const u = oidc.buildEndSessionUrl(config, { id_token_hint: third.tokens.id_token,
        post_logout_redirect_uri: postLogoutURI, state: "s-logout" });
      await page.goto(u.href);
      const hit = rp.hits[hits];
      summary.logout = { state: hit ? hit.query.state : "", path: hit ? hit.path : page.url() };
      const after = await authorize("after logout");
      summary.logout.loginShownAfter = after.loginShown;
    }
    await context.close();
  } finally {
    await rp.close();
  }
});

// The OAuth2 error code (or message) of what fn throws; "no error" when it succeeds.
async function errorOf(fn) {
  try {
    await fn();
    return "no error";
  } catch (e) {
    return e.error || (e.status && `HTTP ${e.status}`) || e.code || e.message;
  }
}

// One SSO authorization round (the session must exist: no login page) handing the callback
// request, the PKCE verifier and the state to use.
async function codeRound(page, config, rp, use) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectURI, scope: "openid", state,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256",
  });
  const hits = rp.hits.length;
  await page.goto(url.href);
  check(rp.hits.length === hits + 1 && rp.hits[hits].query.code, `SSO round: callback ${JSON.stringify(rp.hits[hits])}, page ${page.url()}`);
  return use(rp.hits[hits], verifier, state);
}
