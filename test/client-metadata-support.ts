import { type RegisteredClient, unique } from './helpers';

// Client ID metadata documents in tests: the stand-in site https://client.example
// (test/stand-ins/turnstile-siteverify.js) serves a document per path, scripted by
// its first segment, and logs every fetch at /__log.

/** The redirect URI every stand-in document registers. */
export const DOCUMENT_CALLBACK = 'https://app.client.example/callback';

/** A client whose id is a document the stand-in serves: `kind` scripts the document ('good', 'changing', 'expires', …). */
export function documentClient(kind = 'good'): RegisteredClient {
  return {
    client_id: `https://client.example/${kind}/${unique('doc')}`,
    redirect_uris: [DOCUMENT_CALLBACK],
    token_endpoint_auth_method: 'none',
  };
}

/** How many times the stand-in served `url`. */
export async function fetchesOf(url: string): Promise<number> {
  const log = (await (await fetch('https://client.example/__log')).json()) as string[];
  return log.filter((entry) => entry === url).length;
}
