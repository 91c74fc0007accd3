// A local OpenID provider standing in for a Swedish eID broker, for the tests and the demo only.
//
// It is panva's oidc-provider (OpenID Certified), configured like a broker under the Swedish
// OIDC profile: the scope https://id.oidc.se/scope/naturalPersonNumber gives the claim
// https://id.oidc.se/claim/personalIdentityNumber in the ID token, PKCE is required, and acr is
// the level of assurance. Instead of BankID or Freja it shows a form where you type any
// personnummer: that is who you "are". Never point a real election at it.
//
// Usage: node scripts/eid-test-provider.mjs CONFIG.json   (or the JSON itself as the argument)
// CONFIG: {"port": 0, "clients": [{"client_id", "client_secret", "redirect_uris": [...]}],
//          "acr": "http://id.elegnamnden.se/loa/1.0/loa3"}
// It listens on 127.0.0.1 only and prints one line of JSON, {"issuer": "http://127.0.0.1:PORT"},
// once it answers. It serves no external resources: its pages load nothing from the network.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import Provider from 'oidc-provider';

const PNR_SCOPE = 'https://id.oidc.se/scope/naturalPersonNumber';
const PNR_CLAIM = 'https://id.oidc.se/claim/personalIdentityNumber';
const LOA3 = 'http://id.elegnamnden.se/loa/1.0/loa3';

const arg = process.argv[2] ?? '{}';
const config = JSON.parse(arg.trimStart().startsWith('{') ? arg : readFileSync(arg, 'utf8'));
const acr = config.acr ?? LOA3;

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };
}

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!doctype html><html lang="sv"><head><meta charset="utf-8"><title>${escape(title)}</title>`
    + '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
    + '<body style="font-family: sans-serif; max-width: 32em; margin: 2em auto">'
    + `<h1>${escape(title)}</h1>${body}</body></html>`;
}

async function formBody(req) {
  let data = '';
  for await (const chunk of req) {
    data += chunk;
    if (data.length > 10000) throw new Error('body too large');
  }
  return new URLSearchParams(data);
}

const server = http.createServer();
await new Promise((resolve) => { server.listen(config.port ?? 0, '127.0.0.1', resolve); });
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: (config.clients ?? []).map((client) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...client,
  })),
  jwks: { keys: [signingKey()] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: { openid: ['sub'], [PNR_SCOPE]: [PNR_CLAIM], profile: ['name'] },
  scopes: ['openid', PNR_SCOPE, 'profile'],
  // The Swedish profile puts the identity in the ID token, not only behind the userinfo endpoint.
  conformIdTokenClaims: false,
  acrValues: [acr],
  pkce: { required: () => true },
  responseTypes: ['code'],
  features: { devInteractions: { enabled: false } },
  findAccount: async (ctx, id) => ({
    accountId: id,
    async claims() {
      return { sub: id, [PNR_CLAIM]: id };
    },
  }),
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = page('Fel hos test-e-legitimationen', `<pre>${escape(JSON.stringify(out))}</pre>`);
  },
});

// The interaction pages: a login form (the personnummer) and consent given at once.
provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/interaction\/([\w-]+)(\/(login|abort))?$/);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const uid = escape(details.uid);
  let result;
  if (ctx.method === 'POST' && match[3] === 'abort') {
    result = { error: 'access_denied', error_description: 'the user cancelled' };
  } else if (details.prompt.name === 'login' && ctx.method === 'POST' && match[3] === 'login') {
    const pnr = ((await formBody(ctx.req)).get('pnr') ?? '').replace(/[^0-9]/g, '');
    result = { login: { accountId: pnr, acr } };
  } else if (details.prompt.name === 'login') {
    ctx.type = 'html';
    ctx.body = page('Test-e-legitimation', '<p>Endast för test och demo: skriv det personnummer '
      + 'du vill logga in som (12 siffror). / Test and demo only: type the personal identity '
      + 'number to sign in as.</p>'
      + `<form method="post" action="/interaction/${uid}/login">`
      + '<label for="pnr">Personnummer</label> '
      + '<input id="pnr" name="pnr" required autocomplete="off" inputmode="numeric"> '
      + '<button type="submit">Legitimera</button></form>'
      + `<form method="post" action="/interaction/${uid}/abort"><button type="submit">Avbryt</button></form>`);
    return undefined;
  } else if (details.prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    if (details.prompt.details.missingOIDCScope) grant.addOIDCScope(details.prompt.details.missingOIDCScope.join(' '));
    if (details.prompt.details.missingOIDCClaims) grant.addOIDCClaims(details.prompt.details.missingOIDCClaims);
    result = { consent: { grantId: await grant.save() } };
  } else {
    ctx.throw(400, 'unexpected interaction');
  }
  const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  ctx.status = 303;
  ctx.redirect(to);
  return undefined;
});

server.on('request', provider.callback());
process.on('SIGTERM', () => { server.close(); process.exit(0); });
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
