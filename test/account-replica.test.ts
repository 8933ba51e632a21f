import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { countingBindings, newCounts } from '../bench/counting-bindings';
import { REPLICA_MAX_STALENESS } from '../src/config';
import { authorizeWithConsent, createUser, formAction, hiddenFields, registerClient, signedInBrowser, userToken } from './helpers';
import { laggingReplica, setReplicaClock, visit } from './replica-support';

// Issue 16 item 2: browser sessions carry a D1 bookmark so that a user reads
// their own writes from a replica. GET /account reads at a replica; a revoke
// there writes at the primary and leaves its bookmark in a cookie
// (helpers/cookies.ts tg_bookmark), so the page after shows the app gone even
// from a replica that had not applied the revocation (a stand-in, local D1
// has no replicas).

async function accountWithApp(name: string) {
  const user = await createUser();
  const client = await registerClient(await userToken(user), { client_name: name });
  const browser = await signedInBrowser(user);
  await authorizeWithConsent(browser, client, { scope: 'books:read' });
  return browser;
}

describe('/account reads at a replica, and a revoke there is read back', () => {
  it('the page after a revoke shows the app gone, from a replica that had not applied it, through the bookmark cookie', async () => {
    await setReplicaClock();
    const browser = await accountWithApp('Lagging Shelf');
    const replica = laggingReplica();
    const page = await visit(browser, '/account', replica.env);
    const html = await page.text();
    expect(html).toContain('>Revoke</button>');
    await replica.freeze(); // the replica applies nothing from here on

    const revoked = await visit(browser, formAction(html), replica.env, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(hiddenFields(html)).toString(),
    });
    expect(revoked.status).toBe(303);
    const cookie = revoked.headers.getSetCookie().find((c) => c.startsWith('tg_bookmark='));
    expect(cookie).toMatch(/^tg_bookmark=[0-9a-f-]+;/);
    expect(cookie).toContain(`Max-Age=${REPLICA_MAX_STALENESS}`);
    expect(cookie).toContain('HttpOnly');

    // The app is listed with a Revoke button while authorized (its client, registered by the user, is listed apart).
    expect(await (await visit(browser, '/account', replica.env)).text()).not.toContain('>Revoke</button>');
    // Without the bookmark the same replica still shows it: the cookie is what reads the write back.
    browser.cookies.delete('tg_bookmark');
    expect(await (await visit(browser, '/account', replica.env)).text()).toContain('>Revoke</button>');
  });

  it('a session the replica has not seen yet is read at the primary: a new sign-in is not sent back to /login', async () => {
    await setReplicaClock();
    const replica = laggingReplica();
    await replica.freeze();
    const browser = await accountWithApp('Fresh Sign-in');
    const page = await visit(browser, '/account', replica.env);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Fresh Sign-in');
  });

  it('a session ended at the primary stays usable at a replica only while its clock is within REPLICA_MAX_STALENESS', async () => {
    for (const [age, status] of [
      [REPLICA_MAX_STALENESS - 5, 200],
      [REPLICA_MAX_STALENESS + 1, 302],
    ] as const) {
      const browser = await accountWithApp('Signed Out');
      const replica = laggingReplica();
      await setReplicaClock(age);
      await visit(browser, '/account', replica.env); // the replica sees the session, its clock that old
      await replica.freeze();
      await env.DB.prepare('delete from sessions').run(); // signed out everywhere, at the primary
      expect((await visit(browser, '/account', replica.env)).status).toBe(status);
    }
  });

  it('the page is a replica’s round trips when the replica has the session', async () => {
    await setReplicaClock();
    const browser = await accountWithApp('Counted');
    const counts = newCounts();
    const page = await visit(browser, '/account', countingBindings(env, counts));
    expect(page.status).toBe(200);
    // The session with the replica clock, then the lists (apps, clients, activity, passkeys, two-factor,
    // sessions, linked identities) in the same D1 session.
    expect({ primary: counts.d1 - counts.d1Replica, replica: counts.d1Replica }).toEqual({ primary: 0, replica: 8 });
  });
});
