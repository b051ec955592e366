/**
 * deploy/: every overlay rendered as `kubectl apply -k` would, and checked offline.
 *
 * Rendering: no kustomize binary can be installed here (none in Debian or npm), so `kustomize()`
 * below builds the subset of kustomize that deploy/ keeps to — resources (files and folders),
 * components, namespace (with RoleBinding subjects), labels (metadata only), images, patches
 * (inline JSON 6902 with a kind/name target), configMapGenerator and secretGenerator (files, envs,
 * literals, no name hashes) — and refuses any other field. Where a `kubectl` with its built-in
 * kustomize is on PATH, its output must equal ours. The overlays are rendered from a copy of
 * deploy/ in which secrets/*.env come from the committed *.env.example templates, as a user would
 * create them.
 *
 * Validation: each Kubernetes object against the API's JSON schemas (kubernetes-models) and, for
 * unknown or misplaced fields, against @kubernetes/client-node's model of the type (kubectl's
 * --validate=strict, offline). KEDA's ScaledObject and Kueue's objects have no schema package
 * installed: their fields are checked one by one below against what they must reference.
 *
 * Then what matters: GPU limit, node affinity and tolerations of the GPU agents, RBAC rules exactly,
 * no credential in a committed file or a plain env value, every Secret/ConfigMap reference
 * resolvable, images pinned, resources and probes set, the CronJob's schedule and policy, the
 * KEDA trigger naming the real stream and consumer, every flag the manifests pass existing in the
 * command that gets it, the Dockerfiles' structure (FROM pinned, a non-root USER, HEALTHCHECK),
 * what .dockerignore lets into an image, and the probe script itself against the local NATS server.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { names } from '../protocol/names.ts';
import { loadSpecFile } from '../orchestrator/spec.ts';
import { freePort, SHARED_NATS } from './helpers/nats.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

const ROOT = path.resolve(import.meta.dirname, '..');
const DEPLOY = path.join(ROOT, 'deploy');
const OVERLAYS = ['example', 'kueue', 'keda-pool'] as const;
const NAMESPACE = 'sigma-sweep';
const A100 = ['NVIDIA-A100-SXM4-80GB', 'NVIDIA-A100-SXM4-40GB', 'NVIDIA-A100-80GB-PCIe', 'NVIDIA-A100-PCIE-40GB'];

// ---------------------------------------------------------------------------------------------
// a kustomize for the subset deploy/ uses

const KUSTOMIZATION_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'components', 'namespace', 'labels', 'images', 'patches', 'configMapGenerator', 'secretGenerator', 'generatorOptions']);
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PersistentVolume', 'StorageClass', 'PriorityClass']);

function readKustomization(dir: string): Obj {
  const k = parseYaml(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as Obj;
  const unknown = Object.keys(k).filter((f) => !KUSTOMIZATION_FIELDS.has(f));
  if (unknown.length) throw new Error(`${dir}/kustomization.yaml: ${unknown.join(', ')} outside the subset this renderer implements`);
  return k;
}

function loadYaml(file: string): Obj[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
      return d.toJS() as Obj;
    })
    .filter((o) => o != null);
}

/** KEY=VALUE lines; blank lines and # comments skipped (kustomize's env-file rules). */
function envFile(file: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const i = t.indexOf('=');
    if (i <= 0) throw new Error(`${file}: '${t}' is not KEY=VALUE`);
    pairs.push([t.slice(0, i), t.slice(i + 1)]);
  }
  return pairs;
}

function generated(dir: string, g: Obj, kind: 'ConfigMap' | 'Secret'): Obj {
  const entries: Array<[string, string]> = [];
  for (const f of g.files ?? []) {
    const [key, rel] = String(f).includes('=') ? String(f).split('=', 2) : [path.basename(f), f];
    entries.push([key, readFileSync(path.join(dir, rel), 'utf8')]);
  }
  for (const e of g.envs ?? []) entries.push(...envFile(path.join(dir, e)));
  for (const l of g.literals ?? []) entries.push(String(l).split('=', 2) as [string, string]);
  const data = Object.fromEntries(kind === 'Secret' ? entries.map(([k, v]) => [k, Buffer.from(v).toString('base64')]) : entries);
  return kind === 'Secret' ? { apiVersion: 'v1', kind, metadata: { name: g.name }, type: 'Opaque', data } : { apiVersion: 'v1', kind, metadata: { name: g.name }, data };
}

function splitImage(ref: string): { name: string; tag?: string; digest?: string } {
  const [rest, digest] = ref.split('@');
  const colon = rest.lastIndexOf(':');
  return colon > rest.lastIndexOf('/') ? { name: rest.slice(0, colon), tag: rest.slice(colon + 1), digest } : { name: rest, digest };
}

function eachContainer(o: unknown, f: (c: Obj) => void): void {
  if (Array.isArray(o)) o.forEach((x) => eachContainer(x, f));
  else if (o && typeof o === 'object') {
    for (const [k, v] of Object.entries(o as Obj)) {
      if ((k === 'containers' || k === 'initContainers') && Array.isArray(v)) v.forEach(f);
      else eachContainer(v, f);
    }
  }
}

/** RFC 6902 add / replace / remove on `o` (the ops kustomize's inline JSON patches use here). */
function jsonPatch(o: Obj, ops: Obj[], where: string): void {
  for (const op of ops) {
    const tokens = String(op.path)
      .split('/')
      .slice(1)
      .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = tokens.pop()!;
    let parent: Obj = o;
    for (const t of tokens) {
      parent = parent?.[t];
      if (parent == null) throw new Error(`${where}: ${op.op} ${op.path}: no such path`);
    }
    if (op.op === 'add' && Array.isArray(parent)) parent.splice(last === '-' ? parent.length : Number(last), 0, op.value);
    else if (op.op === 'add') parent[last] = op.value;
    else if (op.op === 'replace' || op.op === 'remove') {
      if (!(last in parent)) throw new Error(`${where}: ${op.op} ${op.path}: no such path`);
      if (op.op === 'replace') parent[last] = op.value;
      else if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else throw new Error(`${where}: JSON patch op '${op.op}' is not implemented here`);
  }
}

function kustomize(dir: string): Obj[] {
  const k = readKustomization(dir);
  const objs: Obj[] = [];
  for (const r of k.resources ?? []) {
    const p = path.resolve(dir, r);
    objs.push(...(statSync(p).isDirectory() ? kustomize(p) : loadYaml(p)));
  }
  for (const c of k.components ?? []) objs.push(...kustomize(path.resolve(dir, c)));
  if ((k.configMapGenerator || k.secretGenerator) && k.generatorOptions?.disableNameSuffixHash !== true) {
    throw new Error(`${dir}: generators need generatorOptions.disableNameSuffixHash (name hashes are not implemented here)`);
  }
  for (const g of k.configMapGenerator ?? []) objs.push(generated(dir, g, 'ConfigMap'));
  for (const g of k.secretGenerator ?? []) objs.push(generated(dir, g, 'Secret'));
  for (const o of objs) {
    if (k.namespace && !CLUSTER_SCOPED.has(o.kind)) {
      o.metadata.namespace = k.namespace;
      for (const s of o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding' ? (o.subjects ?? []) : []) {
        if (s.kind === 'ServiceAccount' && (!s.namespace || s.namespace === 'default')) s.namespace = k.namespace;
      }
    }
    for (const l of k.labels ?? []) {
      if (l.includeSelectors || l.includeTemplates) throw new Error(`${dir}: labels with includeSelectors/includeTemplates are not implemented here`);
      o.metadata.labels = { ...(o.metadata.labels ?? {}), ...l.pairs };
    }
    eachContainer(o, (c) => {
      const ref = splitImage(c.image);
      const rule = (k.images ?? []).find((i: Obj) => i.name === ref.name);
      if (!rule) return;
      const name = rule.newName ?? ref.name;
      if (rule.digest) c.image = `${name}@${rule.digest}`;
      else c.image = `${name}${rule.newTag ?? ref.tag ? `:${rule.newTag ?? ref.tag}` : ''}${!rule.newTag && ref.digest ? `@${ref.digest}` : ''}`;
    });
  }
  for (const p of k.patches ?? []) {
    const ops = typeof p.patch === 'string' ? parseYaml(p.patch) : null;
    if (!Array.isArray(ops) || p.path || !p.target?.kind || !p.target?.name || Object.keys(p.target).length !== 2) {
      throw new Error(`${dir}: only inline JSON 6902 patches with a kind/name target are implemented here`);
    }
    const targets = objs.filter((o) => o.kind === p.target.kind && o.metadata.name === p.target.name);
    if (targets.length !== 1) throw new Error(`${dir}: the patch of ${p.target.kind} ${p.target.name} matches ${targets.length} objects`);
    jsonPatch(targets[0], ops, `${dir}: patch of ${p.target.kind} ${p.target.name}`);
  }
  return objs;
}

let work: string;
const rendered: Record<string, Obj[]> = {};

/** deploy/ copied, with the secrets a user creates from the templates. */
function userCopy(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'deploy-'));
  cpSync(DEPLOY, path.join(dir, 'deploy'), { recursive: true });
  const secrets = path.join(dir, 'deploy/overlays/example/secrets');
  for (const f of readdirSync(secrets).filter((f) => f.endsWith('.env.example'))) {
    writeFileSync(path.join(secrets, f.replace(/\.example$/, '')), readFileSync(path.join(secrets, f)));
  }
  return path.join(dir, 'deploy');
}

beforeAll(() => {
  work = userCopy();
  for (const o of OVERLAYS) rendered[o] = kustomize(path.join(work, 'overlays', o));
  rendered['kueue-cluster'] = kustomize(path.join(work, 'kueue-cluster'));
});
afterAll(() => rmSync(path.dirname(work), { recursive: true, force: true }));

const key = (o: Obj) => `${o.apiVersion}/${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
const byKey = (objs: Obj[]) => Object.fromEntries(objs.map((o) => [key(o), o]));
const find = (objs: Obj[], kind: string, name: string) => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name}`);
  return o;
};
const podSpecs = (objs: Obj[]): Array<{ owner: string; spec: Obj }> =>
  objs.flatMap((o) => {
    if (o.kind === 'CronJob') return [{ owner: `CronJob ${o.metadata.name}`, spec: o.spec.jobTemplate.spec.template.spec }];
    if (['Deployment', 'StatefulSet', 'Job', 'DaemonSet'].includes(o.kind)) return [{ owner: `${o.kind} ${o.metadata.name}`, spec: o.spec.template.spec }];
    return [];
  });
const envOf = (c: Obj, name: string) => (c.env ?? []).find((e: Obj) => e.name === name);

// ---------------------------------------------------------------------------------------------
// schema validation

const MODELS: Record<string, () => Promise<Obj>> = {
  v1: () => import('kubernetes-models/v1'),
  'apps/v1': () => import('kubernetes-models/apps/v1'),
  'batch/v1': () => import('kubernetes-models/batch/v1'),
  'rbac.authorization.k8s.io/v1': () => import('kubernetes-models/rbac.authorization.k8s.io/v1'),
};

/** Paths of fields the API type does not have (client-node's model of it), like kubectl --validate=strict. */
function unknownFields(value: unknown, type: string, at: string, out: string[]): string[] {
  if (value == null) return out;
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, arr[1], `${at}[${i}]`, out));
    return out;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    for (const [k, v] of Object.entries(value as Obj)) unknownFields(v, map[1], `${at}.${k}`, out);
    return out;
  }
  const model = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => Array<{ baseName: string; type: string }> }>)[type];
  if (!model?.getAttributeTypeMap || typeof value !== 'object') return out;
  const attrs = model.getAttributeTypeMap();
  for (const [k, v] of Object.entries(value as Obj)) {
    const a = attrs.find((x) => x.baseName === k);
    if (!a) out.push(`${at}.${k}`);
    else unknownFields(v, a.type, `${at}.${k}`, out);
  }
  return out;
}

async function validateBuiltIn(o: Obj): Promise<void> {
  const load = MODELS[o.apiVersion];
  if (!load) throw new Error(`${key(o)}: no schema module for ${o.apiVersion}`);
  const Model = (await load())[o.kind];
  if (!Model) throw new Error(`${key(o)}: no model for ${o.kind}`);
  new Model(o).validate(); // throws with the failing path
  const unknown = unknownFields(o, `V1${o.kind}`, o.kind, []);
  if (unknown.length) throw new Error(`${key(o)}: unknown fields ${unknown.join(', ')}`);
}

const CRDS = new Set(['keda.sh/v1alpha1', 'kueue.x-k8s.io/v1beta1']);

// ---------------------------------------------------------------------------------------------

describe('rendering', () => {
  it.runIf(spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0)('equals `kubectl kustomize` for every overlay', () => {
    for (const o of [...OVERLAYS.map((x) => `overlays/${x}`), 'kueue-cluster']) {
      const out = execFileSync('kubectl', ['kustomize', path.join(work, o)], { encoding: 'utf8' });
      const theirs = parseAllDocuments(out).map((d) => d.toJS() as Obj);
      const ours = o === 'kueue-cluster' ? rendered['kueue-cluster'] : rendered[o.split('/')[1]];
      expect(byKey(ours), o).toEqual(byKey(theirs));
    }
  });

  it('refuses kustomize fields outside the implemented subset (so an overlay cannot silently render wrong)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kust-'));
    writeFileSync(path.join(dir, 'kustomization.yaml'), 'resources: []\nreplacements: []\n');
    expect(() => kustomize(dir)).toThrow(/replacements outside the subset/);
    writeFileSync(path.join(dir, 'r.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n');
    writeFileSync(path.join(dir, 'kustomization.yaml'), 'resources: [r.yaml]\npatches:\n  - path: p.yaml\n');
    expect(() => kustomize(dir)).toThrow(/only inline JSON 6902 patches/);
    rmSync(dir, { recursive: true });
  });

  it('every overlay has the parts of an installation, all in one namespace', () => {
    for (const o of OVERLAYS) {
      const objs = rendered[o];
      for (const [kind, name] of [
        ['Namespace', NAMESPACE],
        ['StatefulSet', 'nats'],
        ['Service', 'nats'],
        ['ConfigMap', 'nats-config'],
        ['StatefulSet', 'postgres'],
        ['Service', 'postgres'],
        ['Deployment', 'sigma-sweep-orchestrator'],
        ['ServiceAccount', 'sigma-sweep'],
        ['ServiceAccount', 'sigma-sweep-agent'],
        ['Role', 'sigma-sweep-launch'],
        ['RoleBinding', 'sigma-sweep-launch'],
        ['CronJob', 'sigma-sweep-nightly'],
        ['ConfigMap', 'sigma-sweep-leaderboard'],
        ['Secret', 'sigma-sweep-nats'],
        ['Secret', 'sigma-sweep-db'],
        ['Secret', 'sigma-sweep-postgres'],
      ]) {
        expect(() => find(objs, kind, name), `${o}: ${kind} ${name}`).not.toThrow();
      }
      for (const x of objs.filter((x) => x.kind !== 'Namespace')) expect(x.metadata.namespace, `${o}: ${key(x)}`).toBe(NAMESPACE);
      expect(new Set(objs.map(key)).size, `${o}: duplicate objects`).toBe(objs.length);
    }
    expect(find(rendered['keda-pool'], 'ScaledObject', 'sigma-sweep-agent-pool')).toBeTruthy();
    expect(find(rendered.kueue, 'LocalQueue', 'sigma-sweep')).toBeTruthy();
    for (const x of rendered['kueue-cluster']) expect(x.metadata.namespace, key(x)).toBeUndefined();
  });
});

describe('schemas', () => {
  it('every built-in object validates against the Kubernetes API schema, with no unknown field', async () => {
    let checked = 0;
    for (const objs of Object.values(rendered)) {
      for (const o of objs.filter((x) => !CRDS.has(x.apiVersion))) {
        await validateBuiltIn(o);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(40);
  });

  it('the strict check finds a misplaced field (it can fail)', async () => {
    const pool = structuredClone(find(rendered['keda-pool'], 'Deployment', 'sigma-sweep-agent-pool'));
    pool.spec.template.spec.containers[0].tolerations = pool.spec.template.spec.tolerations;
    await expect(validateBuiltIn(pool)).rejects.toThrow(/containers\[0\]\.tolerations/);
    const cron = structuredClone(find(rendered.example, 'CronJob', 'sigma-sweep-nightly'));
    cron.spec.concurrencyPolicy = 7;
    await expect(validateBuiltIn(cron)).rejects.toThrow();
  });

  it('only built-in kinds and the KEDA/Kueue kinds checked below', () => {
    const kinds = new Set(Object.values(rendered).flatMap((objs) => objs.filter((o) => CRDS.has(o.apiVersion)).map((o) => `${o.apiVersion} ${o.kind}`)));
    expect([...kinds].sort()).toEqual(['keda.sh/v1alpha1 ScaledObject', 'kueue.x-k8s.io/v1beta1 ClusterQueue', 'kueue.x-k8s.io/v1beta1 LocalQueue', 'kueue.x-k8s.io/v1beta1 ResourceFlavor']);
  });
});

describe('secrets', () => {
  const committed = () =>
    execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', 'deploy'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);

  it('no committed file holds a Secret object or a real credential; the user-made env files are git-ignored', () => {
    const files = committed();
    expect(files).toContain('deploy/overlays/example/secrets/nats.env.example');
    for (const f of files) {
      const text = readFileSync(path.join(ROOT, f), 'utf8');
      if (/\.ya?ml$/.test(f)) expect(text, f).not.toMatch(/^kind:\s*Secret\b/m);
      expect(f, 'a real secrets file would be committed').not.toMatch(/secrets\/[^/]+\.env$/);
    }
    for (const f of files.filter((f) => f.endsWith('.env.example'))) {
      for (const [k, v] of envFile(path.join(ROOT, f))) {
        if (/password|token/i.test(k)) expect(v, `${f} ${k}`).toBe('CHANGE-ME');
        if (/^\w+:\/\/[^/]*@/.test(v)) expect(new URL(v).password, `${f} ${k}`).toBe('CHANGE-ME');
      }
    }
    for (const f of ['nats.env', 'db.env', 'postgres.env']) {
      const r = spawnSync('git', ['check-ignore', '-q', `deploy/overlays/example/secrets/${f}`], { cwd: ROOT });
      expect(r.status, `${f} must be git-ignored`).toBe(0);
    }
  });

  it('credentials reach containers only through secretKeyRef, and every reference resolves', () => {
    for (const o of OVERLAYS) {
      const objs = rendered[o];
      for (const { owner, spec } of podSpecs(objs)) {
        for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
          for (const e of c.env ?? []) {
            if (/PASSWORD|TOKEN|SECRET|DATABASE_URL|NATS_URL|NATS_USER|POSTGRES_USER/.test(e.name)) {
              expect(e.value, `${o}: ${owner} ${e.name} is a plain value`).toBeUndefined();
              expect(e.valueFrom?.secretKeyRef, `${o}: ${owner} ${e.name}`).toBeTruthy();
            }
            const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
            if (!ref) continue;
            const target = find(objs, e.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap', ref.name);
            expect(Object.keys(target.data ?? {}), `${o}: ${owner} ${e.name} → ${ref.name}/${ref.key}`).toContain(ref.key);
          }
        }
        for (const v of spec.volumes ?? []) {
          if (v.configMap) expect(() => find(objs, 'ConfigMap', v.configMap.name), `${o}: ${owner} volume ${v.name}`).not.toThrow();
          if (v.secret) expect(() => find(objs, 'Secret', v.secret.secretName), `${o}: ${owner} volume ${v.name}`).not.toThrow();
        }
      }
    }
  });

  it('the templates agree: DATABASE_URL uses the PostgreSQL user, password, service and database; NATS_URL the service port', () => {
    const env = (f: string) => Object.fromEntries(envFile(path.join(DEPLOY, 'overlays/example/secrets', f)));
    const objs = rendered.example;
    const url = new URL(env('db.env.example').url);
    const pg = env('postgres.env.example');
    const pgSvc = find(objs, 'Service', 'postgres');
    const pgDb = envOf(find(objs, 'StatefulSet', 'postgres').spec.template.spec.containers[0], 'POSTGRES_DB').value;
    expect([url.username, url.password, url.hostname, Number(url.port), url.pathname.slice(1)]).toEqual([pg.user, pg.password, pgSvc.metadata.name, pgSvc.spec.ports[0].port, pgDb]);
    const nats = new URL(env('nats.env.example').url);
    const natsSvc = find(objs, 'Service', 'nats');
    expect([nats.hostname, Number(nats.port)]).toEqual([natsSvc.metadata.name, natsSvc.spec.ports.find((p: Obj) => p.name === 'client').port]);
  });
});

describe('workloads', () => {
  it('images are pinned (a tag other than latest, or a digest), as the example overlay sets them', () => {
    for (const objs of Object.values(rendered)) {
      for (const { owner, spec } of podSpecs(objs)) {
        for (const c of spec.containers) {
          const ref = splitImage(c.image);
          expect(ref.digest ?? ref.tag, `${owner}: ${c.image}`).toBeTruthy();
          expect(ref.tag, `${owner}: ${c.image}`).not.toBe('latest');
        }
      }
    }
    const k = readKustomization(path.join(DEPLOY, 'overlays/example'));
    for (const i of k.images) expect(i.newTag ?? i.digest, i.name).toMatch(/^(\d+\.\d+\.\d+|sha256:[0-9a-f]{64})$/);
  });

  it('every container has CPU and memory requests and a memory limit; pods run as non-root without privilege escalation', () => {
    for (const [o, objs] of Object.entries(rendered)) {
      for (const { owner, spec } of podSpecs(objs)) {
        expect(spec.securityContext?.runAsNonRoot, `${o}: ${owner}`).toBe(true);
        expect(spec.securityContext?.runAsUser, `${o}: ${owner}`).toBeGreaterThan(0);
        for (const c of spec.containers) {
          expect(c.resources?.requests?.cpu, `${o}: ${owner}/${c.name}`).toBeTruthy();
          expect(c.resources?.requests?.memory, `${o}: ${owner}/${c.name}`).toBeTruthy();
          expect(c.resources?.limits?.memory, `${o}: ${owner}/${c.name}`).toBeTruthy();
          expect(c.securityContext?.allowPrivilegeEscalation, `${o}: ${owner}/${c.name}`).toBe(false);
          expect(c.securityContext?.capabilities?.drop, `${o}: ${owner}/${c.name}`).toEqual(['ALL']);
        }
      }
    }
  });

  it('long-running containers have readiness and liveness probes; exec probes run a script the image has', () => {
    for (const [o, objs] of Object.entries(rendered)) {
      for (const x of objs.filter((x) => x.kind === 'Deployment' || x.kind === 'StatefulSet')) {
        for (const c of x.spec.template.spec.containers) {
          for (const p of ['readinessProbe', 'livenessProbe']) expect(c[p], `${o}: ${x.metadata.name}/${c.name} ${p}`).toBeTruthy();
          for (const p of [c.readinessProbe, c.livenessProbe, c.startupProbe].filter(Boolean)) {
            const cmd: string[] | undefined = p.exec?.command;
            if (cmd?.[0] === 'node') {
              expect(cmd[1]).toBe('/app/deploy/probe.mjs');
              expect(existsSync(path.join(ROOT, 'deploy/probe.mjs'))).toBe(true);
            }
          }
        }
      }
    }
  });

  it('the orchestrator runs `orchestrate` with NATS and PostgreSQL settings and no API token', () => {
    const d = find(rendered.example, 'Deployment', 'sigma-sweep-orchestrator');
    const c = d.spec.template.spec.containers[0];
    expect(c.args).toEqual(['orchestrate']);
    for (const e of ['NATS_URL', 'NATS_USER', 'NATS_PASSWORD', 'DATABASE_URL']) expect(envOf(c, e), e).toBeTruthy();
    expect(envOf(c, 'SIGMA_SWEEP_NS').value).toBe('sigma');
    expect(d.spec.replicas).toBe(1);
    expect(d.spec.template.spec.automountServiceAccountToken).toBe(false);
  });

  it('NATS: JetStream on a claimed volume, headless service with client and monitoring ports, auth from the Secret', () => {
    const objs = rendered.example;
    const svc = find(objs, 'Service', 'nats');
    expect(svc.spec.clusterIP).toBe('None');
    expect(Object.fromEntries(svc.spec.ports.map((p: Obj) => [p.name, p.port]))).toEqual({ client: 4222, monitor: 8222 });
    const sts = find(objs, 'StatefulSet', 'nats');
    expect(sts.spec.serviceName).toBe('nats');
    const c = sts.spec.template.spec.containers[0];
    expect(splitImage(c.image)).toMatchObject({ name: 'nats', tag: expect.stringMatching(/^2\.\d+\.\d+-alpine$/) });
    const conf = find(objs, 'ConfigMap', 'nats-config').data['nats.conf'] as string;
    const storeDir = /store_dir:\s*(\S+)/.exec(conf)![1];
    const dataMount = c.volumeMounts.find((m: Obj) => m.mountPath === storeDir);
    expect(dataMount, 'store_dir is on the claimed volume').toBeTruthy();
    const claim = sts.spec.volumeClaimTemplates.find((v: Obj) => v.metadata.name === dataMount.name);
    const gib = (q: string) => Number(/^(\d+)Gi$/.exec(q)![1]);
    expect(Number(/max_file_store:\s*(\d+)GB/.exec(conf)![1])).toBeLessThan(gib(claim.spec.resources.requests.storage));
    expect(conf).toMatch(/^\s*port:\s*4222$/m);
    expect(conf).toMatch(/^\s*http_port:\s*8222$/m);
    expect(conf).toMatch(/user:\s*\$NATS_USER/);
    expect(conf).toMatch(/password:\s*\$NATS_PASSWORD/);
    expect(envOf(c, 'NATS_PASSWORD').valueFrom.secretKeyRef.name).toBe('sigma-sweep-nats');
  });

  it('PostgreSQL 15, pinned, on a claimed volume with PGDATA below the mount', () => {
    const sts = find(rendered.example, 'StatefulSet', 'postgres');
    const c = sts.spec.template.spec.containers[0];
    expect(splitImage(c.image)).toMatchObject({ name: 'postgres', tag: expect.stringMatching(/^15\.\d+/) });
    const mount = c.volumeMounts.find((m: Obj) => m.name === 'data').mountPath;
    expect(envOf(c, 'PGDATA').value.startsWith(`${mount}/`)).toBe(true);
    expect(sts.spec.volumeClaimTemplates[0].metadata.name).toBe('data');
  });

  /** The nightly job's pod: its `sh -c` script, the spec path ($1) and launch's flags (the rest). */
  function nightly(overlay: string) {
    const objs = rendered[overlay];
    const cron = find(objs, 'CronJob', 'sigma-sweep-nightly');
    const pod = cron.spec.jobTemplate.spec.template.spec;
    return { objs, cron, pod, c: pod.containers[0] };
  }

  it('the nightly CronJob: 02:00 UTC, one at a time, the leaderboard spec of its ConfigMap (a valid spec)', () => {
    const { objs, cron, pod, c } = nightly('example');
    expect(cron.spec.schedule).toBe('0 2 * * *');
    expect(cron.spec.concurrencyPolicy).toBe('Forbid');
    expect(cron.spec.timeZone).toBe('Etc/UTC');
    expect(cron.spec.jobTemplate.spec.activeDeadlineSeconds).toBeLessThan(24 * 3600);
    const specPath: string = c.args[2];
    const mount = c.volumeMounts.find((m: Obj) => specPath.startsWith(`${m.mountPath}/`));
    const volume = pod.volumes.find((v: Obj) => v.name === mount.name);
    const cm = find(objs, 'ConfigMap', volume.configMap.name);
    const file = path.basename(specPath);
    expect(Object.keys(cm.data)).toEqual([file]);
    // the mounted spec is a valid sweep spec naming a leaderboard (checked by the real loader)
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'lb-'));
    writeFileSync(path.join(tmp, file), cm.data[file]);
    const spec = loadSpecFile(path.join(tmp, file));
    rmSync(tmp, { recursive: true });
    expect(spec.leaderboard?.name).toBe('mnist-nightly');
  });

  it('example: submit, then launch that sweep on A100s in its own namespace with the GPU image, under the launching account', () => {
    const { objs, pod, c } = nightly('example');
    expect(c.command).toEqual(['/bin/sh', '-c']);
    const [script, , specPath, ...flags] = c.args as string[];
    expect(script).toMatch(/set -eu\n/);
    expect(script).toContain('sweep=$(node /app/bin/sigma-sweep.js submit "$1")');
    expect(script).toContain('exec node /app/bin/sigma-sweep.js launch --sweep "$sweep" "$@"');
    expect(specPath).toBe('/etc/sigma-sweep/spec/leaderboard.yaml');
    const flag = (f: string) => flags[flags.indexOf(f) + 1];
    expect(flag('--namespace')).toBe('$(POD_NAMESPACE)');
    expect(envOf(c, 'POD_NAMESPACE').valueFrom.fieldRef.fieldPath).toBe('metadata.namespace');
    // kustomize's `images:` does not reach an argument: it must equal the overlay's GPU image
    const gpu = readKustomization(path.join(DEPLOY, 'overlays/example')).images.find((i: Obj) => i.name.endsWith('sigma-sweep-agent-gpu'));
    expect(flag('--image')).toBe(`${gpu.newName ?? gpu.name}:${gpu.newTag}`);
    expect(flag('--gpu-products').split(',')).toEqual(A100);
    expect(flags).toContain('--orchestrate');
    expect(pod.serviceAccountName).toBe('sigma-sweep');
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(find(objs, 'RoleBinding', 'sigma-sweep-launch').subjects[0].name).toBe(pod.serviceAccountName);
  });

  it('every flag the manifests pass exists in the command that receives it (orchestrate, agent, submit, launch)', async () => {
    const { Command } = await import('commander');
    const program = new Command();
    const ctx = { out: () => {}, log: () => ({ debug() {}, info() {}, warn() {}, error() {} }) };
    for (const m of ['orchestrate', 'agent', 'submit', 'launch']) {
      const mod = await import(`../orchestrator/commands/${m}.ts`);
      (mod[`${m}Command`] as (p: typeof program, c: typeof ctx) => void)(program, ctx);
    }
    const longFlags = (name: string) => program.commands.find((x) => x.name() === name)!.options.map((o) => o.long);
    const check = (command: string, args: string[], where: string) => {
      for (const a of args.filter((x) => x.startsWith('--'))) expect(longFlags(command), `${where}: ${command} ${a}`).toContain(a);
    };
    const { c } = nightly('example');
    check('launch', c.args.slice(3), 'nightly launch');
    check('launch', nightly('kueue').c.args.slice(3), 'nightly launch (kueue)');
    check('submit', nightly('keda-pool').c.args.slice(1), 'nightly submit (keda-pool)');
    const orch = find(rendered.example, 'Deployment', 'sigma-sweep-orchestrator').spec.template.spec.containers[0];
    check('orchestrate', orch.args.slice(1), 'orchestrator');
    const agent = find(rendered['keda-pool'], 'Deployment', 'sigma-sweep-agent-pool').spec.template.spec.containers[0];
    expect(agent.args[0]).toBe('agent');
    check('agent', agent.args.slice(1), 'agent pool');
  });

  it('keda-pool: the nightly job only submits (the pool does the work) and gets no API token; kueue: it queues its Job', () => {
    const k = nightly('keda-pool');
    expect(k.c.command).toBeUndefined();
    expect(k.c.args).toEqual(['submit', '/etc/sigma-sweep/spec/leaderboard.yaml']);
    expect(k.pod.automountServiceAccountToken).toBe(false);
    const q = nightly('kueue');
    expect(q.c.args.slice(-2)).toEqual(['--queue', find(rendered.kueue, 'LocalQueue', 'sigma-sweep').metadata.name]);
    expect(q.c.args.slice(0, -2)).toEqual(nightly('example').c.args);
  });
});

describe('RBAC', () => {
  it('one namespaced Role: Jobs get/list/watch/create/patch/delete, Pods get/list/watch; bound to sigma-sweep only', () => {
    for (const o of OVERLAYS) {
      const objs = rendered[o];
      expect(objs.filter((x) => /^Cluster(Role|RoleBinding)$/.test(x.kind)), o).toEqual([]);
      const roles = objs.filter((x) => x.kind === 'Role');
      expect(roles.map((r) => r.metadata.name)).toEqual(['sigma-sweep-launch']);
      expect(roles[0].rules).toEqual([
        { apiGroups: ['batch'], resources: ['jobs'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
      ]);
      const bindings = objs.filter((x) => x.kind === 'RoleBinding');
      expect(bindings).toHaveLength(1);
      expect(bindings[0].roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'sigma-sweep-launch' });
      expect(bindings[0].subjects).toEqual([{ kind: 'ServiceAccount', name: 'sigma-sweep', namespace: NAMESPACE }]);
      // agents: their own account, no role, no token
      expect(find(objs, 'ServiceAccount', 'sigma-sweep-agent').automountServiceAccountToken).toBe(false);
    }
  });
});

describe('GPU agents (KEDA pool)', () => {
  const pool = () => find(rendered['keda-pool'], 'Deployment', 'sigma-sweep-agent-pool');

  it('one GPU each, A100 nodes by feature-discovery label (no Hopper), the GPU taint tolerated', () => {
    const spec = pool().spec.template.spec;
    const c = spec.containers[0];
    expect(c.resources.limits['nvidia.com/gpu']).toBe(1);
    expect(c.image).toMatch(/sigma-sweep-agent-gpu:/);
    const terms = spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
    expect(terms).toEqual([{ matchExpressions: [{ key: 'nvidia.com/gpu.product', operator: 'In', values: A100 }] }]);
    expect(JSON.stringify(terms)).not.toMatch(/H100|H200|GH200/);
    expect(spec.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(spec.serviceAccountName).toBe('sigma-sweep-agent');
  });

  it('TensorFlow grows its GPU memory; the CUDA JIT cache is on a volume and large enough', () => {
    const c = pool().spec.template.spec.containers[0];
    expect(envOf(c, 'TF_FORCE_GPU_ALLOW_GROWTH').value).toBe('true');
    const cache = envOf(c, 'CUDA_CACHE_PATH').value;
    expect(c.volumeMounts.map((m: Obj) => m.mountPath)).toContain(cache);
    expect(Number(envOf(c, 'CUDA_CACHE_MAXSIZE').value)).toBeGreaterThanOrEqual(2 ** 30);
    expect(c.args.slice(0, 3)).toEqual(['agent', '--slots', '1']);
  });

  it('a scaled-down agent gets to drain: the grace period exceeds --drain-timeout', () => {
    const spec = pool().spec.template.spec;
    const args: string[] = spec.containers[0].args;
    const drain = Number(args[args.indexOf('--drain-timeout') + 1]);
    expect(drain).toBeGreaterThan(0);
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(drain);
  });

  it("KEDA's nats-jetstream trigger reads the real task stream and consumer on this namespace's monitoring port", () => {
    const objs = rendered['keda-pool'];
    const so = find(objs, 'ScaledObject', 'sigma-sweep-agent-pool');
    expect(so.spec.scaleTargetRef).toEqual({ name: pool().metadata.name });
    expect(so.spec.minReplicaCount).toBe(0);
    expect(so.spec.maxReplicaCount).toBeGreaterThan(0);
    expect(so.spec.triggers).toHaveLength(1);
    const t = so.spec.triggers[0];
    expect(t.type).toBe('nats-jetstream');
    for (const v of Object.values(t.metadata)) expect(typeof v, 'KEDA metadata values are strings').toBe('string');
    const n = names(envOf(pool().spec.template.spec.containers[0], 'SIGMA_SWEEP_NS').value);
    const monitor = find(objs, 'Service', 'nats').spec.ports.find((p: Obj) => p.name === 'monitor').port;
    expect(t.metadata).toEqual({
      natsServerMonitoringEndpoint: `nats.${NAMESPACE}.svc.cluster.local:${monitor}`,
      account: '$G',
      stream: n.tasks,
      consumer: n.agentsConsumer,
      lagThreshold: expect.stringMatching(/^[1-9]\d*$/),
      activationLagThreshold: expect.stringMatching(/^\d+$/),
      useHttps: 'false',
    });
  });
});

describe('Kueue', () => {
  it('the LocalQueue feeds a ClusterQueue for this namespace whose flavour pins an A100 product', () => {
    const lq = find(rendered.kueue, 'LocalQueue', 'sigma-sweep');
    const cluster = rendered['kueue-cluster'];
    const cq = find(cluster, 'ClusterQueue', lq.spec.clusterQueue);
    expect(cq.spec.namespaceSelector).toEqual({ matchLabels: { 'kubernetes.io/metadata.name': NAMESPACE } });
    for (const g of cq.spec.resourceGroups) {
      expect(g.coveredResources).toContain('nvidia.com/gpu');
      for (const f of g.flavors) {
        expect(f.resources.map((r: Obj) => r.name).sort()).toEqual([...g.coveredResources].sort());
        const flavor = find(cluster, 'ResourceFlavor', f.name);
        expect(A100).toContain(flavor.spec.nodeLabels['nvidia.com/gpu.product']);
      }
    }
  });
});

describe('images (Dockerfiles, structure only: no container engine here)', () => {
  interface Instr {
    op: string;
    args: string;
  }
  function instructions(file: string): Instr[] {
    const joined = readFileSync(path.join(ROOT, file), 'utf8')
      .split('\n')
      .filter((l) => !/^\s*#/.test(l))
      .join('\n')
      .replace(/\s*\\\n\s*/g, ' ');
    return joined
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .map((l) => ({ op: l.split(/\s+/)[0].toUpperCase(), args: l.slice(l.split(/\s+/)[0].length).trim() }));
  }
  function stages(file: string) {
    const ins = instructions(file);
    const args: Record<string, string> = {};
    const out: Array<{ from: string; name?: string; body: Instr[] }> = [];
    for (const i of ins) {
      if (i.op === 'ARG' && !out.length) {
        const [k, v] = i.args.split('=');
        args[k] = v;
      } else if (i.op === 'FROM') {
        const [image, , name] = i.args.replace(/\$\{(\w+)\}/g, (_, k) => args[k] ?? `\${${k}}`).split(/\s+/);
        out.push({ from: image, name, body: [] });
      } else out.at(-1)?.body.push(i);
    }
    return { args, stages: out };
  }

  for (const file of ['deploy/Dockerfile', 'deploy/agent.Dockerfile']) {
    it(`${file}: every FROM pinned, a non-root USER, HEALTHCHECK, the sigma-sweep entrypoint`, () => {
      const { args, stages: st } = stages(file);
      expect(args.NODE_VERSION).toMatch(/^20\.\d+\.\d+$/);
      const names = new Set<string>();
      for (const s of st) {
        if (!names.has(s.from)) {
          const ref = splitImage(s.from);
          expect(ref.digest ?? ref.tag, s.from).toBeTruthy();
          expect(ref.tag, s.from).not.toBe('latest');
          expect(s.from, 'unresolved build argument').not.toMatch(/\$/);
        }
        if (s.name) names.add(s.name);
      }
      const last = st.at(-1)!.body;
      const user = last.filter((i) => i.op === 'USER').at(-1);
      expect(user, 'USER in the final stage').toBeTruthy();
      expect(user!.args.split(':')[0]).not.toMatch(/^(root|0)$/);
      expect(last.find((i) => i.op === 'HEALTHCHECK')?.args).toMatch(/CMD \["node", "\/app\/deploy\/probe\.mjs"\]/);
      expect(last.find((i) => i.op === 'WORKDIR')?.args).toBe('/app');
      expect(last.find((i) => i.op === 'ENTRYPOINT')?.args).toBe('["node", "/app/bin/sigma-sweep.js"]');
      // minimal layers: the final stage installs nothing with apt or npm
      expect(last.filter((i) => i.op === 'RUN' && /apt-get install|npm (ci|install)/.test(i.args))).toEqual([]);
    });
  }

  it('the GPU image: CUDA 11 runtime and cuDNN 8 for CUDA 11, npm 11 with only tfjs-node-gpu\'s script allowed, the binding checked', () => {
    const { stages: st } = stages('deploy/agent.Dockerfile');
    const text = readFileSync(path.join(ROOT, 'deploy/agent.Dockerfile'), 'utf8');
    const arg = (k: string) => new RegExp(`^ARG ${k}=(\\S+)$`, 'm').exec(text)?.[1];
    expect(st.find((s) => s.name === 'cuda')!.from).toMatch(/^ubuntu:\d\d\.04$/);
    expect(arg('CUDA_PKG')).toMatch(/^11-\d+$/);
    expect(arg('CUDNN_VERSION')).toMatch(/^8\.[\d.]+-1\+cuda11\.\d+$/);
    expect(arg('NPM_VERSION')).toMatch(/^11\./);
    for (const lib of ['cuda-cudart', 'libcublas', 'libcufft', 'libcurand', 'libcusolver', 'libcusparse']) expect(text).toContain(`"${lib}-\${CUDA_PKG}"`);
    expect(text).toContain('"libcudnn8=${CUDNN_VERSION}"');
    const deps = st.find((s) => s.name === 'deps')!.body.map((i) => i.args).join('\n');
    expect(deps).toMatch(/echo "allow-scripts=@tensorflow\/tfjs-node-gpu" >> \.npmrc && npm ci --omit=dev/);
    expect(deps).toContain('libtensorflow.so.2');
    expect(deps).toContain('tfjs_binding.node');
    expect(text).toMatch(/TF_FORCE_GPU_ALLOW_GROWTH=true/);
    expect(text).toMatch(/NVIDIA_DRIVER_CAPABILITIES=compute,utility/); // nvidia-smi for device memory
    expect(text).toMatch(/Hopper .*not supported/s);
  });

  it('the CPU image installs without scripts and without the native TensorFlow packages', () => {
    const text = instructions('deploy/Dockerfile').map((i) => i.args).join('\n');
    expect(text).toMatch(/npm ci --omit=dev --ignore-scripts/);
    expect(text).toMatch(/rm -rf node_modules\/@tensorflow\/tfjs-node node_modules\/@tensorflow\/tfjs-node-gpu/);
  });

  it('.dockerignore lets in what the images run, and keeps out secrets, node_modules and tests', () => {
    // Docker's rules: a pattern matches a path or one of its parents; the last matching pattern wins
    const patterns = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => {
        const neg = l.startsWith('!');
        const p = path.posix.normalize(neg ? l.slice(1) : l).replace(/\/$/, '');
        const re = new RegExp(`^${p.replace(/[.+^$()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '\u0000').replace(/\*\*/g, '.*').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]').replace(/\u0000/g, '(?:.*/)?')}$`);
        return { neg, re };
      });
    const excluded = (file: string) => {
      const parts = file.split('/');
      let out = false;
      for (const p of patterns) if (parts.some((_, i) => p.re.test(parts.slice(0, i + 1).join('/')))) out = !p.neg;
      return out;
    };
    const tracked = execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const f of tracked.filter((f) => /^(bin|agent|orchestrator|protocol|schema)\//.test(f))) expect(excluded(f), f).toBe(false);
    for (const f of ['package.json', 'package-lock.json', '.npmrc', 'deploy/probe.mjs', 'agent/models/zoo/mnist-smallcnn/model.json', 'examples/mnist-smoke.yaml']) expect(excluded(f), f).toBe(false);
    for (const f of ['deploy/overlays/example/secrets/nats.env', 'deploy/overlays/example/secrets/db.env', 'node_modules/pg/package.json', 'agent/node_modules/x.js', 'test/spec.test.ts', '.git/config', '.sigma-sweep/pglite/PG_VERSION', 'vl-try.tmp.ts', 'deploy/overlays/example/kustomization.yaml']) {
      expect(excluded(f), f).toBe(true);
    }
  });
});

describe('deploy/probe.mjs (the exec probe and HEALTHCHECK)', () => {
  const probe = (env: Record<string, string>, args: string[] = []) =>
    spawnSync(process.execPath, [path.join(DEPLOY, 'probe.mjs'), ...args], { env: { PATH: process.env.PATH!, ...env }, encoding: 'utf8' });

  it('healthy while a NATS connection is established, unhealthy for a port nobody is connected to', async () => {
    const nc = await connect({ servers: SHARED_NATS });
    try {
      const port = new URL(SHARED_NATS).port;
      expect(probe({ NATS_URL: `nats://sigma:secret@127.0.0.1:${port},nats://other:1` }).status).toBe(0);
      const unused = await freePort();
      const r = probe({ NATS_URL: `nats://127.0.0.1:${unused}` });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`no established connection to port ${unused}`);
      expect(probe({}, [port, String(unused)]).status).toBe(1);
      expect(probe({}, ['nope']).status).toBe(2);
    } finally {
      await nc.close();
    }
  });
});
