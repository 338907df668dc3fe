// Verify sessionjwt access tokens the way a Node service would: the remote JWKS, jwtVerify
// with the expected typ, issuer and audience. Reads {jwks_url, issuer, audience, tokens} as
// JSON on stdin; prints {name: {ok: true, payload} | {ok: false, code}} as JSON on stdout.
import { createRemoteJWKSet, jwtVerify } from 'jose';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const jwks = createRemoteJWKSet(new URL(request.jwks_url));
const results = {};
for (const [name, token] of Object.entries(request.tokens)) {
  try {
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      typ: 'at+jwt',
      issuer: request.issuer,
      audience: request.audience,
      algorithms: request.algorithms,
    });
    results[name] = { ok: true, payload, alg: protectedHeader.alg };
  } catch (error) {
    results[name] = { ok: false, code: error.code ?? String(error) };
  }
}
process.stdout.write(JSON.stringify(results));
