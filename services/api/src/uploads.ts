import type { FastifyError, FastifyPluginAsync } from 'fastify';
import type { ServiceContext } from '@imgcluster/runtime';
import { guessContentType, isPermanentStorageError } from '@imgcluster/storage';
import { checkInTenantRoot, tenantRoot, type ApiKeyring } from './auth.js';
import { ApiError } from './errors.js';
import { bucketParamsSchema, uploadListQuerySchema, uploadTargetSchema } from './schemas.js';
import { parse } from './validate.js';

/**
 * Uploads through the API, so clients never hold storage credentials:
 *
 *   PUT /v1/uploads/:bucket/<key>   the raw file bytes → 201 {bucket, key, bytes}
 *   GET /v1/uploads/:bucket         one page of {key, bytes} under ?prefix=
 *
 * Any bucket but the artifact bucket; a bucket is created by its first upload. With API keys,
 * a tenant's keys (and listed prefixes) start with `<tenant>/`.
 */

/** True when object storage says the bucket does not exist. */
export function isMissingBucket(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchBucket' || e?.$metadata?.httpStatusCode === 404;
}

/** The upload routes, in a scope of their own: any content type is read as raw bytes here. */
export function uploadRoutes(ctx: ServiceContext, keyring: ApiKeyring): FastifyPluginAsync {
  const maxBytes = ctx.env.UPLOAD_MAX_BYTES;

  return async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) =>
      done(null, body),
    );
    scope.setErrorHandler((err: FastifyError) => {
      // Thrown on, the parent's handler answers in the API's error shape.
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        throw new ApiError(
          'UPLOAD_TOO_LARGE',
          `the file is larger than the API accepts (UPLOAD_MAX_BYTES = ${maxBytes} bytes)`,
        );
      }
      throw err;
    });

    const created = new Map<string, Promise<void>>();
    const ensureBucket = (bucket: string) => {
      let pending = created.get(bucket);
      if (!pending) {
        pending = ctx.storage.ensureBucket(bucket);
        created.set(bucket, pending);
        pending.catch(() => created.delete(bucket));
      }
      return pending;
    };

    scope.put<{ Params: { bucket: string; '*': string } }>(
      '/v1/uploads/:bucket/*',
      { bodyLimit: maxBytes },
      async (request, reply) => {
        const { bucket, key } = parse(
          uploadTargetSchema,
          { bucket: request.params.bucket, key: request.params['*'] },
          'params',
        );
        refuseArtifactBucket(ctx, bucket);
        checkInTenantRoot(tenantRoot(keyring, request.caller), key, 'params.key');
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);

        try {
          await ensureBucket(bucket);
          await ctx.storage.put(
            bucket,
            key,
            body,
            contentType(request.headers['content-type'], key),
          );
        } catch (err) {
          // Storage refusing this key (a 4xx: too long for it, say) is about the request.
          if (isPermanentStorageError(err)) {
            const message = `object storage refused the key: ${(err as Error).message}`;
            throw new ApiError('VALIDATION_FAILED', message, [{ path: 'params.key', message }]);
          }
          throw new ApiError('STORAGE_UNAVAILABLE', `object storage: ${(err as Error).message}`);
        }
        request.log.debug({ bucket, key, bytes: body.length }, 'upload stored');
        return reply.status(201).send({ bucket, key, bytes: body.length });
      },
    );

    scope.get<{ Params: { bucket: string } }>('/v1/uploads/:bucket', async (request) => {
      const { bucket } = parse(bucketParamsSchema, request.params, 'params');
      const query = parse(uploadListQuerySchema, request.query, 'query');
      refuseArtifactBucket(ctx, bucket);
      const root = tenantRoot(keyring, request.caller);
      checkInTenantRoot(root, query.prefix, 'query.prefix', 'listed prefixes');
      const after =
        query.cursor === undefined ? undefined : Buffer.from(query.cursor, 'base64url').toString();
      const page = await listPage(ctx, bucket, query.prefix, after, query.limit);
      return { bucket, prefix: query.prefix, maxBytes, ...page };
    });
  };
}

function refuseArtifactBucket(ctx: ServiceContext, bucket: string) {
  if (bucket !== ctx.bucket) return;
  throw new ApiError(
    'UPLOAD_BUCKET_RESERVED',
    `bucket ${bucket} holds the run artifacts (S3_BUCKET): upload into another bucket`,
    [{ path: 'params.bucket', message: 'is the artifact bucket' }],
  );
}

/** The request's content type when it says more than "bytes", else one guessed from the key. */
function contentType(header: string | undefined, key: string): string {
  const given = header?.trim();
  if (!given || given.length > 200 || /^application\/octet-stream\b/i.test(given)) {
    return guessContentType(key);
  }
  return /^[\x20-\x7e]+$/.test(given) ? given : guessContentType(key);
}

/** One page of objects after the key `after`, with the cursor of the next page. */
async function listPage(
  ctx: ServiceContext,
  bucket: string,
  prefix: string,
  after: string | undefined,
  limit: number,
) {
  let out;
  try {
    out = await ctx.storage.listPage(bucket, prefix, after, limit);
  } catch (err) {
    if (isMissingBucket(err)) {
      throw new ApiError(
        'INPUT_BUCKET_NOT_FOUND',
        `bucket ${bucket} does not exist`,
        [{ path: 'params.bucket', message: 'bucket does not exist' }],
        404,
      );
    }
    throw new ApiError('STORAGE_UNAVAILABLE', `object storage: ${(err as Error).message}`);
  }

  const objects = out.objects.map((o) => ({ key: o.key, bytes: o.size }));
  const last = objects.at(-1)?.key;
  const next = out.truncated && last !== undefined ? Buffer.from(last).toString('base64url') : null;
  return { objects, next };
}
