// The peer `make bench` runs beside Keyflow: panva's oidc-provider (a certified OpenID provider)
// configured like Keyflow's benchmarked paths, so both are driven by the same load in the same run.
//
//   - ES256 only: one P-256 signing key; ID tokens and JWT access tokens are ES256 (Keyflow's
//     default), access tokens are JWTs (RFC 9068) through a default resource server.
//   - client_credentials for a confidential client (client_secret_basic), as Keyflow's
//     client-credentials path.
//   - code + PKCE (S256) for a public client, as Keyflow's demo client.
//   - a login interaction (no devInteractions) that checks the password with argon2id using
//     Keyflow's parameters (connectors/password.OWASP: m=19 MiB, t=2, p=1, 32-byte key, 16-byte
//     salt), and no consent prompt (the grant is established on login, as for a first-party app).
//
// Configuration comes from the environment: BENCH_PEER_PORT (loopback port), BENCH_PEER_USERS
// (how many users bench-user-00…), BENCH_PEER_PASSWORD (their password), BENCH_PEER_CC_SECRET
// (the confidential client's secret), BENCH_PEER_REDIRECT_URI (the public client's redirect URI).
// Users live in memory, as does everything else of the provider (its default adapter): Keyflow
// keeps the same state in PostgreSQL and Temporal. The process prints "ready <issuer>
// argon2id-ms=<CPU time of one check>" when it listens and stops on SIGTERM.
import crypto from 'node:crypto';
import http from 'node:http';

import { hash, verify } from '@node-rs/argon2';
import Provider from 'oidc-provider';

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is required`);
  }
  return v;
};

const port = Number(env('BENCH_PEER_PORT'));
const userCount = Number(env('BENCH_PEER_USERS'));
const password = env('BENCH_PEER_PASSWORD');
const ccSecret = env('BENCH_PEER_CC_SECRET');
const redirectURI = env('BENCH_PEER_REDIRECT_URI');
const issuer = `http://127.0.0.1:${port}`;

// Keyflow's connectors/password.OWASP.
const argon2id = { algorithm: 2, memoryCost: 19 * 1024, timeCost: 2, parallelism: 1, outputLen: 32 };

const resource = 'urn:keyflow-bench:api';
const resourceScope = 'api';

// users: username → { id, hash }.
const users = new Map();
for (let i = 0; i < userCount; i++) {
  const username = `bench-user-${String(i).padStart(2, '0')}`;
  users.set(username, { id: crypto.randomUUID(), username, hash: await hash(password, argon2id) });
}
const byID = new Map([...users.values()].map((u) => [u.id, u]));
// Unknown usernames cost one verify too, as in Keyflow (no user enumeration by timing).
const dummyHash = await hash(crypto.randomBytes(16).toString('hex'), argon2id);

// This machine's CPU time for one argon2id check in the peer (all threads: the check runs on libuv's
// pool), printed on the ready line so the bench can set it beside Go's.
const cpu0 = process.cpuUsage();
for (let i = 0; i < 9; i++) {
  await verify(dummyHash, 'not the password');
}
const cpu1 = process.cpuUsage(cpu0);
const argon2CPU = (cpu1.user + cpu1.system) / 1000 / 9;

const signingKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'bench-cc',
      client_secret: ccSecret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: resourceScope,
    },
    {
      client_id: 'bench-public',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [redirectURI],
      id_token_signed_response_alg: 'ES256',
    },
  ],
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  jwks: { keys: [{ ...signingKey, kid: 'bench-es256', alg: 'ES256', use: 'sig' }] },
  enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: resourceScope,
        audience: resource,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  scopes: ['openid', 'profile', resourceScope],
  claims: { openid: ['sub'], profile: ['preferred_username'] },
  findAccount: (_ctx, id) => {
    const u = byID.get(id);
    if (!u) {
      return undefined;
    }
    return { accountId: id, claims: () => ({ sub: id, preferred_username: u.username }) };
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  // No consent: the login establishes the grant, as Keyflow does for an application without a
  // consent step.
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      return ctx.oidc.provider.Grant.find(grantId);
    }
    if (!ctx.oidc.session.accountId) {
      return undefined;
    }
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile');
    grant.addResourceScope(resource, resourceScope);
    await grant.save();
    return grant;
  },
});
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

const escapeHTML = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const readForm = (req) =>
  new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 64 * 1024) {
        reject(new Error('body too large'));
        req.destroy();
      }
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });

// interaction serves the login page (GET /interaction/:uid) and its form (POST
// /interaction/:uid/login); everything else is the provider's.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET') {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(`<!doctype html><title>Sign in</title><form method="post" action="/interaction/${escapeHTML(details.uid)}/login">` +
      '<input name="username" autocomplete="username"><input name="password" type="password" autocomplete="current-password">' +
      '<button>Sign in</button></form>');
    return;
  }
  if (details.prompt.name !== 'login') {
    // Consent is never asked (loadExistingGrant); anything else is a bench bug.
    res.writeHead(400, { 'Content-Type': 'text/plain' });
    res.end(`unexpected prompt ${details.prompt.name}`);
    return;
  }
  const form = await readForm(req);
  const user = users.get(form.get('username') ?? '');
  const ok = await verify(user ? user.hash : dummyHash, form.get('password') ?? '');
  if (!user || !ok) {
    res.writeHead(401, { 'Content-Type': 'text/plain' });
    res.end('invalid credentials');
    return;
  }
  await provider.interactionFinished(req, res, { login: { accountId: user.id } }, { mergeWithLastSubmission: false });
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      console.error('interaction', err);
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'text/plain' });
      }
      res.end('interaction failed');
    });
    return;
  }
  callback(req, res);
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => console.log(`ready ${issuer} argon2id-ms=${argon2CPU.toFixed(3)}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
