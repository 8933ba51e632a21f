#!/usr/bin/env node
// `npm run device-login`: sign in from a command line with the device
// authorization grant (RFC 8628), the example to copy for a CLI, a TV app or
// any device that cannot take a browser redirect. It asks Tollgate for a
// code, tells you where to type it, waits while you approve it in any
// browser, then prints the tokens' claims.
//
// It uses openid-client (the project's OpenID Certified relying party, a
// devDependency) and nothing else:
//   initiateDeviceAuthorization   POST /oauth2/device_authorization
//   pollDeviceAuthorizationGrant  polls /oauth2/token every `interval`
//                                 seconds, slower after slow_down (§3.5)
//
// Settings (environment):
//   TOLLGATE_ISSUER     default http://localhost:8787 (the server of `npm start`)
//   TOLLGATE_CLIENT_ID  default demo-cli (seeded by `npm start`; register your
//                       own with grant_types
//                       ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]
//                       and token_endpoint_auth_method "none")
//   TOLLGATE_SCOPE      default "openid profile offline_access books:read"
import process from 'node:process';
import * as client from 'openid-client';

const issuer = new URL(process.env.TOLLGATE_ISSUER ?? 'http://localhost:8787');
const clientId = process.env.TOLLGATE_CLIENT_ID ?? 'demo-cli';
const scope = process.env.TOLLGATE_SCOPE ?? 'openid profile offline_access books:read';

/** Plain http is only for a server on this machine (`npm start`); anything else must be https. */
function isLoopback(url) {
  return url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
}

/**
 * A JWT's payload, decoded for display only: NOT verified here. (openid-client
 * verified the ID token's signature and claims when it received it; an access
 * token is for the API to verify, not for the client.)
 */
function decodedClaims(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

async function main() {
  if (issuer.protocol !== 'https:' && !isLoopback(issuer)) {
    throw new Error(`${issuer.origin} is not https: refusing to send tokens over plain http off this machine`);
  }
  // A public client (token_endpoint_auth_method none): a CLI keeps no secret.
  const config = await client.discovery(
    issuer,
    clientId,
    undefined,
    client.None(),
    issuer.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : undefined,
  );
  const started = await client.initiateDeviceAuthorization(config, { scope });

  // RFC 8628 §3.3: show the code and where to type it; the complete URI is for a QR code or a click.
  console.log(`
  To sign in, open   ${started.verification_uri}
  and enter the code ${started.user_code}

  (or open ${started.verification_uri_complete ?? started.verification_uri})

  Only approve it if this terminal started it. Waiting (the code expires in ${Math.round(started.expires_in / 60)} minutes)…`);

  // Ctrl-C stops the polling cleanly.
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  const tokens = await client.pollDeviceAuthorizationGrant(config, started, undefined, { signal: abort.signal });

  console.log('\n  Signed in.\n');
  console.log(`  token_type    ${tokens.token_type}`);
  console.log(`  scope         ${tokens.scope ?? scope}`);
  console.log(`  expires_in    ${tokens.expires_in ?? '?'} s`);
  console.log(`  refresh_token ${tokens.refresh_token ? 'yes (keep it like a password)' : 'no (ask for offline_access)'}`);
  const idClaims = tokens.claims();
  if (idClaims) console.log('\n  ID token claims (verified by openid-client):\n', idClaims);
  console.log('\n  Access token claims (decoded for display, not verified):\n', decodedClaims(tokens.access_token));
  console.log(`\n  Try it:  curl -s ${issuer.origin}/api/books -H 'Authorization: Bearer ${tokens.access_token}'\n`);
}

main().catch((error) => {
  // RFC 8628 §3.5 errors come back as `error`: access_denied, expired_token, …
  const code = error?.error ?? error?.code ?? error?.name;
  const messages = {
    access_denied: 'The request was denied in the browser.',
    expired_token: 'The code expired before it was approved. Run the command again.',
    invalid_client: `Tollgate does not know client ${clientId} (set TOLLGATE_CLIENT_ID; \`npm start\` seeds demo-cli).`,
    unauthorized_client: `Client ${clientId} is not registered for the device grant.`,
    AbortError: 'Stopped.',
  };
  console.error(`\n  ${messages[code] ?? `Sign-in failed: ${error?.error_description ?? error?.message ?? error}`}\n`);
  process.exitCode = 1;
});
