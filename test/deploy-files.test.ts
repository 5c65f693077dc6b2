/**
 * The deployment files agree with the code: every service has its compose service and its
 * Kubernetes Deployment, runs the right entry point, and sets only environment variables
 * the config schema knows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { envSchema } from '@imgcluster/config';
import { REPO_ROOT } from '@imgcluster/devstack';

const services = readdirSync(join(REPO_ROOT, 'services')).sort();
const known = new Set(Object.keys(envSchema.shape));

function entry(name: string) {
  return ['node', '--import', 'tsx', `services/${name}/src/main.ts`];
}

test('docker-compose.yml runs every service with known variables', () => {
  const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), {
    merge: true,
  });
  for (const name of services) {
    const svc = compose.services[name];
    assert.ok(svc, `compose has no service ${name}`);
    assert.deepEqual(svc.command, entry(name));
    for (const variable of Object.keys(svc.environment)) {
      assert.ok(known.has(variable), `compose ${name} sets unknown ${variable}`);
    }
  }
  assert.match(
    compose.services.redis.command.join(' '),
    /--appendonly yes.*--maxmemory-policy noeviction/,
  );
});

test('k8s base has a Deployment per service with known variables', () => {
  const dir = join(REPO_ROOT, 'k8s', 'base');
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'));
  const docs = (kustomization.resources as string[]).flatMap((file) => {
    assert.ok(existsSync(join(dir, file)), `kustomization lists missing ${file}`);
    return parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => d.toJS());
  });
  const deployments = new Map(
    docs.filter((d) => d.kind === 'Deployment').map((d) => [d.metadata.name, d]),
  );
  const config = docs.find((d) => d.kind === 'ConfigMap');
  const secret = docs.find((d) => d.kind === 'Secret');
  for (const variable of [...Object.keys(config.data), ...Object.keys(secret.stringData)]) {
    assert.ok(known.has(variable), `k8s config sets unknown ${variable}`);
  }
  for (const name of services) {
    const d = deployments.get(name);
    assert.ok(d, `k8s has no Deployment ${name}`);
    const container = d.spec.template.spec.containers[0];
    assert.deepEqual(container.command, entry(name));
    assert.deepEqual(d.spec.selector.matchLabels, { 'app.kubernetes.io/component': name });
    assert.equal(d.spec.template.metadata.labels['app.kubernetes.io/component'], name);
    for (const e of container.env ?? [])
      assert.ok(known.has(e.name), `${name} sets unknown ${e.name}`);
    assert.ok(
      container.resources.requests.cpu && container.resources.limits.memory,
      `${name} resources`,
    );
  }
  assert.equal(deployments.get('trainer').spec.replicas, 1);
  assert.equal(deployments.get('trainer').spec.strategy.type, 'Recreate');
});
