import type { RunSpecInput } from '@imgcluster/config';
import type { RunStatus } from '@imgcluster/queues';

export * from './api-keys.js';

/** An error answer of the API: its HTTP status and the body's stable code. */
export class ApiRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown,
  ) {
    super(`${status} ${code}: ${message}`);
  }
}

/** One artifact of a run. */
export interface Artifact {
  path: string;
  bytes: number;
  contentType: string;
  url: string;
}

/** One cluster as GET /v1/runs/:id/clusters lists it. */
export interface ClusterSummary {
  cluster: number;
  size: number;
  meanDistance: number;
  labels?: Record<string, number>;
  pictures: { samples: string; attention: string; decoded: string };
  members: string;
}

/** One member of a cluster: its rank (0 = nearest the centre), key and squared distance. */
export interface ClusterMember {
  rank: number;
  key: string;
  distance: number;
  /** The original input image. */
  image: string;
  /** The image as the model saw it (resized), as PNG. */
  thumbnail: string;
}

/** What PUT /v1/uploads/:bucket/<key> stored. */
export interface UploadResult {
  bucket: string;
  key: string;
  bytes: number;
}

/** One page of GET /v1/uploads/:bucket: objects in key order, `next` the next page's cursor. */
export interface UploadPage {
  bucket: string;
  prefix: string;
  /** The largest upload the API accepts, in bytes. */
  maxBytes: number;
  objects: { key: string; bytes: number }[];
  next: string | null;
}

/** One image's assignment: its cluster, squared distance to the centre and attention map. */
export interface AssignedImage {
  name: string;
  cluster: number;
  distance: number;
  attention: { height: number; width: number; values: number[] };
}

/** An image that could not be assigned, and why (a preprocessing reason or not_found). */
export interface RejectedImage {
  name: string;
  rejected: { reason: string; message: string };
}

/** The results of an assignment, in the order the images were sent. */
export interface AssignResults {
  id: string;
  total: number;
  assigned: number;
  rejected: number;
  results: (AssignedImage | RejectedImage)[];
}

/** A queued assignment (more images than the API assigns at once). */
export interface AssignmentStatus {
  id: string;
  assignment: string;
  state: 'queued' | 'running' | 'succeeded' | 'failed';
  done: number;
  total: number;
  error?: string;
  /** Where the results are, once it has succeeded. */
  results?: string;
  url: string;
}

/** One file to assign: the name it is reported by, and its bytes. */
export interface AssignFile {
  name: string;
  bytes: Uint8Array<ArrayBuffer>;
}

/** How a client talks to the API. */
export interface ClientOptions {
  /**
   * The API key, sent as `Authorization: Bearer <key>` on every request; needed when the
   * API has keys configured. Default: none.
   */
  apiKey?: string;
  /**
   * How many times a request refused with 429 (rate limited) is sent again, each after the
   * answer's Retry-After (at most 60 s; 1 s when it gives none). Default 5; 0 turns it off.
   */
  rateLimitRetries?: number;
}

/** The longest wait the client honours from one Retry-After. */
const MAX_RETRY_AFTER_MS = 60_000;

/** A typed client of the imgcluster REST API (fetch-based, no dependencies). */
export class ImgclusterClient {
  readonly #authorization: Record<string, string>;

  constructor(
    readonly baseUrl: string,
    options: ClientOptions = {},
  ) {
    // Kept in a private field, so that printing or logging the client shows no key.
    this.#authorization = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {};
    this.#rateLimitRetries = options.rateLimitRetries ?? 5;
  }

  readonly #rateLimitRetries: number;

  /** fetch, sent again after Retry-After while the API answers 429 (see ClientOptions). */
  private async send(url: string, init?: RequestInit): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(url, init);
      if (res.status !== 429 || attempt >= this.#rateLimitRetries) return res;
      await res.body?.cancel();
      const seconds = Number(res.headers.get('retry-after'));
      const wait = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 1000;
      await new Promise((r) => setTimeout(r, Math.min(wait, MAX_RETRY_AFTER_MS)));
    }
  }

  /** POST /v1/runs: submits a run; resolves to its id. */
  async submit(spec: RunSpecInput): Promise<{ id: string; url: string; state: string }> {
    return this.json('POST', '/v1/runs', spec);
  }

  /** GET /v1/runs/:id: the run's live status. */
  async status(id: string): Promise<RunStatus> {
    return this.json('GET', `/v1/runs/${encodeURIComponent(id)}`);
  }

  /** GET /v1/runs: a page of runs, newest first. */
  async list(limit = 20, cursor?: string) {
    const q = new URLSearchParams({ limit: String(limit), ...(cursor ? { cursor } : {}) });
    return this.json<{ runs: RunStatus[]; total: number; next: string | null }>(
      'GET',
      `/v1/runs?${q}`,
    );
  }

  /** DELETE /v1/runs/:id: cancels a run. */
  async cancel(id: string): Promise<{ id: string; state: string }> {
    return this.json('DELETE', `/v1/runs/${encodeURIComponent(id)}`);
  }

  /** POST /v1/runs/:id/retry: restarts a failed or cancelled run where it stopped. */
  async retry(
    id: string,
  ): Promise<{ id: string; state: string; retry: number; resumesAt: string; url: string }> {
    return this.json('POST', `/v1/runs/${encodeURIComponent(id)}/retry`);
  }

  /** GET /v1/runs/:id/clusters: every cluster's size, pictures and members link. */
  async clusters(id: string): Promise<{ id: string; k: number; clusters: ClusterSummary[] }> {
    return this.json('GET', `/v1/runs/${encodeURIComponent(id)}/clusters`);
  }

  /** GET /v1/runs/:id/clusters/:c/members: one page of a cluster's members, nearest first. */
  async members(
    id: string,
    cluster: number,
    limit = 50,
    cursor?: string,
  ): Promise<{ cluster: number; size: number; members: ClusterMember[]; next: string | null }> {
    const q = new URLSearchParams({ limit: String(limit), ...(cursor ? { cursor } : {}) });
    return this.json('GET', `/v1/runs/${encodeURIComponent(id)}/clusters/${cluster}/members?${q}`);
  }

  /**
   * POST /v1/runs/:id/assign with files (multipart) or stored object keys. A small request
   * is answered with its results; a large one with a queued assignment to poll
   * (`assignment()`, `waitForAssignment()`).
   */
  async assign(
    id: string,
    images: { files: AssignFile[] } | { keys: string[]; bucket?: string },
  ): Promise<AssignResults | AssignmentStatus> {
    const path = `/v1/runs/${encodeURIComponent(id)}/assign`;
    if ('keys' in images) return this.json('POST', path, images);
    const form = new FormData();
    for (const f of images.files) form.append('images', new Blob([f.bytes]), f.name);
    const res = await this.send(`${this.baseUrl}${path}`, {
      method: 'POST',
      headers: this.#authorization,
      body: form,
    });
    if (!res.ok) await this.fail(res);
    return (await res.json()) as AssignResults | AssignmentStatus;
  }

  /** GET /v1/runs/:id/assignments/:aid: a queued assignment's state and progress. */
  async assignment(id: string, assignment: string): Promise<AssignmentStatus> {
    return this.json('GET', `/v1/runs/${encodeURIComponent(id)}/assignments/${assignment}`);
  }

  /**
   * Waits for a queued assignment (polling, `onStatus` after each poll) and resolves to its
   * results; an assignment that failed throws with its error.
   */
  async waitForAssignment(
    status: AssignmentStatus,
    onStatus: (s: AssignmentStatus) => void = () => undefined,
    intervalMs = 500,
  ): Promise<AssignResults> {
    let s = status;
    for (;;) {
      s = await this.assignment(s.id, s.assignment);
      onStatus(s);
      if (s.state === 'failed') throw new Error(`assignment ${s.assignment} failed: ${s.error}`);
      if (s.state === 'succeeded' && s.results) {
        const r = JSON.parse((await this.fetchBytes(s.results)).toString('utf8'));
        return {
          id: s.id,
          total: r.total,
          assigned: r.assigned,
          rejected: r.rejected,
          results: r.results,
        };
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  /**
   * PUT /v1/uploads/:bucket/<key>: stores one object with these bytes (any bucket but the
   * artifact bucket; created if missing). Keys with `.` or `..` segments are refused here,
   * since URLs cannot carry them.
   */
  async upload(
    bucket: string,
    key: string,
    body: Uint8Array<ArrayBuffer>,
    contentType = 'application/octet-stream',
  ): Promise<UploadResult> {
    const parts = key.split('/');
    if (parts.some((p) => p === '.' || p === '..')) {
      throw new Error(
        `cannot upload ${JSON.stringify(key)}: a key may not have '.' or '..' segments`,
      );
    }
    const path = `/v1/uploads/${encodeURIComponent(bucket)}/${parts.map(encodeURIComponent).join('/')}`;
    const res = await this.send(`${this.baseUrl}${path}`, {
      method: 'PUT',
      headers: { ...this.#authorization, 'content-type': contentType },
      body,
    });
    if (!res.ok) await this.fail(res);
    return (await res.json()) as UploadResult;
  }

  /** GET /v1/uploads/:bucket: one page (at most `limit`, ≤ 1000) of the objects under `prefix`. */
  async listUploads(
    bucket: string,
    options: { prefix?: string; cursor?: string; limit?: number } = {},
  ): Promise<UploadPage> {
    const q = new URLSearchParams({
      prefix: options.prefix ?? '',
      ...(options.cursor ? { cursor: options.cursor } : {}),
      ...(options.limit ? { limit: String(options.limit) } : {}),
    });
    return this.json('GET', `/v1/uploads/${encodeURIComponent(bucket)}?${q}`);
  }

  /** Downloads bytes from a URL path the API handed out (e.g. a member's `image`). */
  async fetchBytes(path: string): Promise<Buffer> {
    const res = await this.send(`${this.baseUrl}${path}`, { headers: this.#authorization });
    if (!res.ok) await this.fail(res);
    return Buffer.from(await res.arrayBuffer());
  }

  /** GET /v1/runs/:id/artifacts. */
  async artifacts(id: string): Promise<{ complete: boolean; artifacts: Artifact[] }> {
    return this.json('GET', `/v1/runs/${encodeURIComponent(id)}/artifacts`);
  }

  /** Downloads one artifact's bytes. */
  async download(id: string, path: string): Promise<Buffer> {
    const res = await this.send(
      `${this.baseUrl}/v1/runs/${encodeURIComponent(id)}/artifacts/${path}`,
      {
        headers: this.#authorization,
      },
    );
    if (!res.ok) await this.fail(res);
    return Buffer.from(await res.arrayBuffer());
  }

  /** Downloads and parses one JSON artifact. */
  async artifactJson<T>(id: string, path: string): Promise<T> {
    return JSON.parse((await this.download(id, path)).toString('utf8')) as T;
  }

  /**
   * Polls until the run is finished (succeeded, failed or cancelled), calling `onStatus`
   * after every poll. Resolves to the final status.
   */
  async wait(
    id: string,
    onStatus: (s: RunStatus) => void = () => undefined,
    intervalMs = 1000,
    timeoutMs = Number.POSITIVE_INFINITY,
  ): Promise<RunStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.status(id);
      onStatus(s);
      if (s.state === 'succeeded' || s.state === 'failed' || s.state === 'cancelled') return s;
      if (Date.now() > deadline) throw new Error(`run ${id} not finished after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.send(`${this.baseUrl}${path}`, {
      method,
      headers: {
        ...this.#authorization,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) await this.fail(res);
    return (await res.json()) as T;
  }

  private async fail(res: Response): Promise<never> {
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    const err = (body as { error?: { code?: string; message?: string } })?.error;
    throw new ApiRequestError(res.status, err?.code ?? 'HTTP_ERROR', err?.message ?? text, body);
  }
}

/** One line per stage: state, done/total and the stage's most telling counter. */
export function formatProgress(s: RunStatus): string {
  const parts = Object.entries(s.stages).map(([name, st]) => {
    const count = st.total ? ` ${st.done}/${st.total}` : '';
    const d = st.detail as Record<string, number | string | undefined>;
    let extra = '';
    if (name === 'preprocess' && d.rejected) extra = ` (${d.rejected} rejected)`;
    if (name === 'train' && typeof d.loss === 'number') {
      extra = ` loss ${d.loss.toFixed(4)}${d.step ? ` step ${d.step}/${d.stepsPerEpoch}` : ''}`;
    }
    if (name === 'cluster' && d.phase) extra = ` ${d.phase}`;
    if (name === 'cluster' && d.phase === 'choose-k' && typeof d.kDone === 'number') {
      extra += ` ${d.kDone}/${d.kTotal}`;
    }
    if (name === 'cluster' && d.phase === 'manifold') {
      if (typeof d.layoutDone === 'number') extra += ` layout ${d.layoutDone}/${d.layoutTotal}`;
      if (d.placed) extra += `, placed ${d.placed}/${d.shards} shards`;
    }
    if (name === 'cluster' && d.phase === 'mixture' && typeof d.iteration === 'number') {
      extra += ` EM pass ${d.iteration} (at most ${d.maxIterations})`;
    }
    if (name === 'cluster' && typeof d.k === 'number') extra += ` (k = ${d.k} chosen)`;
    return `${name}: ${st.state}${count}${extra}`;
  });
  return `[${s.state}] ${parts.join(' | ')}`;
}
