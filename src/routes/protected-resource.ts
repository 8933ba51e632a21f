import { type Context, Hono } from 'hono';
import { METADATA_MAX_AGE } from '../config';
import type { AppEnv } from '../env';
import { documentResponse, type PublicDocument, publicDocument } from '../helpers/edge-cache';
import { cors } from '../middleware/cors';
import { PROTECTED_RESOURCES, type ProtectedResource, resourceMetadata } from '../services/resources';

/**
 * RFC 9728 protected resource metadata, one document per resource this
 * issuer protects, at the well-known prefix with the resource's path inserted
 * after it (§3.1): `/.well-known/oauth-protected-resource/api/books` and
 * `/.well-known/oauth-protected-resource/mcp`. Every 401 of a resource points
 * here (`resource_metadata`, §5.1; helpers/bearer.ts).
 */
export const protectedResource = new Hono<AppEnv>();

// Public documents, like the authorization server's metadata: any origin may read them.
protectedResource.use(cors({ origins: 'any' }));

const METADATA_CACHE_CONTROL = `public, max-age=${METADATA_MAX_AGE}`;

// A document depends only on the issuer and the resource, so each isolate
// serializes it, and hashes its ETag, once. Not kept at the PoP: it costs no
// storage call to build (METADATA_MAX_AGE in config.ts says why its max-age is short).
const metadataDocuments = new Map<string, Promise<PublicDocument>>();

function metadataOf(resource: ProtectedResource) {
  return async function protectedResourceMetadata(c: Context<AppEnv>) {
    const { issuer } = c.var.deps;
    const key = `${issuer} ${resource.path}`;
    let document = metadataDocuments.get(key);
    if (document === undefined) {
      document = publicDocument(JSON.stringify(resourceMetadata(issuer, resource)));
      metadataDocuments.set(key, document);
    }
    return documentResponse(c, await document, METADATA_CACHE_CONTROL);
  };
}

// Discovery from the resource table: a new resource there is a new document here.
for (const resource of PROTECTED_RESOURCES) protectedResource.get(resource.path, metadataOf(resource));
