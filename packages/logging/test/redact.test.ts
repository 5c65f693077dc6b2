/**
 * Log lines carry the job's runId, stage and shard, and never a secret: credentials in a
 * logged configuration, request headers or Redis URLs are redacted by the logger itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, maskSecrets, maskUrl, REDACTED } from '../src/index.js';

const SECRET = 'wJalrXUtnFEMI-example-secret-key';
const PASSWORD = 'admin-password-example-1234';
const REDIS_PASSWORD = 'redis-password-example';
const BEARER = 'ick_example_api_key_0123456789';

/** A logger writing into `lines`, one parsed JSON object per line. */
function capture(level = 'debug') {
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      raw.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { log: createLogger('preprocess', level, sink), raw };
}

test('a job line carries runId, stage and shard, and no secret', () => {
  const { log, raw } = capture();
  const job = log.child({ runId: 'run_abc', stage: 'preprocess', shard: 7, jobId: 'j1' });
  job.info(
    {
      config: {
        S3_ACCESS_KEY_ID: 'AKIAEXAMPLE',
        S3_SECRET_ACCESS_KEY: SECRET,
        ADMIN_PASSWORD: PASSWORD,
        REDIS_URL: `redis://default:${REDIS_PASSWORD}@redis.example:6379/0`,
      },
      req: { method: 'GET', headers: { authorization: `Bearer ${BEARER}`, host: 'api' } },
      secretAccessKey: SECRET,
      password: PASSWORD,
    },
    'shard preprocessed',
  );

  assert.equal(raw.length, 1);
  const line = JSON.parse(raw[0]);
  assert.equal(line.msg, 'shard preprocessed');
  assert.equal(line.service, 'preprocess');
  assert.equal(line.runId, 'run_abc');
  assert.equal(line.stage, 'preprocess');
  assert.equal(line.shard, 7);
  assert.match(line.time, /^\d{4}-\d\d-\d\dT/);

  for (const secret of [SECRET, PASSWORD, REDIS_PASSWORD, BEARER]) {
    assert.ok(!raw[0].includes(secret), `the line holds ${secret}`);
  }
  assert.equal(line.config.S3_SECRET_ACCESS_KEY, REDACTED);
  assert.equal(line.config.ADMIN_PASSWORD, REDACTED);
  assert.equal(line.config.S3_ACCESS_KEY_ID, 'AKIAEXAMPLE', 'not a secret: kept');
  assert.equal(line.config.REDIS_URL, 'redis://default:redacted@redis.example:6379/0');
  assert.equal(line.req.headers.authorization, REDACTED);
  assert.equal(line.req.headers.host, 'api');
  assert.equal(line.secretAccessKey, REDACTED);
  assert.equal(line.password, REDACTED);
});

test('maskSecrets hides settings by name, including ones added later', () => {
  const masked = maskSecrets({
    S3_SECRET_ACCESS_KEY: SECRET,
    ADMIN_PASSWORD: PASSWORD,
    API_KEYS: 'team:0123abcd',
    SOME_FUTURE_TOKEN: 'tok',
    API_KEYS_FILE: '/etc/imgcluster/keys',
    S3_ACCESS_KEY_ID: 'AKIAEXAMPLE',
    REDIS_URL: `rediss://:${REDIS_PASSWORD}@cache.example:6380`,
    S3_ENDPOINT: 'http://minio:9000',
    API_PORT: 8080,
    S3_FORCE_PATH_STYLE: true,
    ADMIN_PASSWORD_UNSET: undefined,
  });
  assert.deepEqual(masked, {
    S3_SECRET_ACCESS_KEY: REDACTED,
    ADMIN_PASSWORD: REDACTED,
    API_KEYS: REDACTED,
    SOME_FUTURE_TOKEN: REDACTED,
    API_KEYS_FILE: '/etc/imgcluster/keys',
    S3_ACCESS_KEY_ID: 'AKIAEXAMPLE',
    REDIS_URL: 'rediss://:redacted@cache.example:6380',
    S3_ENDPOINT: 'http://minio:9000',
    API_PORT: 8080,
    S3_FORCE_PATH_STYLE: true,
    ADMIN_PASSWORD_UNSET: undefined,
  });
  assert.equal(maskUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
  assert.equal(maskUrl('redis://token@host:6379'), 'redis://redacted@host:6379');
});
