import { z } from 'zod';
import { bucketName, keyPrefix, objectKey } from '@imgcluster/config';

/**
 * The zod schemas of the API's requests. Routes parse with them, and the OpenAPI document
 * is generated from them, so the two cannot drift apart.
 */

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
 * The key of an object the API writes (uploads) or reads by name (assign): no `.` or `..`
 * segments, which path-style URLs would resolve into another bucket, and each segment at
 * most 255 bytes (object stores that keep objects as files, MinIO among them, allow no
 * longer).
 */
export const uploadKey = objectKey
  .refine(
    (key) => !key.split('/').some((part) => part === '.' || part === '..'),
    "must not have '.' or '..' segments",
  )
  .refine(
    (key) => key.split('/').every((part) => Buffer.byteLength(part) <= 255),
    'must not have a segment longer than 255 bytes',
  );

export const uploadTargetSchema = z.object({ bucket: bucketName, key: uploadKey }).strict();
export const bucketParamsSchema = z.object({ bucket: bucketName }).strict();

export const uploadListQuerySchema = z
  .object({
    /** Only keys starting with this. Default '' (the whole bucket). */
    prefix: keyPrefix.default(''),
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
    bucket: bucketName.optional(),
  })
  .strict();

export const assignmentIdSchema = z.string().regex(/^asg_[a-z0-9]{6,40}$/);
