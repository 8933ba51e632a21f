import { SELF } from 'cloudflare:test';
import * as oidc from 'openid-client';
import { expect } from 'vitest';
import { Browser, formAction, hiddenFields, ISSUER, type RegisteredClient, registerClient, type TestUser } from './helpers';

// What the openid-client tests share: openid-client 6, an OpenID Certified
// relying party, pointed at Tollgate. The only option that loosens anything is
// allowInsecureRequests, for http://localhost; every request goes to the
// Worker through SELF instead of the network.

export const customFetch: oidc.CustomFetch = (url, options) => SELF.fetch(url, options as RequestInit);

/** The RP's redirect URI in these tests. */
export const REDIRECT_URI = 'https://rp.example/callback';

/** The options every openid-client call to Tollgate takes. */
const rpOptions = { execute: [oidc.allowInsecureRequests], [oidc.customFetch]: customFetch };

/** The configuration of client `clientId`, by discovery (OIDC Discovery §4), authenticating with `clientAuth`. */
export async function discover(
  clientId: string,
  clientAuth: oidc.ClientAuth = oidc.None(),
  clientSecret?: string,
): Promise<oidc.Configuration> {
  return rpFetchingThroughSelf(await oidc.discovery(new URL(ISSUER), clientId, clientSecret, clientAuth, rpOptions));
}

/** Registers a client through Tollgate's API, then discovers its configuration: client_secret_basic when it got a secret, none otherwise. */
export async function registerAndDiscover(
  ownerToken: string,
  metadata: Record<string, unknown>,
): Promise<{ registered: RegisteredClient; config: oidc.Configuration }> {
  const registered = await registerClient(ownerToken, metadata);
  const secret = registered.client_secret;
  const config = await discover(registered.client_id, secret ? oidc.ClientSecretBasic(secret) : oidc.None(), secret);
  return { registered, config };
}

/** Registers a client with openid-client's dynamicClientRegistration (RFC 7591), with `ownerToken` as the initial access token. */
export async function registerDynamically(
  metadata: Partial<oidc.ClientMetadata>,
  clientAuth: oidc.ClientAuth | undefined,
  ownerToken: string,
): Promise<oidc.Configuration> {
  return rpFetchingThroughSelf(
    await oidc.dynamicClientRegistration(new URL(ISSUER), metadata, clientAuth, { ...rpOptions, initialAccessToken: ownerToken }),
  );
}

/** The options given at discovery or registration are not kept for later calls: the configuration fetches through SELF too. */
function rpFetchingThroughSelf(config: oidc.Configuration): oidc.Configuration {
  config[oidc.customFetch] = customFetch;
  return config;
}

/** The browser part: the RP's authorization URL through the real login (when signed out) and consent pages, back to the RP. */
export async function signInThroughPages(user: TestUser, url: URL, browser: Browser = new Browser()): Promise<URL> {
  let response = await browser.get(url.pathname + url.search);
  if (response.status === 302 && response.headers.get('Location')!.startsWith('/login')) {
    const loginHtml = await (await browser.get(response.headers.get('Location')!)).text();
    const signedIn = await browser.post(formAction(loginHtml), { ...hiddenFields(loginHtml), email: user.email, password: user.password });
    expect(signedIn.status).toBe(303);
    response = await browser.get(signedIn.headers.get('Location')!);
  }
  expect(response.status).toBe(200);
  const consent = await response.text();
  const allowed = await browser.post(formAction(consent), { ...hiddenFields(consent), decision: 'allow' });
  expect(allowed.status).toBe(303);
  return new URL(allowed.headers.get('Location')!);
}
