// TOTP scenario: authorization code + PKCE with a password step and a TOTP step (openid-client as
// the relying party). The first login enrols in the flow (the script sets
// enrolUserInAuthenticationFlow): the page shows the otpauth:// key URI, the scenario computes the
// RFC 6238 code from it and the login succeeds. A second login (prompt=login) asks for a code
// again, now without enrolment, and accepts the next one.
import { createHmac } from "node:crypto";
import * as oidc from "openid-client";
import { check, env, passwordLogin, recorder, run } from "./lib.mjs";

const issuer = env("ISSUER");
const clientID = env("CLIENT_ID");
const clientSecret = env("CLIENT_SECRET");
const redirectURI = env("REDIRECT_URI");
const username = env("USERNAME");
const password = env("PASSWORD");

function base32(s) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of s.replace(/[=\s]/g, "").toUpperCase()) {
    const i = alphabet.indexOf(ch);
    if (i < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

// RFC 6238 / RFC 4226 code of the time step.
function totp(key, step, { algorithm = "SHA1", digits = 6 } = {}) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const mac = createHmac(algorithm.toLowerCase(), key).update(msg).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const bin = (mac.readUInt32BE(off) & 0x7fffffff) % 10 ** digits;
  return String(bin).padStart(digits, "0");
}

await run("totp", async ({ browser, summary, setPage }) => {
  const rp = await recorder(Number(new URL(redirectURI).port));
  try {
    const config = await oidc.discovery(new URL(issuer), clientID, clientSecret,
      oidc.ClientSecretBasic(clientSecret), { execute: [oidc.allowInsecureRequests] });
    oidc.enableNonRepudiationChecks(config);
    const context = await browser.newContext();
    context.setDefaultTimeout(60_000);
    const page = await context.newPage();
    setPage(page);

    // Password, then the TOTP form: fill(form) returns the code to submit.
    const login = async (label, extra, fill) => {
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectURI, scope: "openid profile", state, nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256", ...extra,
      });
      const hits = rp.hits.length;
      await page.goto(url.href);
      await passwordLogin(page, username, password);
      const form = page.locator("form.auth-otp");
      await form.waitFor();
      const code = await fill(form);
      await form.locator('input[name="token"]').fill(code);
      await Promise.all([
        page.waitForURL((u) => u.href.startsWith(redirectURI), { waitUntil: "load" }),
        form.locator('button[type="submit"]').click(),
      ]);
      check(rp.hits.length === hits + 1, `${label}: the callback got ${rp.hits.length - hits} requests`);
      const tokens = await oidc.authorizationCodeGrant(config, new URL(rp.hits[hits].url), {
        pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
      });
      return tokens.claims();
    };

    let key;
    let params;
    let used;
    const first = await login("enrol", {}, async (form) => {
      const href = await form.locator('.enroll a[href^="otpauth://"]').getAttribute("href");
      check(href, "enrolment: an otpauth:// key URI on the page");
      const u = new URL(href);
      params = { algorithm: u.searchParams.get("algorithm") || "SHA1", digits: Number(u.searchParams.get("digits") || 6),
        period: Number(u.searchParams.get("period") || 30) };
      key = base32(u.searchParams.get("secret"));
      const shown = (await form.locator(".enroll code.secret").innerText()).replace(/\s+/g, "");
      check(shown === u.searchParams.get("secret"), "the secret shown is the key URI's");
      check(await form.locator(".enroll img.qr").count() === 1, "a QR code");
      used = Math.floor(Date.now() / 1000 / params.period);
      return totp(key, used, params);
    });
    summary.enrol = { sub: first.sub, amr: first.amr, params };
    check((first.amr || []).includes("totp"), `enrol: amr ${first.amr}`);

    const second = await login("verify", { prompt: "login" }, async (form) => {
      check(await form.locator(".enroll").count() === 0, "no enrolment the second time");
      const now = Math.floor(Date.now() / 1000 / params.period);
      used = Math.max(used + 1, now); // a code is never accepted twice: take a later step
      return totp(key, used, params);
    });
    check(second.sub === first.sub, "same subject");
    summary.verify = { sub: second.sub, amr: second.amr };
    await context.close();
  } finally {
    await rp.close();
  }
});
