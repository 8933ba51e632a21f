import { env, SELF } from 'cloudflare:test';
import * as oidc from 'openid-client';
import { expect } from 'vitest';
import { type Browser, form, formAction, hiddenFields, ISSUER, type RegisteredClient, registerClient, storedHash } from './helpers';

// What the device-flow suites share: a device client, its device
// authorization request, and a person answering on the real /device pages.

export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** A user code as shown: XXXX-XXXX from the RFC 8628 §6.1 consonants. */
export const USER_CODE_SHAPE = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/;

/** Registers a device client: public (`none`) unless told, for the device grant and refresh tokens, with no redirect URI. */
export function registerDeviceClient(ownerToken: string, metadata: Record<string, unknown> = {}): Promise<RegisteredClient> {
  return registerClient(ownerToken, {
    client_name: 'Living Room TV',
    redirect_uris: undefined,
    grant_types: [DEVICE_GRANT, 'refresh_token'],
    token_endpoint_auth_method: 'none',
    ...metadata,
  });
}

/** Every request goes to the Worker (SELF), never to the network. */
export const customFetch: oidc.CustomFetch = (url, options) => SELF.fetch(url, options as RequestInit);

/**
 * openid-client sleeps the response's `interval` before every poll (5 s
 * here). This fetch shows it an interval of a millisecond instead, so the
 * suites do not sleep; the server's own interval (in D1) is unchanged, and
 * slow_down is tested against it.
 */
export const impatientFetch: oidc.CustomFetch = async (url, options) => {
  const response = await SELF.fetch(url, options as RequestInit);
  if (new URL(url).pathname !== '/oauth2/device_authorization' || response.status !== 200) return response;
  const body = (await response.json()) as Record<string, unknown>;
  return Response.json({ ...body, interval: 0.001 }, { headers: response.headers });
};

/** openid-client configured from discovery for a client, with `fetch` (impatientFetch unless told). */
export async function deviceConfig(client: RegisteredClient, fetch: oidc.CustomFetch = impatientFetch): Promise<oidc.Configuration> {
  const secret = client.client_secret;
  const config = await oidc.discovery(new URL(ISSUER), client.client_id, secret, secret ? oidc.ClientSecretBasic(secret) : oidc.None(), {
    execute: [oidc.allowInsecureRequests],
    [oidc.customFetch]: fetch,
  });
  config[oidc.customFetch] = fetch;
  return config;
}

/** Signs in on /device's way: Continue while signed out goes to /login, which comes back to /device with the code. */
export async function enterCode(browser: Browser, userCode: string): Promise<Response> {
  return browser.submit('/device', { user_code: userCode });
}

/**
 * A signed-in person enters `userCode` on /device and answers the consent
 * page: the consent page's HTML, and the final page's response.
 */
export async function answerOnPages(
  browser: Browser,
  userCode: string,
  decision: 'allow' | 'deny',
): Promise<{ consent: string; done: Response }> {
  const shown = await enterCode(browser, userCode);
  const consent = await shown.text();
  expect(shown.status, consent.slice(0, 500)).toBe(200);
  expect(consent).toContain('>Allow</button>');
  const done = await browser.post(formAction(consent), { ...hiddenFields(consent), decision });
  return { consent, done };
}

/** A raw poll at the token endpoint as `client` (the response, unchecked). */
export function poll(client: RegisteredClient, deviceCode: string, headers: Record<string, string> = {}): Promise<Response> {
  const fields = { grant_type: DEVICE_GRANT, device_code: deviceCode };
  if (client.client_secret) {
    const basic = `Basic ${btoa(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`)}`;
    return form('/oauth2/token', fields, { Authorization: basic, ...headers });
  }
  return form('/oauth2/token', { client_id: client.client_id, ...fields }, headers);
}

/** A raw device authorization request as a public client (the response, unchecked). */
export function requestDeviceAuthorization(client: RegisteredClient, fields: Record<string, string> = {}): Promise<Response> {
  return form('/oauth2/device_authorization', { client_id: client.client_id, ...fields });
}

/** The D1 row of a device code. */
export async function deviceRow(deviceCode: string): Promise<Record<string, unknown> | null> {
  return env.DB.prepare('select * from device_authorizations where device_code_hash = ?')
    .bind(await storedHash(deviceCode))
    .first();
}
