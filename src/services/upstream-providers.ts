import { z } from 'zod';
import type { Bindings } from '../bindings';
import { UPSTREAM_PROVIDERS_MAX } from '../config';
import { describeIssues } from '../lib/issues';

// The upstream identity providers a user may sign in through (issue 17),
// from the `UPSTREAM_PROVIDERS` var: a JSON array of
// `{id, name, type: "oidc" | "github", issuer?, client_id}`. Each provider's
// client secret is a Worker secret, never in the var: `UPSTREAM_<ID>_CLIENT_SECRET`
// (id upper-cased, `-` → `_`). A bad configuration is no 500: it is described
// in one plain sentence, which `npm start` prints before starting and the
// upstream pages show; password sign-in keeps working.

/** An upstream provider, parsed and complete. */
export interface UpstreamProvider {
  /** Names the provider in URLs (`/login/upstream/<id>/callback`) and in `user_identities.provider_id`. */
  id: string;
  /** Shown to users: "Continue with <name>". */
  name: string;
  /** `oidc`: any OpenID provider, by its issuer and discovery; `github`: OAuth 2.0 and GitHub's user API. */
  type: 'oidc' | 'github';
  /** The OpenID issuer identifier (`oidc` only). */
  issuer: string | undefined;
  clientId: string;
  clientSecret: string;
}

export type UpstreamConfig = { ok: true; providers: UpstreamProvider[] } | { ok: false; problem: string };

/** Lower-case letters, digits and single dashes: it is a path segment and names a secret. */
const PROVIDER_ID = /^[a-z0-9]+(-[a-z0-9]+)*$/;

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * An issuer identifier (RFC 8414 §2, OIDC Discovery §2): https, no query or
 * fragment. Plain http only on a loopback host, for local development and
 * the tests' own provider.
 */
const issuerSchema = z.string().superRefine(function issuerIdentifier(value, ctx) {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be a URL' });
    return;
  }
  const httpAllowed = url.protocol === 'http:' && isLoopbackHost(url.hostname);
  if (url.protocol !== 'https:' && !httpAllowed) ctx.addIssue({ code: 'custom', message: 'must be an https URL' });
  if (url.search || url.hash || value.includes('#')) ctx.addIssue({ code: 'custom', message: 'must have no query or fragment' });
});

const providerSchema = z
  .object({
    id: z.string().max(32, 'must be at most 32 characters').regex(PROVIDER_ID, 'must be lower-case letters, digits and dashes'),
    name: z.string().trim().min(1, 'is required').max(50, 'must be at most 50 characters'),
    type: z.enum(['oidc', 'github']),
    issuer: issuerSchema.optional(),
    client_id: z.string().min(1, 'is required').max(512, 'must be at most 512 characters'),
  })
  .strict()
  .superRefine(function issuerByType(provider, ctx) {
    if (provider.type === 'oidc' && !provider.issuer) {
      ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'is required for an oidc provider' });
    }
    if (provider.type === 'github' && provider.issuer) {
      ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'is not used by a github provider' });
    }
  });

const providersSchema = z
  .array(providerSchema)
  .max(UPSTREAM_PROVIDERS_MAX, `must list at most ${UPSTREAM_PROVIDERS_MAX} providers`)
  .superRefine(function distinctIds(providers, ctx) {
    const seen = new Set<string>();
    providers.forEach((provider, index) => {
      if (seen.has(provider.id)) ctx.addIssue({ code: 'custom', path: [index, 'id'], message: `repeats "${provider.id}"` });
      seen.add(provider.id);
    });
  });

/** The Worker secret holding provider `id`'s client secret. */
export function clientSecretName(id: string): string {
  return `UPSTREAM_${id.toUpperCase().replace(/-/g, '_')}_CLIENT_SECRET`;
}

/**
 * The configured providers, or what is wrong with the configuration. Unset
 * or empty: no providers. Pure and cheap (no I/O), so the sign-in page may
 * call it on every view.
 */
export function upstreamProviders(env: Bindings): UpstreamConfig {
  const raw = env.UPSTREAM_PROVIDERS?.trim();
  if (!raw) return { ok: true, providers: [] };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, problem: 'UPSTREAM_PROVIDERS is not valid JSON' };
  }
  const parsed = providersSchema.safeParse(json);
  if (!parsed.success) {
    return { ok: false, problem: `UPSTREAM_PROVIDERS: ${describeIssues(parsed.error.issues)}` };
  }
  const secrets = env as unknown as Record<string, unknown>;
  const providers: UpstreamProvider[] = [];
  for (const provider of parsed.data) {
    const name = clientSecretName(provider.id);
    const secret = secrets[name];
    if (typeof secret !== 'string' || secret === '') {
      return { ok: false, problem: `UPSTREAM_PROVIDERS: provider "${provider.id}" needs the secret ${name}` };
    }
    providers.push({
      id: provider.id,
      name: provider.name,
      type: provider.type,
      // Compared as is with the discovered `issuer` (OIDC Discovery §4.3: identical), so kept as written.
      issuer: provider.issuer,
      clientId: provider.client_id,
      clientSecret: secret,
    });
  }
  return { ok: true, providers };
}

/** Whether plain http may be used to reach this URL (a loopback provider in development and tests). */
export function isLoopbackUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname);
  } catch {
    return false;
  }
}

/**
 * The providers the sign-in page offers, as `{id, name}`. A bad configuration
 * offers none (password sign-in still works) and says why in the log; the
 * provider pages show the same sentence.
 */
export function providerButtons(env: Bindings): { id: string; name: string }[] {
  const config = upstreamProviders(env);
  if (!config.ok) {
    console.error(`Tollgate: ${config.problem}`);
    return [];
  }
  return config.providers.map((provider) => ({ id: provider.id, name: provider.name }));
}
