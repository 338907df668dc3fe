// A real OpenID Provider for the identity-provider sign-in tests: panva's certified
// `oidc-provider`, configured from a JSON file, on 127.0.0.1. Nothing in here reimplements
// the protocol: authorization, tokens, ID tokens, logout tokens and their signatures are the
// library's own. What this file adds is only what a test needs and a browser-less client can
// drive (tests/providers/op.py is the Python side):
//
//   GET  /interaction/:uid              the login+consent page (a form; `?login=<sub>` or
//                                       `?deny=1` finish it without the form)
//   POST /interaction/:uid/login        form field `login=<sub>`: signs in, grants what was asked
//   POST /interaction/:uid/deny         the End-User refuses: the RP gets error=access_denied
//   PUT  /test/clients/:client_id       JSON client metadata: add or replace a client (validated
//                                       by the OP's own client schema; takes effect at once)
//   POST /test/backchannel/:sub         ends every OP session of `sub` and sends the OP's own
//                                       logout token to each client of that session having a
//                                       backchannel_logout_uri (what RP-initiated logout does)
//   PUT  /test/clock                    JSON {"offset": <seconds>}: the OP's clock runs that far
//                                       off the real one (negative: behind), so what it signs
//                                       from then on (ID tokens: iat, exp) is dated by it
//   GET  /github/user                   GitHub's REST user API, for the `github` preset's tests:
//   GET  /github/user/emails            the authenticated user and their addresses (below)
//   POST /test/reset                    back to the configured clients; sessions, grants and
//                                       tokens forgotten; the clock right again
//
// Usage: node op.mjs --config <file.json> [--port <n>]   (env OP_CONFIG / OP_PORT also work)
// Port 0 (the default) lets the kernel pick; either way one line `READY <issuer>` is printed
// on stdout once listening. SIGTERM/SIGINT close the server and exit 0.
//
// Config: {"clients": [<client metadata>], "accounts": [{"sub", "email", ...claims}],
//          "conform_id_token_claims": false}
// An account may carry what GitHub knows of it: "github_id" (its numeric id), "github_login",
// "github_public_email", "github_emails" ([{email, primary, verified, visibility}]); these are
// no OpenID claims (the OP releases only the claims configured below).

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { parseArgs, promisify } from 'node:util';

const { values: args } = parseArgs({
  options: { config: { type: 'string' }, port: { type: 'string' } },
});
const configPath = args.config ?? process.env.OP_CONFIG;
if (!configPath) {
  console.error('usage: node op.mjs --config <file.json> [--port <n>]');
  process.exit(2);
}
const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));
const requestedPort = Number(args.port ?? process.env.OP_PORT ?? 0);

const accounts = new Map((config.accounts ?? []).map((account) => [account.sub, account]));
// GitHub's OAuth scopes too (read:user, user:email): the github preset asks for them, and a
// token carrying them opens the GitHub-shaped user API below.
const SCOPES = ['openid', 'email', 'profile', 'read:user', 'user:email'];
const PROFILE_CLAIMS = [
  'name', 'family_name', 'given_name', 'middle_name', 'nickname', 'preferred_username',
  'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at',
];

// -- the OP's clock ------------------------------------------------------------------------------
// Everything the library dates (iat/exp of what it signs, the lifetimes of codes and sessions)
// comes from Date.now(). A test sets the OP's clock behind, lets the OP sign an ID token, and
// sets it right: a genuine token, signed by the OP's own key, whose exp has passed for the RP.

const realNow = Date.now.bind(Date);
let clockOffsetMs = 0;
Date.now = () => realNow() + clockOffsetMs;

// -- storage: the library's adapter interface over one Map --------------------------------------
// Clients live here too (not in the static `clients` option), so PUT /test/clients can replace
// one while the OP runs: Client.find reads the adapter and re-validates changed metadata.

const store = new Map(); // `${model}:${id}` -> { payload, expiresAt }
const now = () => Math.floor(Date.now() / 1000);

class TestAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    store.set(this.key(id), { payload, expiresAt });
  }

  async find(id) {
    const entry = store.get(this.key(id));
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      store.delete(this.key(id));
      return undefined;
    }
    return entry.payload;
  }

  #findBy(field, value) {
    for (const [key, entry] of store) {
      if (key.startsWith(`${this.model}:`) && entry.payload[field] === value
        && entry.expiresAt > Date.now()) {
        return entry.payload;
      }
    }
    return undefined;
  }

  async findByUid(uid) {
    return this.#findBy('uid', uid);
  }

  async findByUserCode(userCode) {
    return this.#findBy('userCode', userCode);
  }

  async consume(id) {
    const entry = store.get(this.key(id));
    if (entry) entry.payload.consumed = now();
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const [key, entry] of store) {
      if (entry.payload.grantId === grantId && !key.startsWith('Grant:')) store.delete(key);
    }
  }
}

function storeClients(clients) {
  for (const metadata of clients) {
    store.set(`Client:${metadata.client_id}`, { payload: structuredClone(metadata), expiresAt: Infinity });
  }
}

// -- keys, generated at every start ------------------------------------------------------------

// Generated off the main thread while the library loads (the RSA key is most of the start-up).
async function signingKey(type, options) {
  const { privateKey } = await promisify(crypto.generateKeyPair)(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig' };
}

const keys = Promise.all([
  signingKey('rsa', { modulusLength: 2048 }), // RS256 (the default), PS256
  signingKey('ec', { namedCurve: 'P-256' }), // ES256
  signingKey('ed25519'), // Ed25519 / EdDSA
]);
const { default: Provider, errors } = await import('oidc-provider');
const jwks = { keys: await keys };

// -- pages: no external resources (the defaults load web fonts from the internet) ----------------

const escape = (value) => String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escape(title)}</title></head>`
    + `<body><h1>${escape(title)}</h1>${body}</body></html>`;
}

function loginPage(uid, details, problem) {
  const buttons = [...accounts.values()].map((account) => (
    `<button type="submit" name="login" value="${escape(account.sub)}">Sign in as ${escape(account.sub)}</button>`
  )).join('');
  return page(`Sign in to ${details.params.client_id}`, `
    ${problem ? `<p role="alert">${escape(problem)}</p>` : ''}
    <p>prompt: ${escape(details.prompt.name)}; scope: ${escape(details.params.scope ?? '')}</p>
    <form method="post" action="/interaction/${escape(uid)}/login">
      <label>Account <input name="login" autocomplete="off"></label>
      <button type="submit">Sign in</button>
      ${buttons}
    </form>
    <form method="post" action="/interaction/${escape(uid)}/deny">
      <button type="submit">Refuse</button>
    </form>`);
}

// -- the provider -------------------------------------------------------------------------------

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(requestedPort, '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

storeClients(config.clients ?? []);

const provider = new Provider(issuer, {
  adapter: TestAdapter,
  jwks,
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  scopes: SCOPES,
  claims: {
    acr: null,
    auth_time: null,
    iss: null,
    sid: null,
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: PROFILE_CLAIMS,
  },
  // false: an ID token from the code flow carries the scope's claims (email, name), as the
  // large providers' do; true is the library's strict reading (those claims only at userinfo).
  conformIdTokenClaims: Boolean(config.conform_id_token_claims),
  ttl: { // seconds; the library's defaults, stated (it asks for that at every first use)
    AccessToken: 3600,
    AuthorizationCode: 60,
    Grant: 14 * 24 * 3600,
    IdToken: 3600,
    Interaction: 3600,
    Session: 14 * 24 * 3600,
  },
  responseTypes: ['code'],
  // OpenID Connect requires redirect_uri on every authorization request; so does this OP.
  allowOmittingSingleRegisteredRedirectUri: false,
  pkce: { required: () => true }, // the library accepts S256 only
  async findAccount(_ctx, sub) {
    const account = accounts.get(sub);
    if (!account) return undefined;
    return { accountId: sub, claims: async () => ({ ...account }) };
  },
  features: {
    devInteractions: { enabled: false },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        ctx.body = page('Sign out', `${form}
          <button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
          <button type="submit" form="op.logoutForm">No, stay signed in</button>`);
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = page('Signed out', '<p>Your sign-out was successful.</p>');
      },
    },
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', Object.entries(out)
      .map(([key, value]) => `<p><strong>${escape(key)}</strong>: <span class="${escape(key)}">${escape(value)}</span></p>`)
      .join(''));
  },
  // The library refuses to call special-use addresses (127.0.0.0/8 among them) from its own
  // fetches, an SSRF guard; the RP's back-channel logout receiver is exactly such a loopback
  // server here, so the guard's dispatcher is dropped. Its 2.5 s deadline is too short for a
  // receiver on a loaded two-core CI machine, so the deadline is 15 s here.
  fetch: (url, { dispatcher: _guard, signal: _deadline, ...options }) =>
    globalThis.fetch(url, { ...options, signal: AbortSignal.timeout(15000) }),
});

for (const event of ['server_error', 'authorization.error', 'grant.error', 'backchannel.error',
  'end_session.error', 'userinfo.error', 'discovery.error']) {
  provider.on(event, (_ctx, error) => {
    const cause = error?.cause?.message ? ` (${error.cause.message})` : '';
    console.error(`${event}: ${error?.name} ${error?.message} ${error?.error_description ?? ''}${cause}`);
  });
}
provider.on('backchannel.success', (_ctx, client, accountId, sid) => {
  console.error(`backchannel.success: ${client.clientId} sub=${accountId} sid=${sid}`);
});

// -- the scripted interaction and the test endpoints ------------------------------------------

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function grantFor(details, accountId) {
  const { params, prompt } = details;
  let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  grant ??= new provider.Grant({ accountId, clientId: params.client_id });
  if (prompt.name === 'consent') {
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  } else {
    // One step for login and consent: grant every supported scope and claim asked for.
    const requested = (params.scope ?? '').split(' ').filter((scope) => SCOPES.includes(scope));
    grant.addOIDCScope(requested.join(' '));
    if (params.claims) {
      const claims = JSON.parse(params.claims);
      grant.addOIDCClaims([
        ...Object.keys(claims.id_token ?? {}), ...Object.keys(claims.userinfo ?? {}),
      ]);
    }
  }
  return grant.save();
}

async function finish(ctx, result) {
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
    mergeWithLastSubmission: false,
  });
  ctx.status = 303;
  ctx.set('location', returnTo);
  ctx.body = '';
}

async function signIn(ctx, details, login) {
  const accountId = details.prompt.name === 'login' ? login : details.session?.accountId;
  if (!accountId || !accounts.has(accountId)) {
    ctx.status = 400;
    ctx.type = 'html';
    ctx.body = loginPage(details.uid, details, `unknown account: ${login ?? ''}`);
    return;
  }
  const grantId = await grantFor(details, accountId);
  await finish(ctx, {
    login: { accountId },
    consent: { grantId },
  });
}

function deny(ctx) {
  return finish(ctx, {
    error: 'access_denied',
    error_description: 'End-User refused the authorization request',
  });
}

async function interaction(ctx, uid, action) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid) throw new errors.SessionNotFound('interaction mismatch');
  if (ctx.method === 'GET' && !action) {
    if (ctx.query.deny) return deny(ctx);
    if (ctx.query.login) return signIn(ctx, details, String(ctx.query.login));
    if (details.prompt.name === 'consent') return signIn(ctx, details, undefined);
    ctx.type = 'html';
    ctx.body = loginPage(uid, details);
    return undefined;
  }
  if (ctx.method !== 'POST') {
    ctx.status = 405;
    return undefined;
  }
  if (action === 'deny') return deny(ctx);
  if (action === 'login') {
    const form = new URLSearchParams(await readBody(ctx.req));
    // The typed field, or the "Sign in as" button pressed (the submitter comes last).
    return signIn(ctx, details, form.getAll('login').filter(Boolean).pop());
  }
  ctx.status = 404;
  return undefined;
}

async function endSessions(sub, ctx) {
  const deliveries = [];
  for (const [key, entry] of [...store]) {
    if (!key.startsWith('Session:') || entry.payload.accountId !== sub) continue;
    const session = await provider.Session.find(key.slice('Session:'.length));
    if (!session) continue;
    for (const [clientId, { sid, grantId }] of Object.entries(session.authorizations ?? {})) {
      const client = await provider.Client.find(clientId);
      if (client?.backchannelLogoutUri) {
        // The same call the library's end_session action makes for RP-initiated logout.
        try {
          await client.backchannelLogout(sub, sid);
          provider.emit('backchannel.success', ctx, client, sub, sid);
          deliveries.push({ client_id: clientId, sid, delivered: true });
        } catch (error) {
          provider.emit('backchannel.error', ctx, error, client, sub, sid);
          const reason = [error.message, error.cause?.message].filter(Boolean).join(': ');
          deliveries.push({ client_id: clientId, sid, delivered: false, error: reason });
        }
      }
      if (grantId) {
        await TestAdapter.prototype.revokeByGrantId(grantId);
        store.delete(`Grant:${grantId}`);
      }
    }
    await session.destroy();
  }
  return deliveries;
}

function json(ctx, status, body) {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = JSON.stringify(body);
}

// -- a GitHub-shaped user API over the OP's own tokens ------------------------------------------
// GitHub is OAuth 2.0 without OpenID Connect: who signed in comes from its REST API, which this
// OP lacks. These two routes answer GitHub's documented response shapes ("Get the authenticated
// user": GET /user; "List email addresses for the authenticated user": GET /user/emails, which
// needs the user:email scope) for the bearer access token, looked up in the real OP's token
// store (provider.AccessToken.find): only a token this OP issued, unexpired, opens them, and
// the answer is that token's account. GitHub's own rules, as documented: a request without a
// User-Agent is refused (403); no or an unknown token is 401 with GitHub's messages; a token
// without user:email gets 404 from /user/emails. `id` is a number, `email` the public address
// or null (most GitHub users keep theirs private), and only /user/emails says which address
// is primary and which are verified.

const GITHUB_DOCS = 'https://docs.github.com/rest';

function githubId(account) {
  if (Number.isInteger(account.github_id)) return account.github_id;
  return crypto.createHash('sha256').update(account.sub).digest().readUInt32BE(0);
}

function githubEmails(account) {
  return account.github_emails ?? [{
    email: account.email, primary: true, verified: account.email_verified === true,
    visibility: 'private',
  }];
}

async function githubApi(ctx, path) {
  if (ctx.method !== 'GET') return json(ctx, 404, { message: 'Not Found', documentation_url: GITHUB_DOCS });
  if (!ctx.get('user-agent')) {
    return json(ctx, 403, {
      message: 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header',
    });
  }
  const [scheme, value] = (ctx.get('authorization') || '').split(' ');
  if (!value || !['bearer', 'token'].includes(scheme.toLowerCase())) {
    return json(ctx, 401, { message: 'Requires authentication', documentation_url: GITHUB_DOCS });
  }
  const token = await provider.AccessToken.find(value);
  const account = token && !token.isExpired ? accounts.get(token.accountId) : undefined;
  if (!account) return json(ctx, 401, { message: 'Bad credentials', documentation_url: GITHUB_DOCS });
  const scopes = (token.scope ?? '').split(' ').filter(Boolean);
  ctx.set('x-oauth-scopes', scopes.join(', '));
  if (path === '/user') {
    const id = githubId(account);
    return json(ctx, 200, {
      login: account.github_login ?? account.sub,
      id,
      node_id: Buffer.from(`04:User${id}`).toString('base64'),
      type: 'User',
      site_admin: false,
      name: account.name ?? null,
      email: account.github_public_email ?? null,
    });
  }
  if (path === '/user/emails') {
    if (!scopes.includes('user:email') && !scopes.includes('user')) {
      return json(ctx, 404, { message: 'Not Found', documentation_url: GITHUB_DOCS });
    }
    return json(ctx, 200, githubEmails(account));
  }
  return json(ctx, 404, { message: 'Not Found', documentation_url: GITHUB_DOCS });
}

// The library takes a client secret in the form or in HTTP Basic whichever of the two a client
// registered. GitHub documents client_id and client_secret as form parameters of its token
// request; so that a test can tell which one an RP sent, a client registered with
// client_secret_post is refused here when it authenticates with Basic.
async function refusesBasicForPostClients(ctx) {
  const [scheme, value] = (ctx.get('authorization') || '').split(' ');
  if (ctx.method !== 'POST' || scheme?.toLowerCase() !== 'basic' || !value) return false;
  let clientId;
  try {
    const basic = Buffer.from(value, 'base64').toString('utf8');
    clientId = decodeURIComponent(basic.slice(0, Math.max(0, basic.indexOf(':'))));
  } catch {
    return false; // malformed: the library's own check answers it
  }
  const client = clientId ? await provider.Client.find(clientId) : undefined;
  if (client?.clientAuthMethod !== 'client_secret_post') return false;
  json(ctx, 401, {
    error: 'invalid_client',
    error_description: 'this client registered client_secret_post: send the secret in the form',
  });
  return true;
}

provider.use(async (ctx, next) => {
  const parts = ctx.path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'token' && parts.length === 1 && await refusesBasicForPostClients(ctx)) {
    return undefined;
  }
  if (parts[0] === 'interaction' && parts.length >= 2 && parts.length <= 3) {
    try {
      return await interaction(ctx, parts[1], parts[2]);
    } catch (error) {
      if (!error.expose) throw error;
      ctx.status = error.statusCode ?? 400;
      ctx.type = 'html';
      ctx.body = page('Error', `<p><strong>${escape(error.message)}</strong>: `
        + `${escape(error.error_description ?? '')}</p>`);
      return undefined;
    }
  }
  if (parts[0] === 'github') return githubApi(ctx, ctx.path.slice('/github'.length));
  if (parts[0] !== 'test' || ctx.method === 'GET') return next();
  if (parts[1] === 'clients' && parts.length === 3 && ctx.method === 'PUT') {
    const metadata = { ...JSON.parse(await readBody(ctx.req)), client_id: parts[2] };
    try {
      await provider.Client.validate(metadata);
    } catch (error) {
      return json(ctx, 400, { error: error.message, error_description: error.error_description });
    }
    storeClients([metadata]);
    return json(ctx, 200, metadata);
  }
  if (parts[1] === 'backchannel' && parts.length === 3 && ctx.method === 'POST') {
    return json(ctx, 200, { deliveries: await endSessions(parts[2], ctx) });
  }
  if (parts[1] === 'clock' && parts.length === 2 && ctx.method === 'PUT') {
    const { offset } = JSON.parse(await readBody(ctx.req));
    if (!Number.isFinite(offset)) return json(ctx, 400, { error: 'offset must be a number' });
    clockOffsetMs = offset * 1000;
    return json(ctx, 200, { offset });
  }
  if (parts[1] === 'reset' && parts.length === 2 && ctx.method === 'POST') {
    clockOffsetMs = 0;
    store.clear();
    storeClients(config.clients ?? []);
    return json(ctx, 200, {});
  }
  return next();
});

server.on('request', provider.callback());

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

console.log(`READY ${issuer}`);
