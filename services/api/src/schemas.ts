import { z } from 'zod';
import { bucketName, keyPrefix, objectKey } from '@imgcluster/config';

/**
 * The zod schemas of the API's requests. Routes parse with them, and the OpenAPI document
 * is generated from them, so the two cannot drift apart.
 */

/** What a bucket name must be (see storageBucketName). */
export const BUCKET_NAME_RULE =
  'must be a valid S3 bucket name: dot-separated labels of lower-case letters, digits and ' +
  'hyphens, each starting and ending with a letter or digit, not an IP address';

/**
 * A bucket name object stores accept, stricter than the run spec's `bucketName`: dot-separated
 * labels of lower-case letters, digits and hyphens, each starting and ending with a letter or
 * digit (so no `..`, `-.` or `.-`), not an IPv4 address, and none of S3's reserved prefixes and
 * suffixes. Names the stores would refuse are a 400 here, not an error from storage.
 */
export const storageBucketName = bucketName.refine(
  // A name the base schema refuses already has its issue: one issue per field.
  (name) => !bucketName.safeParse(name).success || isStorageBucketName(name),
  { message: BUCKET_NAME_RULE },
);

/** True for a bucket name object stores accept (see storageBucketName). */
export function isStorageBucketName(name: string): boolean {
  const labels = name.split('.');
  if (!labels.every((label) => /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/.test(label))) return false;
  if (/^\d{1,3}(?:\.\d{1,3}){3}$/.test(name)) return false;
  if (/^(?:xn--|sthree-|amzn-s3-demo-)/.test(name)) return false;
  return !/(?:-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(name);
}

export const runIdSchema = z.string().regex(/^run_[a-z0-9]{6,40}$/);

export const runListQuerySchema = z
  .object({
    /** Runs per page, 1..100. Default 20. */
    limit: z.coerce.number().int().min(1).max(100).default(20),
    /** Opaque cursor from the previous page's `next`. */
    cursor: z
      .string()
      .regex(/^\d{1,15}$/, 'must be the `next` of a previous page')
      .optional(),
  })
  .strict();

export const membersQuerySchema = z
  .object({
    /** Members per page, 1..500. Default 50. */
    limit: z.coerce.number().int().min(1).max(500).default(50),
    /** Opaque cursor from the previous page's `next`. */
    cursor: z
      .string()
      .regex(/^\d{1,9}$/, 'must be the `next` of a previous page')
      .optional(),
  })
  .strict();

export const indexSchema = z.string().regex(/^\d{1,9}$/);

/**
 * True when text has a C0 control character or DEL: object stores differ on them (MinIO and
 * file-backed stores refuse NUL) and XML listings cannot carry most of them.
 */
export function hasControlCharacters(text: string): boolean {
  return /[\u0000-\u001f\u007f]/.test(text);
}

/**
 * The key of an object the API writes (uploads) or reads by name (assign): no control
 * characters, no `.` or `..`
 * segments, which path-style URLs would resolve into another bucket, no empty segments (a
 * leading, trailing or doubled `/`), and each segment at most 255 bytes (object stores that
 * keep objects as files, MinIO among them, allow neither).
 */
export const uploadKey = objectKey
  .refine((key) => !hasControlCharacters(key), 'must not have control characters')
  .refine(
    (key) => !key.split('/').some((part) => part === ''),
    "must not start or end with '/' or have '//'",
  )
  .refine(
    (key) => !key.split('/').some((part) => part === '.' || part === '..'),
    "must not have '.' or '..' segments",
  )
  .refine(
    (key) => key.split('/').every((part) => Buffer.byteLength(part) <= 255),
    'must not have a segment longer than 255 bytes',
  );

export const uploadTargetSchema = z.object({ bucket: storageBucketName, key: uploadKey }).strict();
export const bucketParamsSchema = z.object({ bucket: storageBucketName }).strict();

export const uploadListQuerySchema = z
  .object({
    /** Only keys starting with this. Default '' (the whole bucket). */
    prefix: keyPrefix
      .refine((prefix) => !hasControlCharacters(prefix), 'must not have control characters')
      .default(''),
    /** Opaque cursor from the previous page's `next`. */
    cursor: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,4100}$/, 'must be the `next` of a previous page')
      .optional(),
    /** Objects per page, 1..1000. Default 1000. */
    limit: z.coerce.number().int().min(1).max(1000).default(1000),
  })
  .strict();

/** The most images one POST /v1/runs/:id/assign may name or carry. */
export const ASSIGN_MAX_IMAGES = 10_000;

/** POST /v1/runs/:id/assign as JSON: images already in object storage. */
export const assignBodySchema = z
  .object({
    /** Object keys of the images, 1..10,000. */
    keys: z.array(uploadKey).min(1).max(ASSIGN_MAX_IMAGES),
    /** The bucket they are in. Default: the run's input bucket. */
    bucket: storageBucketName.optional(),
  })
  .strict();

export const assignmentIdSchema = z.string().regex(/^asg_[a-z0-9]{6,40}$/);
