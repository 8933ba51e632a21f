import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { countingBindings, newCounts } from '../bench/counting-bindings';
import {
  authorizeUrl,
  authorizeWithConsent,
  type Browser,
  createUser,
  formAction,
  hiddenFields,
  pkce,
  type RegisteredClient,
  registerClient,
  signedInBrowser,
  userToken,
} from './helpers';
import { laggingReplica, setReplicaClock, visit } from './replica-support';

// Issue 16 item 2: the authorization endpoint reads the session, the client
// and the grant at a read replica (services/authorization.ts lookUpAtReplica);
// what the replica does not have yet is looked up at the primary, and the
// browser's bookmark makes it read its own revocation. Against the stand-in
// lagging replica (local D1 has none).

async function authorize(browser: Browser, client: RegisteredClient, on: typeof env, extra: Record<string, string> = {}) {
  const { challenge } = await pkce();
  const url = authorizeUrl({
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: client.redirect_uris[0],
    scope: 'openid books:read',
    state: 'st',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  });
  return visit(browser, url, on);
}

const codeIn = (response: Response) => new URL(response.headers.get('Location') ?? 'http://x/').searchParams.get('code');

describe('the authorization endpoint’s lookups at a replica', () => {
  it('a client registered and a session signed in after the replica froze are found at the primary', async () => {
    await setReplicaClock();
    const replica = laggingReplica();
    await replica.freeze();
    const user = await createUser();
    const client = await registerClient(await userToken(user));
    const browser = await signedInBrowser(user);
    const page = await authorize(browser, client, replica.env);
    expect(page.status).toBe(200); // the consent page: neither "Unknown app" nor the sign-in page
    expect(await page.text()).toContain('Allow');
  });

  it('a consent the replica has not seen yet is remembered: prompt=none gets a code, not consent_required', async () => {
    await setReplicaClock();
    const replica = laggingReplica();
    await replica.freeze();
    const user = await createUser();
    const client = await registerClient(await userToken(user));
    const browser = await signedInBrowser(user);
    await authorizeWithConsent(browser, client, { scope: 'openid books:read' });
    const answered = await authorize(browser, client, replica.env, { prompt: 'none' });
    expect(answered.status).toBe(302);
    expect(codeIn(answered)).toBeTruthy();
  });

  it('with remembered consent, the lookups are one replica round trip', async () => {
    const user = await createUser();
    const client = await registerClient(await userToken(user));
    const browser = await signedInBrowser(user);
    await authorizeWithConsent(browser, client, { scope: 'openid books:read' });
    await setReplicaClock();
    const counts = newCounts();
    const answered = await authorize(browser, client, countingBindings(env, counts));
    expect(codeIn(answered)).toBeTruthy();
    expect({ primary: counts.d1 - counts.d1Replica, replica: counts.d1Replica }).toEqual({ primary: 1, replica: 1 });
  });

  it('after a revoke on /account, the same browser is asked to consent again, even at a replica that had not applied the revoke', async () => {
    await setReplicaClock();
    const user = await createUser();
    const client = await registerClient(await userToken(user), { client_name: 'Revoked Reader' });
    const browser = await signedInBrowser(user);
    await authorizeWithConsent(browser, client, { scope: 'openid books:read' });
    const replica = laggingReplica();
    expect(codeIn(await authorize(browser, client, replica.env))).toBeTruthy(); // the replica sees the grant
    const html = await (await visit(browser, '/account', replica.env)).text();
    await replica.freeze();
    const revoked = await visit(browser, formAction(html), replica.env, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(hiddenFields(html)).toString(),
    });
    expect(revoked.status).toBe(303);
    const again = await authorize(browser, client, replica.env);
    expect(again.status).toBe(200); // the consent page, through the bookmark cookie
  });

  it('a grant revoked at the primary but still at a fresh replica is not made again, and yields no code', async () => {
    await setReplicaClock();
    const user = await createUser();
    const client = await registerClient(await userToken(user), { client_name: 'Revoked Elsewhere' });
    const browser = await signedInBrowser(user);
    await authorizeWithConsent(browser, client, { scope: 'openid books:read' });
    const replica = laggingReplica();
    expect(codeIn(await authorize(browser, client, replica.env))).toBeTruthy(); // the replica sees the grant
    await replica.freeze();
    // Revoked from another browser (no bookmark here), or by the API: the
    // frozen replica, its clock fresh, still has the grant and says "remembered".
    await env.DB.prepare('delete from grants where user_id = ? and client_id = ?').bind(user.id, client.client_id).run();
    const answered = await authorize(browser, client, replica.env, { prompt: 'none' });
    expect(answered.status).toBe(409);
    expect(await answered.text()).toContain('withdrawn');
    expect(codeIn(answered)).toBeNull();
    const rows = await env.DB.prepare('select count(*) as n from grants where user_id = ? and client_id = ?')
      .bind(user.id, client.client_id)
      .first<{ n: number }>();
    expect(rows?.n, 'the revoked grant stays revoked').toBe(0);
    const codes = await env.DB.prepare('select count(*) as n from codes where user_id = ? and client_id = ?')
      .bind(user.id, client.client_id)
      .first<{ n: number }>();
    expect(codes?.n, 'the earlier codes went with the grant, and none was made since').toBe(0);
  });
});
