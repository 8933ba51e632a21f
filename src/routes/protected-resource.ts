import { type Context, Hono } from 'hono';
import { METADATA_MAX_AGE } from '../config';
import type { AppEnv } from '../env';
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

// A document depends only on the issuer and the resource, so each isolate serializes it once.
const metadataJson = new Map<string, string>();

function metadataOf(resource: ProtectedResource) {
  return function protectedResourceMetadata(c: Context<AppEnv>) {
    const { issuer } = c.var.deps;
    const key = `${issuer} ${resource.path}`;
    let body = metadataJson.get(key);
    if (body === undefined) {
      body = JSON.stringify(resourceMetadata(issuer, resource));
      metadataJson.set(key, body);
    }
    return c.body(body, 200, { 'Content-Type': 'application/json', 'Cache-Control': METADATA_CACHE_CONTROL });
  };
}

// Discovery from the resource table: a new resource there is a new document here.
for (const resource of PROTECTED_RESOURCES) protectedResource.get(resource.path, metadataOf(resource));
