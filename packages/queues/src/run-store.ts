import type { Redis } from 'ioredis';
import {
  STAGES,
  type RunSpec,
  type RunState,
  type Stage,
  type StageState,
} from '@imgcluster/config';

/** Live status of one stage, as the API shows it. */
export interface StageStatus {
  state: StageState;
  /** Units finished (shards for preprocess/encode, epochs for train, steps for cluster). */
  done: number;
  /** Units in all; 0 while unknown. */
  total: number;
  startedAt?: string;
  finishedAt?: string;
  /** Seconds from start to finish (or to now while running). */
  seconds?: number;
  error?: string;
  /** Stage-specific counters, e.g. images accepted/rejected, loss. */
  detail: Record<string, unknown>;
}

/** Live status of a run. */
export interface RunStatus {
  id: string;
  /** The tenant that submitted it; only that tenant's credentials see and touch it. */
  tenant: string;
  /**
   * Most input images the run may have (the API's RUN_MAX_IMAGES when it was submitted); a
   * larger input fails the run when it is planned. Absent for runs submitted without one.
   */
  maxImages?: number;
  name?: string;
  state: RunState;
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
  error?: string;
  /** How many times the run was retried after failing or being cancelled. */
  retries: number;
  spec: RunSpec;
  stages: Record<Stage, StageStatus>;
}

/** What a worker checks before running a job: the run's state and current attempt. */
export interface RunControl {
  state?: RunState;
  gen: number;
}

const TERMINAL: RunState[] = ['succeeded', 'failed', 'cancelled'];

/** The tenant of runs submitted while the API is open (no API keys), and of older runs. */
export const DEFAULT_TENANT = 'default';

/** Who submits a run and what it may use; see {@link RunStore.create}. */
export interface RunOwner {
  /** Default {@link DEFAULT_TENANT}. */
  tenant?: string;
  /** Most input images the run may have; default: no limit. */
  maxImages?: number;
}

// Sets a run's state unless it is already terminal. KEYS[1] run hash; ARGV state, time.
const SET_STATE_LUA = `
local cur = redis.call('HGET', KEYS[1], 'state')
if cur == false then return 0 end
if cur == 'succeeded' or cur == 'failed' or cur == 'cancelled' then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'updatedAt', ARGV[2])
if ARGV[1] == 'succeeded' or ARGV[1] == 'failed' or ARGV[1] == 'cancelled' then
  redis.call('HSET', KEYS[1], 'finishedAt', ARGV[2])
end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[3]) end
return 1
`;

// Reopens a failed or cancelled run for a retry. KEYS[1] run hash, KEYS[2..] stage hashes;
// ARGV[1] time. Returns {new attempt, previous state}, or {-1, state} when not reopenable.
const REOPEN_LUA = `
local cur = redis.call('HGET', KEYS[1], 'state')
if cur ~= 'failed' and cur ~= 'cancelled' then return {-1, cur or ''} end
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('HSET', KEYS[1], 'state', 'queued', 'updatedAt', ARGV[1])
redis.call('HDEL', KEYS[1], 'error', 'finishedAt')
for i = 2, #KEYS do
  if redis.call('HGET', KEYS[i], 'state') ~= 'succeeded' then
    redis.call('HSET', KEYS[i], 'state', 'pending')
    redis.call('HDEL', KEYS[i], 'error', 'finishedAt')
  end
end
return {gen, cur}
`;

/**
 * Run status in Redis. Object storage stays the source of truth for data; this holds the
 * live view (states, counts, timings). Per-shard results are stored by shard number, so
 * a retried job overwrites its entry instead of counting twice.
 */
export class RunStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'imgcluster',
  ) {}

  private runKey(id: string) {
    return `${this.prefix}:run:${id}`;
  }
  private stageKey(id: string, stage: Stage) {
    return `${this.prefix}:run:${id}:stage:${stage}`;
  }
  private shardsKey(id: string, stage: Stage) {
    return `${this.prefix}:run:${id}:shards:${stage}`;
  }
  private get indexKey() {
    return `${this.prefix}:runs`;
  }
  /** One tenant's runs by creation time (the run list a tenant pages through). */
  private tenantIndexKey(tenant: string) {
    return `${this.prefix}:runs:tenant:${tenant}`;
  }

  /** Records a new run as queued, owned by `owner.tenant`. */
  async create(id: string, spec: RunSpec, now = new Date(), owner: RunOwner = {}): Promise<void> {
    const at = now.toISOString();
    const tenant = owner.tenant ?? DEFAULT_TENANT;
    const multi = this.redis.multi();
    multi.hset(this.runKey(id), {
      state: 'queued',
      spec: JSON.stringify(spec),
      createdAt: at,
      updatedAt: at,
      tenant,
      ...(owner.maxImages !== undefined ? { maxImages: String(owner.maxImages) } : {}),
      ...(spec.name ? { name: spec.name } : {}),
    });
    for (const stage of STAGES) multi.hset(this.stageKey(id, stage), { state: 'pending' });
    multi.zadd(this.indexKey, now.getTime(), id);
    multi.zadd(this.tenantIndexKey(tenant), now.getTime(), id);
    await multi.exec();
  }

  /**
   * Gives runs recorded before runs had tenants to {@link DEFAULT_TENANT}, so they stay
   * listed; returns how many it adopted. Idempotent: the API calls it at every start. Reads
   * the whole run index in pages of 500 (one pass over all runs at start-up).
   */
  async adoptUntenantedRuns(): Promise<number> {
    let adopted = 0;
    for (let start = 0; ; start += 500) {
      const flat = await this.redis.zrange(this.indexKey, start, start + 499, 'WITHSCORES');
      if (flat.length === 0) return adopted;
      const read = this.redis.multi();
      for (let i = 0; i < flat.length; i += 2) read.hmget(this.runKey(flat[i]), 'tenant', 'state');
      const replies = (await read.exec()) ?? [];
      const write = this.redis.multi();
      let writes = 0;
      for (let i = 0; i < flat.length; i += 2) {
        const [tenant, state] = (replies[i / 2]?.[1] ?? []) as (string | null)[];
        if (tenant !== null || state === null) continue;
        write.hset(this.runKey(flat[i]), 'tenant', DEFAULT_TENANT);
        write.zadd(this.tenantIndexKey(DEFAULT_TENANT), flat[i + 1], flat[i]);
        writes++;
      }
      if (writes > 0) await write.exec();
      else write.discard();
      adopted += writes;
    }
  }

  /** True when the run exists. */
  async exists(id: string): Promise<boolean> {
    return (await this.redis.exists(this.runKey(id))) === 1;
  }

  /** Sets the run's state; a terminal state (succeeded, failed, cancelled) is never left. */
  async setState(id: string, state: RunState, error = ''): Promise<boolean> {
    const changed = await this.redis.eval(
      SET_STATE_LUA,
      1,
      this.runKey(id),
      state,
      new Date().toISOString(),
      error,
    );
    return changed === 1;
  }

  /** The run's state, or undefined when unknown. */
  async state(id: string): Promise<RunState | undefined> {
    return ((await this.redis.hget(this.runKey(id), 'state')) ?? undefined) as RunState | undefined;
  }

  /** State and current attempt in one round trip (checked before every job). */
  async control(id: string): Promise<RunControl> {
    const [state, gen] = await this.redis.hmget(this.runKey(id), 'state', 'gen');
    return { state: (state ?? undefined) as RunState | undefined, gen: Number(gen ?? 0) };
  }

  /**
   * Reopens a failed or cancelled run: back to queued with the next attempt number, and
   * every stage that had not succeeded back to pending. Returns the new attempt, or
   * undefined (with the current state) when the run is not failed or cancelled.
   */
  async reopen(id: string): Promise<{ gen?: number; previous: string }> {
    const keys = [this.runKey(id), ...STAGES.map((s) => this.stageKey(id, s))];
    const [gen, previous] = (await this.redis.eval(
      REOPEN_LUA,
      keys.length,
      ...keys,
      new Date().toISOString(),
    )) as [number, string];
    return gen < 0 ? { previous } : { gen, previous };
  }

  /** Shard numbers of a stage that have a recorded result. */
  async shardsDone(id: string, stage: Stage): Promise<Set<number>> {
    return new Set((await this.redis.hkeys(this.shardsKey(id, stage))).map(Number));
  }

  /** True when the run was cancelled (workers poll this between units of work). */
  async isCancelled(id: string): Promise<boolean> {
    return (await this.state(id)) === 'cancelled';
  }

  /** Marks a stage running with its total; keeps the first start time on a retry. */
  async startStage(id: string, stage: Stage, total: number): Promise<void> {
    const key = this.stageKey(id, stage);
    await this.redis.hsetnx(key, 'startedAt', new Date().toISOString());
    await this.redis.hset(key, { state: 'running', total: String(total) });
    await this.setState(id, 'running');
  }

  /** Sets stage-specific counters (merged into `detail`). */
  async setDetail(id: string, stage: Stage, detail: Record<string, unknown>): Promise<void> {
    const fields: Record<string, string> = {};
    for (const [name, value] of Object.entries(detail)) fields[`d.${name}`] = JSON.stringify(value);
    await this.redis.hset(this.stageKey(id, stage), fields);
  }

  /** Sets how many units of a non-sharded stage are done. */
  async setDone(id: string, stage: Stage, done: number): Promise<void> {
    await this.redis.hset(this.stageKey(id, stage), 'done', String(done));
  }

  /** Records one shard's result; returns how many distinct shards are done. */
  async shardDone(id: string, stage: Stage, shard: number, result: object): Promise<number> {
    const key = this.shardsKey(id, stage);
    await this.redis.hset(key, String(shard), JSON.stringify(result));
    return this.redis.hlen(key);
  }

  /** Every shard result of a stage, by shard number. */
  async shardResults<T>(id: string, stage: Stage): Promise<Map<number, T>> {
    const raw = await this.redis.hgetall(this.shardsKey(id, stage));
    return new Map(Object.entries(raw).map(([k, v]) => [Number(k), JSON.parse(v) as T]));
  }

  /** Marks a stage finished. */
  async finishStage(id: string, stage: Stage, state: StageState = 'succeeded', error?: string) {
    const key = this.stageKey(id, stage);
    const fields: Record<string, string> = { state, finishedAt: new Date().toISOString() };
    if (error) fields.error = error;
    await this.redis.hset(key, fields);
  }

  /** Fails the stage and the run with a message. */
  async fail(id: string, stage: Stage, message: string): Promise<void> {
    await this.finishStage(id, stage, 'failed', message);
    await this.setState(id, 'failed', `${stage}: ${message}`);
  }

  /** The run's full status, or undefined when unknown. */
  async get(id: string): Promise<RunStatus | undefined> {
    const multi = this.redis.multi().hgetall(this.runKey(id));
    for (const stage of STAGES) multi.hgetall(this.stageKey(id, stage));
    for (const stage of ['preprocess', 'encode'] as const) multi.hlen(this.shardsKey(id, stage));
    const replies = (await multi.exec()) ?? [];
    const run = replies[0]?.[1] as Record<string, string> | undefined;
    if (!run || !run.state) return undefined;

    const stages = {} as Record<Stage, StageStatus>;
    STAGES.forEach((stage, i) => {
      stages[stage] = parseStage(replies[i + 1]?.[1] as Record<string, string>);
    });
    stages.preprocess.done = Number(replies[STAGES.length + 1]?.[1] ?? 0);
    stages.encode.done = Number(replies[STAGES.length + 2]?.[1] ?? 0);

    return {
      id,
      tenant: run.tenant ?? DEFAULT_TENANT,
      ...(run.maxImages !== undefined ? { maxImages: Number(run.maxImages) } : {}),
      name: run.name,
      state: run.state as RunState,
      createdAt: run.createdAt,
      updatedAt: run.updatedAt,
      finishedAt: run.finishedAt,
      error: run.error,
      retries: Number(run.gen ?? 0),
      spec: JSON.parse(run.spec) as RunSpec,
      stages,
    };
  }

  /** The spec a run was submitted with. */
  async spec(id: string): Promise<RunSpec | undefined> {
    const raw = await this.redis.hget(this.runKey(id), 'spec');
    return raw ? (JSON.parse(raw) as RunSpec) : undefined;
  }

  /**
   * Run ids, newest first, strictly older than `before` (a creation time in ms; default
   * now and later): `tenant`'s runs, or every run when no tenant is given. Returns the
   * creation time of the last id as the next page's cursor, so runs submitted meanwhile
   * never shift a page. Runs created in the same millisecond as a page's last one may be
   * skipped (ids carry a millisecond timestamp: rare).
   */
  async list(
    before: number | undefined,
    limit: number,
    tenant?: string,
  ): Promise<{ ids: string[]; total: number; next: number | null }> {
    const max = before === undefined ? '+inf' : `(${before}`;
    const index = tenant === undefined ? this.indexKey : this.tenantIndexKey(tenant);
    const [flat, total] = await Promise.all([
      this.redis.zrevrangebyscore(index, max, '-inf', 'WITHSCORES', 'LIMIT', 0, limit + 1),
      this.redis.zcard(index),
    ]);
    const ids: string[] = [];
    const scores: number[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      ids.push(flat[i]);
      scores.push(Number(flat[i + 1]));
    }
    const more = ids.length > limit;
    return {
      ids: ids.slice(0, limit),
      total,
      next: more ? scores[limit - 1] : null,
    };
  }

  /** True for states a run never leaves. */
  static isTerminal(state: RunState): boolean {
    return TERMINAL.includes(state);
  }
}

function parseStage(raw: Record<string, string> | undefined): StageStatus {
  const r = raw ?? {};
  const detail: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(r)) {
    if (name.startsWith('d.')) detail[name.slice(2)] = JSON.parse(value);
  }
  const status: StageStatus = {
    state: (r.state ?? 'pending') as StageState,
    done: Number(r.done ?? 0),
    total: Number(r.total ?? 0),
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    error: r.error,
    detail,
  };
  if (r.startedAt) {
    const end = r.finishedAt ? Date.parse(r.finishedAt) : Date.now();
    status.seconds = Math.round((end - Date.parse(r.startedAt)) / 100) / 10;
  }
  return status;
}
