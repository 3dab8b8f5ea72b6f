// A real OAuth 2.0 authorization server for the connect-flow tests: oidc-provider with
// one static confidential client, PKCE (S256) required, refresh tokens and revocation.
//
// Environment:
//   PORT              port on 127.0.0.1 (0 or unset: any free port)
//   CLIENT_ID         the one client's id
//   CLIENT_SECRET     its secret
//   TOKEN_AUTH        how it authenticates at the token and revocation endpoints:
//                     client_secret_post (default) or client_secret_basic
//   REDIRECT_URI      its one redirect URI, matched exactly (loopback http is fine)
//   ACCESS_TOKEN_TTL  access token lifetime in seconds (default 3600)
//   ROTATE_REFRESH_TOKENS  "1": every refresh answers a new refresh token and the old
//                     one stops working; otherwise (default) a refresh token is reused
//                     as is until revoked or expired (14 days)
//
// When it is ready it prints exactly one line to stdout, `listening <issuer>`, where the
// issuer is `http://127.0.0.1:<port>`. Everything else (errors only) goes to stderr. It
// exits on SIGTERM or SIGINT, and when its stdin, if a pipe, closes.
//
// Endpoints are oidc-provider's defaults: /auth, /token, /token/revocation,
// /token/introspection, /.well-known/openid-configuration; plus /interaction/<uid>
// (login and consent, below) and GET /api/me, a protected resource that answers the
// access token's subject and scope to `Authorization: Bearer <access token>`.
//
// Login needs no form: every login is account `contact-1`. Consent, asked every time,
// is a plain HTML page (no JavaScript) with two forms: `<button id="allow">` grants the
// requested scopes, `<button id="deny">` sends the user back to the redirect URI with
// `error=access_denied`.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { fstatSync } from 'node:fs';
import { createServer } from 'node:http';

const ACCOUNT_ID = 'contact-1';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`oauth peer: ${name} must be set`);
    process.exit(2);
  }
  return value;
}

const clientId = required('CLIENT_ID');
const clientSecret = required('CLIENT_SECRET');
const redirectUri = required('REDIRECT_URI');
const port = Number(process.env.PORT || 0);
const accessTokenTtl = Number(process.env.ACCESS_TOKEN_TTL || 3600);
const rotateRefreshTokens = process.env.ROTATE_REFRESH_TOKENS === '1';
const tokenAuth = process.env.TOKEN_AUTH === 'client_secret_basic'
  ? 'client_secret_basic'
  : 'client_secret_post';

// oidc-provider prints its notices ("default X function called, you SHOULD change it")
// with console.info, which writes to stdout; stdout is only for the ready line. Two of
// its warnings are expected here and dropped: that Node 20 is not an LTS it supports
// (it works; it asks for Node 22+), and that its store is in memory (a test peer's is).
console.info = () => {};
console.log = (...args) => console.error(...args);
const warn = console.warn;
console.warn = (...args) => {
  const text = String(args[0]);
  if (!/Unsupported runtime|in-memory adapter/.test(text)) {
    warn(...args);
  }
};

// Imported only now, so that the console is set up before it first prints.
const { default: Provider } = await import('oidc-provider');

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>
`;
}

// Signing keys are not used for plain OAuth 2.0 (no ID tokens), but a fixed key keeps
// oidc-provider from generating its development keys with a warning.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', kid: 'peer' };

function configuration(issuer) {
  return {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: tokenAuth,
      scope: 'crm.read crm.write offline_access',
    }],
    // The API scopes are offered like any scope: access tokens are opaque, stored
    // in memory, and carry the granted scopes.
    scopes: ['openid', 'offline_access', 'crm.read', 'crm.write'],
    claims: { openid: ['sub'] },
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    jwks: { keys: [signingKey] },
    cookies: {
      // Signed, and named apart from whatever the app under test sets: browsers share
      // cookies between ports of one host. Over plain http they are not `secure`
      // (oidc-provider sets that only on https requests).
      keys: [randomBytes(32).toString('base64url')],
      names: {
        session: 'oauth_peer_session',
        interaction: 'oauth_peer_interaction',
        resume: 'oauth_peer_resume',
      },
    },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      introspection: { enabled: true },
    },
    pkce: { required: () => true },
    // oidc-provider drops `offline_access` from a request without `prompt=consent`;
    // this client gets a refresh token all the same, and its tokens outlive the
    // provider's browser session.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    expiresWithSession: async () => false,
    // Every authorization asks for consent, even in a browser that allowed before: a
    // grant is only loaded as the consent step just made it.
    loadExistingGrant: async (ctx) => {
      const grantId = ctx.oidc.result?.consent?.grantId;
      return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
    },
    rotateRefreshToken: () => rotateRefreshTokens,
    clientBasedCORS: () => false,
    interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: {
      AccessToken: () => accessTokenTtl,
      AuthorizationCode: () => 300,
      ClientCredentials: () => 600,
      DeviceCode: () => 600,
      BackchannelAuthenticationRequest: () => 600,
      IdToken: () => 3600,
      RefreshToken: () => 14 * 24 * 60 * 60,
      Interaction: () => 3600,
      Session: () => 14 * 24 * 60 * 60,
      Grant: () => 14 * 24 * 60 * 60,
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Something went wrong', Object.entries(out)
        .map(([key, value]) => `<p><strong>${escapeHtml(key)}</strong>: ${escapeHtml(value)}</p>`)
        .join('\n'));
    },
  };
}

// The login and consent steps, `/interaction/<uid>` (GET) and its two forms.
function interactions(provider) {
  const finish = async (ctx, result) => {
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
      mergeWithLastSubmission: false,
    });
    ctx.status = 303;
    ctx.set('Location', returnTo);
    ctx.body = '';
  };

  return async (ctx, next) => {
    const match = /^\/interaction\/([\w-]+)(?:\/(allow|deny))?$/.exec(ctx.path);
    if (!match) {
      return next();
    }
    const [, uid, action] = match;
    const method = action ? 'POST' : 'GET';
    if (ctx.method !== method) {
      ctx.status = 405;
      return undefined;
    }
    ctx.set('Cache-Control', 'no-store');
    let details;
    try {
      details = await provider.interactionDetails(ctx.req, ctx.res);
    } catch (err) {
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = page('Something went wrong', `<p>${escapeHtml(err.message)}</p>`);
      return undefined;
    }
    if (details.uid !== uid) {
      ctx.status = 400;
      ctx.body = 'interaction mismatch';
      return undefined;
    }
    const { prompt, params, session, grantId } = details;

    if (prompt.name === 'login') {
      return finish(ctx, { login: { accountId: ACCOUNT_ID } });
    }
    if (prompt.name !== 'consent') {
      ctx.status = 400;
      ctx.body = `unexpected prompt ${prompt.name}`;
      return undefined;
    }

    if (!action) {
      const scopes = (params.scope || '').split(' ').filter(Boolean);
      ctx.type = 'html';
      ctx.body = page('Authorize Acme CRM', `
<p>The application <code id="client">${escapeHtml(params.client_id)}</code> asks to access your
Acme CRM account <code>${escapeHtml(session?.accountId ?? ACCOUNT_ID)}</code> with these scopes:</p>
<ul id="scopes">
${scopes.map((s) => `<li>${escapeHtml(s)}</li>`).join('\n')}
</ul>
<form method="post" action="/interaction/${escapeHtml(uid)}/allow">
<button id="allow" type="submit">Allow</button>
</form>
<form method="post" action="/interaction/${escapeHtml(uid)}/deny">
<button id="deny" type="submit">Deny</button>
</form>`);
      return undefined;
    }

    if (action === 'deny') {
      return finish(ctx, {
        error: 'access_denied',
        error_description: 'The user denied the request',
      });
    }

    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) {
      grant.addOIDCScope(missingOIDCScope.join(' '));
    }
    for (const [resource, scopes] of Object.entries(missingResourceScopes || {})) {
      grant.addResourceScope(resource, scopes.join(' '));
    }
    return finish(ctx, { consent: { grantId: await grant.save() } });
  };
}

// GET /api/me: the protected resource. 200 with the token's subject, client and scope
// to a live access token, 401 to anything else.
function api(provider) {
  return async (ctx, next) => {
    if (ctx.path !== '/api/me') {
      return next();
    }
    const auth = ctx.get('authorization');
    const value = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    const token = value ? await provider.AccessToken.find(value) : undefined;
    if (!token) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer error="invalid_token"');
      ctx.body = { error: 'invalid_token' };
      return undefined;
    }
    ctx.body = { sub: token.accountId, client_id: token.clientId, scope: token.scope };
    return undefined;
  };
}

const server = createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, configuration(issuer));
  provider.on('server_error', (_ctx, err) => console.error('oauth peer: server error:', err));
  provider.use(interactions(provider));
  provider.use(api(provider));
  server.on('request', provider.callback());
  process.stdout.write(`listening ${issuer}\n`);
});
server.on('error', (err) => {
  console.error('oauth peer:', err.message);
  process.exit(1);
});

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The launcher holds our stdin open; when it goes away, so do we. A terminal or
// /dev/null as stdin is left alone.
const stdin = fstatSync(0);
if (stdin.isFIFO() || stdin.isSocket()) {
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();
}
