import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import {
  BackendUnavailableError,
  findNativeBinding,
  gradientFixesRegistered,
  initBackend,
  planBackends,
  tf,
  wasmBinaryDir,
  type NativeProbe,
} from '../src/index.js';

const GPU = '@tensorflow/tfjs-node-gpu';
const NODE = '@tensorflow/tfjs-node';

/** A probe that reports the given packages as installed with a binding. */
function fakeProbe(...present: string[]): NativeProbe {
  return (pkg) => (present.includes(pkg) ? `/fake/${pkg}/lib/napi-v8/tfjs_binding.node` : null);
}

describe('planBackends', () => {
  it('auto without native packages: wasm then cpu', () => {
    const { candidates, skipped } = planBackends('auto', fakeProbe());
    assert.deepEqual(
      candidates.map((c) => c.backend),
      ['wasm', 'cpu'],
    );
    assert.equal(skipped.length, 2);
    assert.match(skipped[0], /^tensorflow-gpu: .*not installed/);
  });

  it('auto with both natives keeps only the GPU one, first', () => {
    const { candidates, skipped } = planBackends('auto', fakeProbe(GPU, NODE));
    assert.deepEqual(
      candidates.map((c) => c.choice),
      ['tensorflow-gpu', 'wasm', 'cpu'],
    );
    assert.equal(candidates[0].pkg, GPU);
    assert.equal(candidates[0].backend, 'tensorflow');
    assert.match(skipped[0], /^tensorflow: another native package/);
  });

  it('auto with only tfjs-node picks it before wasm', () => {
    const { candidates } = planBackends('auto', fakeProbe(NODE));
    assert.deepEqual(
      candidates.map((c) => c.choice),
      ['tensorflow', 'wasm', 'cpu'],
    );
  });

  it('an explicit choice starts the order there; strict keeps only it', () => {
    const probe = fakeProbe(GPU, NODE);
    assert.deepEqual(
      planBackends('wasm', probe).candidates.map((c) => c.choice),
      ['wasm', 'cpu'],
    );
    const strict = planBackends('tensorflow', probe, true).candidates.map((c) => c.choice);
    assert.deepEqual(strict, ['tensorflow']);
    assert.deepEqual(planBackends('tensorflow-gpu', fakeProbe(), true).candidates, []);
  });
});

describe('findNativeBinding', () => {
  const root = mkdtempSync(join(tmpdir(), 'imgcluster-native-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const fromUrl = pathToFileURL(join(root, 'app', 'index.js')).href;

  function fakePackage(name: string, binding: boolean): void {
    const dir = join(root, 'node_modules', name);
    mkdirSync(join(dir, 'lib', 'napi-v8'), { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '0.0.0' }));
    if (binding) writeFileSync(join(dir, 'lib', 'napi-v8', 'tfjs_binding.node'), '');
  }

  it('finds the .node binding under lib/ of a resolvable package', () => {
    fakePackage('@fake/with-binding', true);
    const found = findNativeBinding('@fake/with-binding', fromUrl);
    assert.ok(found?.endsWith(join('lib', 'napi-v8', 'tfjs_binding.node')), String(found));
  });

  it('is null when the package has no binding or is absent', () => {
    fakePackage('@fake/no-binding', false);
    assert.equal(findNativeBinding('@fake/no-binding', fromUrl), null);
    assert.equal(findNativeBinding('@fake/absent', fromUrl), null);
  });

  it('reports the real native packages as absent here', () => {
    assert.equal(findNativeBinding(GPU), null);
    assert.equal(findNativeBinding(NODE), null);
  });
});

describe('initBackend', () => {
  it('the wasm binaries are where setWasmPaths is pointed', () => {
    assert.ok(existsSync(join(wasmBinaryDir(), 'tfjs-backend-wasm.wasm')));
    assert.ok(existsSync(join(wasmBinaryDir(), 'tfjs-backend-wasm-simd.wasm')));
  });

  it('auto falls back to wasm and registers the gradient fixes', async () => {
    const info = await initBackend('auto');
    assert.equal(info.backend, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    assert.match(info.source, /tfjs-backend-wasm/);
    assert.ok(gradientFixesRegistered());
    assert.equal(tf.sum(tf.tensor1d([1, 2, 3])).dataSync()[0], 6);
  });

  it('imports at most one native package and falls back when it fails', async () => {
    const imported: string[] = [];
    const importer = async (pkg: string) => {
      imported.push(pkg);
      throw new Error('cannot load binding');
    };
    const info = await initBackend('auto', { probe: fakeProbe(GPU, NODE), importer });
    assert.deepEqual(imported, [GPU]);
    assert.equal(info.backend, 'wasm');
    assert.ok(info.skipped.some((s) => /tensorflow-gpu: cannot load binding/.test(s)));
  });

  it('falls back when a native package loads but registers no backend', async () => {
    const info = await initBackend('tensorflow', {
      probe: fakeProbe(NODE),
      importer: async () => ({}),
    });
    assert.equal(info.backend, 'wasm');
    assert.ok(info.skipped.some((s) => s.startsWith('tensorflow: ')));
  });

  it('cpu on request', async () => {
    const info = await initBackend('cpu');
    assert.deepEqual([info.backend, tf.getBackend()], ['cpu', 'cpu']);
  });

  it('strict request for an absent native backend throws BACKEND_UNAVAILABLE', async () => {
    await assert.rejects(initBackend('tensorflow-gpu', { strict: true }), (err: unknown) => {
      assert.ok(err instanceof BackendUnavailableError);
      assert.equal(err.code, 'BACKEND_UNAVAILABLE');
      return true;
    });
    await assert.rejects(initBackend('metal' as 'cpu'), { code: 'BACKEND_UNAVAILABLE' });
  });
});
