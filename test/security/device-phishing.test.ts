import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { answerOnPages, deviceRow, enterCode, poll, registerDeviceClient, requestDeviceAuthorization } from '../device-support';
import { basic, createUser, form, formAction, hiddenFields, issueTokens, registerClient, signedInBrowser, userToken } from '../helpers';

// RFC 8628 §5.4 remote phishing: an attacker starts a device flow on their
// own device and sends the victim the link (verification_uri_complete) or
// the code with a pretext ("confirm your account"). Approving it would sign
// the attacker's device in to the victim's account. What stands in the way:
// nothing is approved without the victim pressing Allow on a page that names
// the client, shows the code to compare, and warns to approve only a code
// they started themselves; opening the link changes nothing; and a grant the
// victim gave the client before does not skip that page.

async function attackersDevice(clientName = 'Acme Smart TV') {
  const attacker = await createUser({ name: 'Mallory' });
  const client = await registerDeviceClient(await userToken(attacker), { client_name: clientName });
  const started = (await (await requestDeviceAuthorization(client, { scope: 'openid books:read books:write' })).json()) as Record<
    string,
    string
  >;
  return { client, started };
}

describe('phishing-style approval of someone else’s device code (RFC 8628 §5.4)', () => {
  it('the link alone changes nothing: the page only prefills the code', async () => {
    const { started } = await attackersDevice();
    const victim = await signedInBrowser(await createUser());
    const link = new URL(started.verification_uri_complete!);
    const opened = await victim.get(link.pathname + link.search);
    expect(opened.status).toBe(200);
    const html = await opened.text();
    expect(html).toContain(`value="${started.user_code}"`);
    expect(html).not.toContain('>Allow</button>');
    expect((await deviceRow(started.device_code!))?.status).toBe('pending');
  });

  it('the consent page names the client, shows the code and warns to approve only a code the user started', async () => {
    const { started, client } = await attackersDevice('Acme Smart TV');
    const victim = await signedInBrowser(await createUser({ name: 'Victor' }));
    const shown = await enterCode(victim, started.user_code!);
    const consent = await shown.text();
    expect(shown.status).toBe(200);
    expect(consent).toContain('Acme Smart TV');
    expect(consent).toContain('A device asked to sign in to your Tollgate account, Victor');
    expect(consent).toContain(started.user_code);
    expect(consent).toContain('Only allow this if you started signing in on a device yourself');
    expect(consent).toContain('If someone sent you this code or link, press Deny');
    expect(consent).toContain('>Deny</button>');
    // Still nothing approved, and the attacker's device still waits.
    await expectPending(client, started.device_code!);
    // The victim denies: the attacker's device gets access_denied.
    const denied = await victim.post(formAction(consent), { ...hiddenFields(consent), decision: 'deny' });
    expect(denied.status).toBe(200);
    const answer = await poll(client, started.device_code!);
    expect(await answer.json()).toMatchObject({ error: 'access_denied' });
  });

  it('a client the victim approved before still gets the warning page: device consent is never remembered', async () => {
    const victimUser = await createUser();
    const ownerToken = await userToken(victimUser);
    // One client for both flows; the victim approved it in the code flow before.
    const client = await registerClient(ownerToken, {
      client_name: 'Trusted Reader',
      grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
    });
    const browser = await signedInBrowser(victimUser);
    await issueTokens(browser, client, { scope: 'openid books:read' });
    const request = await form(
      '/oauth2/device_authorization',
      { scope: 'openid books:read' },
      { Authorization: basic(client.client_id, client.client_secret!) },
    );
    const started = (await request.json()) as Record<string, string>;
    const { consent } = await answerOnPages(browser, started.user_code!, 'deny');
    expect(consent).toContain('Trusted Reader');
    expect(consent).toContain('Only allow this if you started signing in on a device yourself');
  });

  it('an anonymously registered device client is marked unverified on the device consent page', async () => {
    const { started, client } = await attackersDevice('Your Bank');
    await env.DB.prepare('update clients set owner_id = null where id = ?').bind(client.client_id).run();
    const victim = await signedInBrowser(await createUser());
    const consent = await (await enterCode(victim, started.user_code!)).text();
    expect(consent).toContain('Unverified app');
    expect(consent).toContain('calls itself “Your Bank”');
  });
});

async function expectPending(client: Parameters<typeof poll>[0], deviceCode: string) {
  const response = await poll(client, deviceCode);
  expect(await response.json()).toMatchObject({ error: 'authorization_pending' });
}
