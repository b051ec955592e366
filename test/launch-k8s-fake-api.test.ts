/**
 * `launch --sweep ID` against an in-process FAKE Kubernetes API server (test/helpers/fake-kube-api.ts:
 * no real API server can run here), with the real NATS JetStream (a fresh namespace) and the real
 * PostgreSQL (a throw-away database). No agents run: the queue is drained by hand (pulling and
 * acknowledging task messages) and tasks are finished by recording results, so every step the
 * launcher reacts to is under the test's control.
 *
 * Checked: the Job it posts (work-queue pattern, GPU limit, node affinity on feature-discovery
 * labels, GPU toleration, podFailurePolicy, labels, env from Secrets and no secret value anywhere
 * in it); parallelism following the queue down as it drains (merge patches); pod watch events
 * reaching `status`; the watch re-opened from the last resourceVersion after the server drops it;
 * the Job deleted (background propagation) once the sweep is done; 403 naming verb, resource and
 * namespace with nothing created; 409 naming the way out, and --adopt taking the Job over.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { Job } from 'kubernetes-models/batch/v1';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { main } from '../orchestrator/cli.ts';
import { Store } from '../orchestrator/db/store.ts';
import { tuningFor } from '../orchestrator/nats/streams.ts';
import { submitSweep } from '../orchestrator/submit.ts';
import { planSweep } from '../orchestrator/planner.ts';
import { names, type Names } from '../protocol/names.ts';
import type { TaskResult } from '../schema/wire.ts';
import { buildJob, jobName, podSelector, sweepLabelValue, SWEEP_ANNOTATION, SWEEP_LABEL, type JobOptions } from '../orchestrator/k8s/job.ts';
import { desiredAgents } from '../orchestrator/k8s/scaler.ts';
import { forbiddenPermission, kubeError, KubeApiError } from '../orchestrator/k8s/errors.ts';
import { podView } from '../orchestrator/k8s/pod-watch.ts';
import { launchesBucket, readLaunch } from '../orchestrator/launches.ts';
import { createTempDatabase } from './helpers/pg.ts';
import { SHARED_NATS, dropNamespace, freshNamespace } from './helpers/nats.ts';
import { tinySweep } from './helpers/dist-spec.ts';
import { cli } from './helpers/cli.ts';
import { fakePod, startFakeKubeApi, type FakeKubeApi } from './helpers/fake-kube-api.ts';

const ns = freshNamespace('launch');
const n: Names = names(ns);
let db: Awaited<ReturnType<typeof createTempDatabase>>;
let store: Store;
let nc: NatsConnection;
const fakes: FakeKubeApi[] = [];

beforeAll(async () => {
  db = await createTempDatabase();
  store = await Store.open({ databaseUrl: db.url });
  nc = await connect({ servers: SHARED_NATS });
});

afterAll(async () => {
  for (const f of fakes) await f.close();
  await new Kvm(nc)
    .open(launchesBucket(n))
    .then((kv) => kv.destroy())
    .catch(() => {});
  await nc?.close();
  await store?.close();
  await dropNamespace(SHARED_NATS, ns);
  await db?.drop();
});

async function fake(): Promise<FakeKubeApi> {
  const f = await startFakeKubeApi();
  fakes.push(f);
  return f;
}

async function until<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `status` of the sweep, its stdout. */
async function status(sweepId: string): Promise<string> {
  const out: string[] = [];
  await main(['node', 'sigma-sweep', 'status', '--sweep', sweepId, '--db', db.url, '--nats', SHARED_NATS, '--ns', ns], (s) => out.push(s));
  return out.join('');
}

/** Launch in this process (not awaited by the caller until the end); stdout collected. */
function launch(f: FakeKubeApi, sweepId: string, extra: string[] = []) {
  const out: string[] = [];
  const args = ['launch', '--sweep', sweepId, '--kubeconfig', f.kubeconfig, '--image', 'registry.example/sigma-sweep-agent:0.1.0', '--db', db.url, '--nats', SHARED_NATS, '--ns', ns, '--interval', '0.1', ...extra];
  const done = main(['node', 'sigma-sweep', ...args], (s) => out.push(s));
  return { done, out };
}

/** Take `k` task messages of the queue and acknowledge them, as agents that finished them would. */
async function drainQueue(k: number): Promise<void> {
  const c = await jetstream(nc).consumers.get(n.tasks, n.agentsConsumer);
  for (let i = 0; i < k; i++) {
    const m = await c.next({ expires: 5000 });
    if (!m) throw new Error(`queue empty after ${i} of ${k}`);
    await m.ackAck();
  }
}

/** Record a one-sample result for each task: the sweep's tasks become done. */
async function finishTasks(spec: ReturnType<typeof tinySweep>): Promise<void> {
  for (const t of planSweep(spec).tasks) {
    await store.tasks.markRunning(t.key, 'test-agent');
    const now = new Date().toISOString();
    const r: TaskResult = {
      taskKey: t.key,
      attempt: 1,
      agent: 'test-agent',
      backend: 'cpu',
      device: 'test',
      startedAt: now,
      finishedAt: now,
      samples: t.sampleIndices.map((i) => ({ datasetIndex: i, label: 1, cleanPred: 1, advPred: 1, success: false, l0: 0, l1: 0, l2: 0, linf: 0, pertIndices: [], pertValues: [] })),
      batches: [{ batchIndex: 0, size: t.sampleIndices.length, seconds: 0.01, forwards: 1, backwards: 0, peakBytesLogical: 1, peakBytesDevice: null }],
    };
    await store.results.record(r);
  }
}

const jobOptions = (over: Partial<JobOptions> = {}): JobOptions => ({
  sweepId: 'mnist-paper-0123456789',
  namespace: 'sweeps',
  image: 'registry.example/sigma-sweep-agent:0.1.0',
  imagePullPolicy: 'IfNotPresent',
  parallelism: 3,
  natsNs: 'sigma',
  gpu: true,
  gpuProducts: [],
  minComputeMajor: 8,
  cpu: '4',
  memory: '16Gi',
  slots: 1,
  backend: 'tensorflow',
  idleSeconds: 60,
  drainSeconds: 30,
  backoffLimit: 6,
  activeDeadlineSeconds: 3600,
  ttlSecondsAfterFinished: 600,
  natsSecret: { name: 'sigma-sweep-nats', key: 'url' },
  natsCredentialKeys: { user: 'user', password: 'password', token: 'token' },
  ...over,
});

describe('the Job spec (pure)', () => {
  it('GPU Job: limit, affinity (compute capability ≥ 8 by default), toleration, failure policy, no completions', () => {
    const job = buildJob(jobOptions());
    new Job(job as ConstructorParameters<typeof Job>[0]).validate(); // the batch/v1 schema (throws naming the field)
    const spec = job.spec!;
    const pod = spec.template.spec!;
    expect(spec.parallelism).toBe(3);
    expect(spec.completions).toBeUndefined();
    expect(spec.suspend).toBeUndefined();
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.containers[0].resources).toEqual({ requests: { cpu: '4', memory: '16Gi' }, limits: { memory: '16Gi', 'nvidia.com/gpu': '1' } });
    expect(pod.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms).toEqual([
      { matchExpressions: [{ key: 'nvidia.com/gpu.compute.major', operator: 'Gt', values: ['7'] }] },
    ]);
    expect(pod.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(spec.podFailurePolicy!.rules).toEqual([
      { action: 'FailJob', onExitCodes: { containerName: 'agent', operator: 'In', values: [2] } },
      { action: 'Ignore', onExitCodes: { containerName: 'agent', operator: 'In', values: [143] } },
      { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
    ]);
    expect(pod.containers[0].args).toEqual(['agent', '--exit-when-idle', '60', '--slots', '1', '--backend', 'tensorflow', '--drain-timeout', '30']);
    expect(pod.terminationGracePeriodSeconds).toBe(45);
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it('CPU Job: no GPU limit, affinity, tolerations or CUDA settings; Kueue: label and suspended', () => {
    const job = buildJob(jobOptions({ gpu: false, cpu: '2', memory: '4Gi', backend: 'wasm', queue: 'gpu-queue' }));
    new Job(job as ConstructorParameters<typeof Job>[0]).validate();
    const pod = job.spec!.template.spec!;
    expect(pod.containers[0].resources!.limits).toEqual({ memory: '4Gi' });
    expect(pod.affinity).toBeUndefined();
    expect(pod.tolerations).toBeUndefined();
    expect(pod.containers[0].env!.map((e) => e.name)).not.toContain('CUDA_CACHE_PATH');
    expect(job.metadata!.labels!['kueue.x-k8s.io/queue-name']).toBe('gpu-queue');
    expect(job.spec!.suspend).toBe(true);
  });

  it('names and labels fit Kubernetes limits for any sweep id', () => {
    const long = `${'a'.repeat(80)}-0123456789`;
    expect(jobName('mnist-paper-0123456789')).toBe('sigma-sweep-mnist-paper-0123456789');
    for (const id of [long, 'Mixed.Case_name-0123456789', 'x-0123456789']) {
      expect(jobName(id)).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      expect(jobName(id).length).toBeLessThanOrEqual(63);
      expect(sweepLabelValue(id)).toMatch(/^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/);
      expect(sweepLabelValue(id).length).toBeLessThanOrEqual(63);
    }
    expect(jobName('Mixed.Case_name-0123456789')).not.toBe(jobName('mixed-case-name-0123456789'));
    expect(sweepLabelValue(long)).not.toBe(sweepLabelValue(`${'a'.repeat(80)}-9999999999`));
  });

  it('agents wanted: one per tasks-per-agent queued tasks, capped, never 0 before the end', () => {
    const p = { maxAgents: 4, tasksPerAgent: 2 };
    expect([0, 1, 2, 3, 4, 5, 8, 9, 100].map((r) => desiredAgents(r, p))).toEqual([1, 1, 1, 2, 2, 3, 4, 4, 4]);
  });

  it('a pod as status shows it', () => {
    expect(podView(fakePod('p1', 'ns', {}, 'Failed', { exitCode: 137, reason: 'OOMKilled', node: 'n1', restarts: 0 }))).toEqual({
      name: 'p1',
      phase: 'Failed',
      restarts: 0,
      node: 'n1',
      reason: 'OOMKilled',
      exitCode: 137,
    });
  });
});

describe('API refusals (pure): exit code and message', () => {
  const op = { verb: 'create', resource: 'jobs', group: 'batch', namespace: 'sweeps', name: 'sigma-sweep-x', sweep: 'x' };
  const who = { server: 'https://k8s.example:6443', context: 'prod', user: 'alice' };
  const apiException = (code: number, body?: object) => Object.assign(new Error(`HTTP-Code: ${code}`), { code, body: body === undefined ? undefined : JSON.stringify(body) });

  it('401: exit 3, names the user and the context', () => {
    const e = kubeError(apiException(401), op, who);
    expect(e.exitCode).toBe(3);
    expect(e.message).toContain('user "alice" (kubeconfig context "prod")');
  });

  it('403: exit 3, the verb, resource, group and namespace of the Status message', () => {
    const body = { kind: 'Status', code: 403, message: 'pods is forbidden: User "system:serviceaccount:sweeps:launcher" cannot watch resource "pods" in API group "" in the namespace "sweeps"' };
    expect(forbiddenPermission(body, op)).toEqual({ user: 'system:serviceaccount:sweeps:launcher', verb: 'watch', resource: 'pods', group: '', namespace: 'sweeps' });
    const e = kubeError(apiException(403, body), op, who);
    expect(e.exitCode).toBe(3);
    expect(e.message).toContain('may not watch pods in the core API group in namespace "sweeps"');
  });

  it('404 on create: exit 2 about the namespace; 422: exit 2 with each invalid field', () => {
    expect(kubeError(apiException(404, { message: 'namespaces "nope" not found' }), { ...op, namespace: 'nope' }, who).exitCode).toBe(2);
    const e = kubeError(apiException(422, { message: 'invalid', details: { causes: [{ field: 'spec.template.spec.containers[0].resources.limits', message: 'Invalid value: "x"' }] } }), op, who);
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain('spec.template.spec.containers[0].resources.limits: Invalid value: "x"');
  });

  it('a connection error: exit 1 naming the server', () => {
    const e = kubeError(new Error('connect ECONNREFUSED 10.0.0.1:6443'), op, who);
    expect(e).toBeInstanceOf(KubeApiError);
    expect(e.exitCode).toBe(1);
    expect(e.message).toContain('https://k8s.example:6443');
  });
});

describe('launch against the fake API server (real NATS and PostgreSQL)', () => {
  const spec = tinySweep('launchk8s', 12, 1, { attacks: ['noop'] });
  let sweepId: string;

  it('posts the Job, scales it down as the queue drains, shows pods in status across a dropped watch, deletes it at the end', async () => {
    const sub = await submitSweep(spec, store, nc, n, { tuning: tuningFor(20_000) });
    sweepId = sub.sweepId;
    expect(sub.published).toBe(12);
    const f = await fake();
    const name = jobName(sweepId);
    const run = launch(f, sweepId, ['--max-agents', '4', '--tasks-per-agent', '2', '--gpu-products', 'NVIDIA-A100-SXM4-40GB,NVIDIA-A100-SXM4-80GB', '--db-secret', 'sigma-sweep-db']);

    // the Job: 12 queued tasks / 2 per agent, capped at 4
    const job = await until('the Job', () => f.jobs.get(`sweeps/${name}`));
    const posted = f.requests.find((r) => r.method === 'POST')!;
    expect(posted.path).toBe('/apis/batch/v1/namespaces/sweeps/jobs'); // the kubeconfig context's namespace
    const body = posted.body as any;
    if (process.env.SIGMA_SWEEP_DUMP_JOB) writeFileSync(process.env.SIGMA_SWEEP_DUMP_JOB, stringify(body));
    new Job(body).validate(); // what went over the wire is a valid batch/v1 Job
    expect(body.spec.parallelism).toBe(4);
    expect(body.spec.completions).toBeUndefined();
    expect(body.metadata.labels[SWEEP_LABEL]).toBe(sweepId);
    expect(body.metadata.annotations[SWEEP_ANNOTATION]).toBe(sweepId);
    expect(body.spec.template.metadata.labels[SWEEP_LABEL]).toBe(sweepId);
    const pod = body.spec.template.spec;
    expect(pod.containers[0].image).toBe('registry.example/sigma-sweep-agent:0.1.0');
    expect(pod.containers[0].resources.limits['nvidia.com/gpu']).toBe('1');
    expect(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions).toEqual([
      { key: 'nvidia.com/gpu.product', operator: 'In', values: ['NVIDIA-A100-SXM4-40GB', 'NVIDIA-A100-SXM4-80GB'] },
    ]);
    expect(pod.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(body.spec.podFailurePolicy.rules.map((r: any) => r.action)).toEqual(['FailJob', 'Ignore', 'Ignore']);
    const env = Object.fromEntries(pod.containers[0].env.map((e: any) => [e.name, e]));
    expect(env.NATS_URL.valueFrom.secretKeyRef).toEqual({ name: 'sigma-sweep-nats', key: 'url' });
    expect(env.NATS_PASSWORD.valueFrom.secretKeyRef).toEqual({ name: 'sigma-sweep-nats', key: 'password', optional: true });
    expect(env.DATABASE_URL.valueFrom.secretKeyRef).toEqual({ name: 'sigma-sweep-db', key: 'url' });
    expect(env.SIGMA_SWEEP_NS.value).toBe(ns);
    // no secret value anywhere: the launcher knows both URLs, the Job carries neither
    for (const e of pod.containers[0].env) if (/URL|USER|PASSWORD|TOKEN/.test(e.name)) expect(e.value).toBeUndefined();
    const text = JSON.stringify(body);
    expect(text).not.toContain(db.url);
    expect(text).not.toContain(SHARED_NATS);
    expect(job.spec.parallelism).toBe(4);

    // pods appear through the watch and reach status
    await until('the pod watch', () => f.openWatches() > 0);
    const labels = { [SWEEP_LABEL]: sweepLabelValue(sweepId) };
    expect(f.requests.find((r) => r.query.watch === 'true')!.query.labelSelector).toBe(podSelector(sweepId));
    f.emitPod('ADDED', fakePod(`${name}-aaaaa`, 'sweeps', labels, 'Pending'));
    f.emitPod('MODIFIED', fakePod(`${name}-aaaaa`, 'sweeps', labels, 'Running', { node: 'gpu-node-1' }));
    f.emitPod('ADDED', fakePod(`${name}-bbbbb`, 'sweeps', labels, 'Running', { node: 'gpu-node-2', restarts: 2 }));
    f.emitPod('ADDED', fakePod('someone-else', 'sweeps', { app: 'other' }, 'Running')); // not ours: the server filters it out
    const st1 = await until('pods in status', async () => {
      const s = await status(sweepId);
      return s.includes(`${name}-bbbbb Running restarts=2`) ? s : null;
    });
    expect(st1).toContain(`launched: Job sweeps/${name}, 4 agent(s) wanted`);
    expect(st1).toContain(`  ${name}-aaaaa Running restarts=0 node=gpu-node-1`);
    expect(st1).toContain(`  ${name}-bbbbb Running restarts=2 node=gpu-node-2`);
    expect(st1).not.toContain('someone-else');

    // 8 tasks done: 4 left → 2 agents, by a merge patch of spec.parallelism only (a check
    // landing mid-drain may see 5 or 6 left and patch 3 first)
    await drainQueue(8);
    await until('the scale-down to 2', () => f.requests.some((r) => r.method === 'PATCH' && (r.body as any).spec.parallelism === 2));
    for (const patch of f.requests.filter((r) => r.method === 'PATCH')) {
      expect(patch.path).toBe(`/apis/batch/v1/namespaces/sweeps/jobs/${name}`);
      expect(patch.contentType).toBe('application/merge-patch+json');
      expect(Object.keys(patch.body as object)).toEqual(['spec']);
      expect(Object.keys((patch.body as any).spec)).toEqual(['parallelism']);
    }

    // the server drops the watch: the launcher watches again from the last resourceVersion it saw
    const lastRv = f.emitPod('MODIFIED', fakePod(`${name}-aaaaa`, 'sweeps', labels, 'Running', { node: 'gpu-node-1', restarts: 1 }));
    await until('the last event seen', async () => (await status(sweepId)).includes(`${name}-aaaaa Running restarts=1`));
    const watchesBefore = f.requests.filter((r) => r.query.watch === 'true').length;
    f.dropWatches();
    const rewatch = await until('a new watch', () => f.requests.filter((r) => r.query.watch === 'true')[watchesBefore]);
    expect(rewatch.query.resourceVersion).toBe(lastRv);
    await until('the new watch open', () => f.openWatches() > 0);
    f.emitPod('MODIFIED', fakePod(`${name}-bbbbb`, 'sweeps', labels, 'Failed', { node: 'gpu-node-2', restarts: 2, exitCode: 1 }));
    const st2 = await until('the event after the reconnect', async () => {
      const s = await status(sweepId);
      return s.includes(`${name}-bbbbb Failed`) ? s : null;
    });
    expect(st2).toContain(`  ${name}-bbbbb Failed restarts=2 node=gpu-node-2 Error exit=1`);

    // 410 Gone (events were compacted away): list again, then watch from the list's resourceVersion
    expect(f.listed).toHaveLength(1);
    f.expireWatches();
    f.emitPod('DELETED', fakePod(`${name}-aaaaa`, 'sweeps', labels, 'Running')); // while no watch is open: only a list can tell
    await until('a new list', () => f.listed.length === 2);
    await until('a watch from the new list', () => f.requests.filter((r) => r.query.watch === 'true').at(-1)?.query.resourceVersion === f.listed[1]);
    await until('the deletion in status', async () => !(await status(sweepId)).includes(`${name}-aaaaa`));

    // the queue empties (one agent stays until the sweep is done), then the sweep is done: delete
    await drainQueue(4);
    await until('the scale-down to 1', () => f.requests.some((r) => r.method === 'PATCH' && (r.body as any).spec.parallelism === 1));
    await finishTasks(spec);
    const code = await run.done;
    expect(code).toBe(0);
    expect(run.out.join('')).toBe(`sweeps/${name}\n`);
    const del = f.requests.filter((r) => r.method === 'DELETE');
    expect(del).toHaveLength(1);
    expect(del[0].path).toBe(`/apis/batch/v1/namespaces/sweeps/jobs/${name}`);
    expect(del[0].query.propagationPolicy).toBe('Background');
    expect(f.jobs.size).toBe(0);
    // parallelism only ever went down as the queue drained, to one agent before the end
    const steps = f.requests.filter((r) => r.method === 'PATCH').map((r) => (r.body as any).spec.parallelism as number);
    expect(steps).toEqual([...steps].sort((a, b) => b - a));
    expect(new Set(steps)).toEqual(new Set([...(steps.includes(3) ? [3] : []), 2, 1]));
    const st3 = await status(sweepId);
    expect(st3).toMatch(new RegExp(`launched: Job sweeps/${name}, 1 agent\\(s\\) wanted.*; done, updated`));
    expect(st3).toContain('sweep done; Job deleted');
  });

  it('a finished sweep launches nothing', async () => {
    const f = await fake();
    const r = await cli(['launch', '--sweep', sweepId, '--kubeconfig', f.kubeconfig, '--image', 'x', '--db', db.url, '--nats', SHARED_NATS, '--ns', ns]);
    expect(r.code).toBe(0);
    expect(r.err).toContain('is done');
    expect(f.requests).toEqual([]);
  });
});

describe('launch: refusals from the fake API server', () => {
  const spec = tinySweep('launchk8s-refused', 3, 1, { attacks: ['noop'] });
  let sweepId: string;
  const args = (f: FakeKubeApi, extra: string[] = []) => ['launch', '--sweep', sweepId, '--kubeconfig', f.kubeconfig, '--image', 'x:1', '--db', db.url, '--nats', SHARED_NATS, '--ns', ns, '--interval', '0.1', ...extra];

  beforeAll(async () => {
    sweepId = (await submitSweep(spec, store, nc, n, { tuning: tuningFor(20_000) })).sweepId;
  });

  it('bad cluster flags: exit 2 naming the flag, before the database or NATS is opened', async () => {
    const f = await fake();
    const bad = [
      [['--kubeconfig', '/nonexistent/kubeconfig'], /--kubeconfig: cannot load \/nonexistent\/kubeconfig/],
      [['--kubeconfig', f.kubeconfig, '--context', 'prod'], /--context: no context 'prod' in the kubeconfig \(have: fake\)/],
      [['--kubeconfig', f.kubeconfig, '--cpu', '4 cores'], /--cpu: '4 cores' is not a positive Kubernetes quantity/],
      [['--kubeconfig', f.kubeconfig, '--gpu-products', 'A100 40GB'], /--gpu-products: 'A100 40GB' is not a node label value/],
      [['--kubeconfig', f.kubeconfig, '--namespace', 'Team_A'], /--namespace: 'Team_A' is not a valid name/],
    ] as const;
    for (const [flags, message] of bad) {
      const r = await cli(['launch', '--sweep', 'x', '--image', 'x:1', '--db', 'postgres://nobody@127.0.0.1:1/none', '--nats', 'nats://127.0.0.1:1', ...flags]);
      expect(r.code, r.err).toBe(2);
      expect(r.err).toMatch(message);
    }
    const noImage = await cli(['launch', '--sweep', 'x', '--kubeconfig', f.kubeconfig]);
    expect(noImage.code).toBe(2);
    expect(noImage.err).toContain('--image: required for a Kubernetes Job');
    expect(f.requests).toEqual([]);
  });

  it('403 on the pod list: exit 3 naming list pods in the namespace, nothing created', async () => {
    const f = await fake();
    f.forbid('list', 'pods');
    const r = await cli(args(f));
    expect(r.code).toBe(3);
    expect(r.err).toContain('forbidden: "system:serviceaccount:sweeps:launcher" may not list pods in the core API group in namespace "sweeps"');
    expect(f.requests.filter((q) => q.method !== 'GET')).toEqual([]);
  });

  it('403 on create: exit 3 naming create jobs in API group batch in the namespace', async () => {
    const f = await fake();
    f.forbid('create', 'jobs');
    const r = await cli(args(f, ['--namespace', 'team-a']));
    expect(r.code).toBe(3);
    expect(r.err).toContain('may not create jobs in API group "batch" in namespace "team-a"');
    expect(r.err).toContain('verbs: ["create"]');
    expect(f.jobs.size).toBe(0);
  });

  it('409: exit 4 with how to adopt or delete; --adopt takes the Job over, scales and deletes it', async () => {
    const f = await fake();
    const name = jobName(sweepId);
    // a Job left by an earlier launcher
    const earlier = buildJob(jobOptions({ sweepId, parallelism: 3, natsNs: ns }));
    f.jobs.set(`sweeps/${name}`, { ...earlier, metadata: { ...earlier.metadata, uid: 'u1', resourceVersion: '5' }, status: { active: 3 } });
    const r = await cli(args(f));
    expect(r.code).toBe(4);
    expect(r.err).toContain(`jobs.batch "${name}" already exists`);
    expect(r.err).toContain(`sigma-sweep launch --sweep ${sweepId} --namespace sweeps --adopt`);
    expect(r.err).toContain(`kubectl delete job ${name} -n sweeps`);
    // refused launches (403 above, 409 here) leave no launch record that would hide the Job's own
    expect(await readLaunch(nc, n, sweepId)).toBeNull();

    const before = f.requests.length;
    const run = launch(f, sweepId, ['--adopt', '--tasks-per-agent', '1']);
    // adopted (read, not created) and watching its pods; 3 queued, 1 per agent: stays at 3
    await until('the adoption', () => f.requests.slice(before).some((q) => q.method === 'GET' && q.path.endsWith(`/jobs/${name}`)) && f.openWatches() > 0);
    await drainQueue(3);
    await until('the scale-down to 1', () => f.requests.some((q) => q.method === 'PATCH' && (q.body as any).spec.parallelism === 1));
    await finishTasks(spec);
    expect(await run.done).toBe(0);
    expect(f.requests.slice(before).filter((q) => q.method === 'POST')).toEqual([]);
    expect(f.jobs.size).toBe(0);
  });
});
