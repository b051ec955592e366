/**
 * `sigma-sweep launch`: start the agents of a submitted sweep and stop them when it is done.
 * On Kubernetes (default): one Job per sweep, scaled with the queue depth, pods watched for
 * `status`, deleted at the end (orchestrator/k8s/). With `--local N`: N agent processes on this
 * machine (orchestrator/local-agents.ts). The Kubernetes client is imported only when used.
 */
import os from 'node:os';
import { Option, type Command } from 'commander';
import { names } from '../../protocol/names.ts';
import { orchestrate } from '../orchestrate.ts';
import { launchReadiness } from '../launch-progress.ts';
import {
  natsOptions,
  natsSettings,
  nonEmpty,
  positiveInteger,
  positiveNumber,
  resolveSweepId,
  storeOptions,
  UsageError,
  withNats,
  withStore,
  type CommandContext,
  type NatsFlags,
  type StoreFlags,
} from './options.ts';

interface LaunchFlags extends StoreFlags, NatsFlags {
  sweep?: string;
  local?: number;
  slots?: number;
  backend?: string;
  idle: number;
  drainTimeout: number;
  interval: number;
  orchestrate?: boolean;
  // Kubernetes
  image?: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  namespace?: string;
  kubeconfig?: string;
  context?: string;
  maxAgents: number;
  tasksPerAgent: number;
  cpu?: string;
  memory?: string;
  cpuOnly: boolean;
  gpuProducts?: string[];
  gpuComputeMajor: number;
  queue?: string;
  natsSecret: string;
  dbSecret?: string;
  backoffLimit: number;
  activeDeadline: number;
  ttl: number;
  cudaCachePvc?: string;
  keep: boolean;
  adopt: boolean;
}

/** Flags that only mean something for a Kubernetes Job (refused with --local rather than ignored). */
const CLUSTER_ONLY = [
  'image',
  'imagePullPolicy',
  'namespace',
  'kubeconfig',
  'context',
  'maxAgents',
  'tasksPerAgent',
  'cpu',
  'memory',
  'cpuOnly',
  'gpuProducts',
  'gpuComputeMajor',
  'queue',
  'natsSecret',
  'dbSecret',
  'backoffLimit',
  'activeDeadline',
  'ttl',
  'cudaCachePvc',
  'keep',
  'adopt',
] as const;

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** A Kubernetes resource quantity (`4`, `500m`, `16Gi`, `1e3`). */
function quantity(flag: string) {
  return (v: string) => {
    if (!/^(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$/.test(v) || Number.parseFloat(v) <= 0) {
      throw new UsageError(`${flag}: '${v}' is not a positive Kubernetes quantity (e.g. 4, 500m, 16Gi)`);
    }
    return v;
  };
}

/** A DNS-1123 label: namespaces, secret and claim names, Kueue queue names. */
function dnsLabel(flag: string, max = 63) {
  return (v: string) => {
    if (v.length > max || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(v)) throw new UsageError(`${flag}: '${v}' is not a valid name (lower-case letters, digits and '-', at most ${max} characters)`);
    return v;
  };
}

function gpuProductList(v: string): string[] {
  const list = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!list.length) throw new UsageError('--gpu-products: empty list');
  for (const p of list) {
    if (p.length > 63 || !/^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(p)) throw new UsageError(`--gpu-products: '${p}' is not a node label value (as in nvidia.com/gpu.product=NVIDIA-A100-SXM4-40GB)`);
  }
  return list;
}

/** Whole cores in a CPU quantity (`500m` → 0.5, `2` → 2): the default slot count of a CPU Job. */
export function cpuCores(q: string): number {
  return q.endsWith('m') ? Number.parseFloat(q) / 1000 : Number.parseFloat(q);
}

function nonNegativeInteger(flag: string) {
  return (v: string) => {
    const n = Number(v);
    if (!/^\s*\+?\d+\s*$/.test(v) || !Number.isSafeInteger(n)) throw new UsageError(`${flag}: '${v}' is not a whole number ≥ 0`);
    return n;
  };
}

export function launchCommand(program: Command, { out, log }: CommandContext): void {
  const cmd = program
    .command('launch')
    .description(
      'Start the agents of a submitted sweep and stop them when it is done: a Kubernetes Job scaled with the queue depth (default), or --local N processes on this machine. ' +
        'Exit codes: 0 done, 1 failure (also: dead tasks, failed agents), 2 bad input (flags, a missing namespace, a Job the API server calls invalid, an agent exiting 2), ' +
        '3 not allowed (401/403: the message names the missing permission), 4 a Job for this sweep exists already (409), 130/143 stopped by SIGINT/SIGTERM.',
    )
    .option('--sweep <id>', 'sweep id or name (default: the latest sweep)', nonEmpty('--sweep'))
    .addOption(new Option('--local <n>', 'run n agent processes on this machine instead of a Kubernetes Job').argParser(positiveInteger('--local')))
    .addOption(new Option('--slots <n>', 'tensor worker threads per agent (default: 1 per GPU agent; CPU Job: its --cpu; --local: cores / n)').argParser(positiveInteger('--slots')))
    .addOption(new Option('--backend <name>', 'agents\' tensor backend (default: tensorflow on GPUs, wasm for a CPU Job, auto with --local)').choices(['auto', 'tensorflow', 'wasm', 'cpu']))
    .addOption(new Option('--idle <seconds>', 'agents exit once the task queue stayed empty this long (agent --exit-when-idle)').default(60).argParser(positiveNumber('--idle')))
    .addOption(new Option('--drain-timeout <seconds>', 'a stopped agent\'s time to finish its task before handing it back').default(30).argParser(positiveNumber('--drain-timeout')))
    .addOption(new Option('--interval <seconds>', 'how often to check progress and rescale').default(10).argParser(positiveNumber('--interval')))
    .option('--orchestrate', 'also ingest results and re-publish stragglers in this process (default with --local)')
    .option('--no-orchestrate', 'leave ingestion to a running `sigma-sweep orchestrate` (default for a Job: the orchestrator Deployment does it)')
    // Kubernetes
    .addOption(new Option('--image <ref>', 'Kubernetes: the agent image (entrypoint `sigma-sweep`)').env('SIGMA_SWEEP_IMAGE'))
    .addOption(new Option('--image-pull-policy <policy>', 'Kubernetes: image pull policy').choices(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'))
    .addOption(new Option('--namespace <ns>', 'Kubernetes: namespace of the Job (default: the kubeconfig context\'s, else "default")').argParser(dnsLabel('--namespace')))
    .option('--kubeconfig <file>', 'Kubernetes: kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or the pod\'s service account)')
    .option('--context <name>', 'Kubernetes: kubeconfig context (default: the current one)')
    .addOption(new Option('--max-agents <n>', 'Kubernetes: most agents (pods) at once').default(8).argParser(positiveInteger('--max-agents')))
    .addOption(new Option('--tasks-per-agent <n>', 'Kubernetes: agents = min(max-agents, ceil(tasks in the queue / n)), rechecked every --interval').default(4).argParser(positiveInteger('--tasks-per-agent')))
    .addOption(new Option('--cpu <quantity>', 'Kubernetes: CPU request per agent (default 4 with a GPU, else 2)').argParser(quantity('--cpu')))
    .addOption(new Option('--memory <quantity>', 'Kubernetes: memory request and limit per agent (default 16Gi with a GPU, else 4Gi)').argParser(quantity('--memory')))
    .option('--cpu-only', 'Kubernetes: no GPU (wasm agents): no nvidia.com/gpu limit, GPU affinity or tolerations', false)
    .addOption(new Option('--gpu-products <list>', 'Kubernetes: run only on these nvidia.com/gpu.product values (comma-separated, e.g. NVIDIA-A100-SXM4-40GB)').argParser(gpuProductList))
    .addOption(new Option('--gpu-compute-major <n>', 'Kubernetes: without --gpu-products, nodes whose nvidia.com/gpu.compute.major ≥ n').default(8).argParser(positiveInteger('--gpu-compute-major')))
    .addOption(new Option('--queue <name>', 'Kubernetes: Kueue LocalQueue; the Job is created suspended for Kueue to admit, and not rescaled').argParser(nonEmpty('--queue')))
    .addOption(new Option('--nats-secret <name>', 'Kubernetes: Secret with key `url` (NATS_URL) and optional `user`, `password`, `token`').default('sigma-sweep-nats').argParser(dnsLabel('--nats-secret', 253)))
    .addOption(new Option('--db-secret <name>', 'Kubernetes: Secret with key `url` to give the agents DATABASE_URL (they do not use it: off by default)').argParser(dnsLabel('--db-secret', 253)))
    .addOption(new Option('--backoff-limit <n>', 'Kubernetes: failed pods (other than preempted or drained ones) before the Job fails').default(6).argParser(nonNegativeInteger('--backoff-limit')))
    .addOption(new Option('--active-deadline <seconds>', 'Kubernetes: the Job\'s longest life').default(3 * 24 * 3600).argParser(positiveInteger('--active-deadline')))
    .addOption(new Option('--ttl <seconds>', 'Kubernetes: how long a finished Job is kept (ttlSecondsAfterFinished) if the launcher does not delete it').default(24 * 3600).argParser(nonNegativeInteger('--ttl')))
    .addOption(new Option('--cuda-cache-pvc <claim>', 'Kubernetes: PersistentVolumeClaim for the CUDA JIT cache (default: an emptyDir)').argParser(dnsLabel('--cuda-cache-pvc', 253)))
    .option('--keep', 'Kubernetes: keep the Job when the sweep is done', false)
    .option('--adopt', 'Kubernetes: take over this sweep\'s existing Job (after the launcher was stopped) instead of failing with 409', false);
  natsOptions(storeOptions(cmd)).action(async (flags: LaunchFlags) => {
    const local = flags.local !== undefined;
    if (local) {
      const given = CLUSTER_ONLY.filter((k) => cmd.getOptionValueSource(k) === 'cli');
      if (given.length) throw new UsageError(`--local runs agents on this machine: ${given.map((k) => `--${kebab(k)}`).join(', ')} only apply to a Kubernetes Job`);
    } else if (!flags.image) {
      throw new UsageError('--image: required for a Kubernetes Job (or $SIGMA_SWEEP_IMAGE); use --local N to run agents on this machine');
    }
    // the kubeconfig is checked before anything else is opened
    const k8s = local ? null : await import('../k8s/client.ts');
    const kc = k8s ? k8s.loadKubeConfig(flags) : null;
    const settings = natsSettings(flags);
    const n = names(flags.ns);

    await withStore(flags, log(), (store) =>
      withNats(settings, async (nc) => {
        const sweepId = await resolveSweepId(store, flags.sweep);
        const ready = await launchReadiness(store, nc, n, sweepId);
        if (!ready.run) {
          log().info(ready.why);
          return;
        }
        const stop = new AbortController();
        const onSigint = () => stop.abort('SIGINT');
        const onSigterm = () => stop.abort('SIGTERM');
        process.once('SIGINT', onSigint);
        process.once('SIGTERM', onSigterm);
        const ingest = new AbortController();
        const orchestrating = (flags.orchestrate ?? local) ? orchestrate(nc, n, store, { sweepId, log: log(), signal: ingest.signal }) : null;
        try {
          if (local) {
            const { launchLocal } = await import('../local-agents.ts');
            const count = flags.local!;
            const env: Record<string, string> = { NATS_URL: settings.servers, SIGMA_SWEEP_NS: n.ns };
            for (const [k, v] of [
              ['NATS_USER', settings.user],
              ['NATS_PASSWORD', settings.pass],
              ['NATS_TOKEN', settings.token],
              ['NATS_TLS_CA', settings.tlsCa],
              ['NATS_TLS_CERT', settings.tlsCert],
              ['NATS_TLS_KEY', settings.tlsKey],
            ] as const) {
              if (v) env[k] = v;
            }
            const host = os.hostname().replace(/[^A-Za-z0-9_-]/g, '_');
            await launchLocal(
              { store, nc, n, log: log() },
              {
                sweepId,
                intervalMs: Math.min(flags.interval, 1) * 1000, // local checks are cheap
                signal: stop.signal,
                agents: {
                  count,
                  slots: flags.slots ?? Math.max(1, Math.floor(os.availableParallelism() / count)),
                  backend: flags.backend ?? 'auto',
                  idleSeconds: flags.idle,
                  drainSeconds: flags.drainTimeout,
                  idOf: (i) => `${host}-L${process.pid}-${i}`,
                  env,
                  logFormat: program.opts().logFormat === 'json' ? 'json' : 'text',
                },
              },
            );
          } else {
            const { KubeClient } = k8s!;
            const { launchJob } = await import('../k8s/launch-job.ts');
            const client = new KubeClient(kc!);
            const gpu = !flags.cpuOnly;
            const cpu = flags.cpu ?? (gpu ? '4' : '2');
            const namespace = flags.namespace ?? kc!.getContextObject(kc!.getCurrentContext())?.namespace ?? 'default';
            await launchJob(
              { client, store, nc, n, log: log(), out },
              {
                queued: ready.queued,
                maxAgents: flags.maxAgents,
                tasksPerAgent: flags.tasksPerAgent,
                intervalMs: flags.interval * 1000,
                keep: flags.keep,
                adopt: flags.adopt,
                signal: stop.signal,
                job: {
                  sweepId,
                  namespace,
                  image: flags.image!,
                  imagePullPolicy: flags.imagePullPolicy,
                  natsNs: n.ns,
                  gpu,
                  gpuProducts: flags.gpuProducts ?? [],
                  minComputeMajor: flags.gpuComputeMajor,
                  cpu,
                  memory: flags.memory ?? (gpu ? '16Gi' : '4Gi'),
                  slots: flags.slots ?? (gpu ? 1 : Math.max(1, Math.floor(cpuCores(cpu)))),
                  backend: flags.backend ?? (gpu ? 'tensorflow' : 'wasm'),
                  idleSeconds: flags.idle,
                  drainSeconds: flags.drainTimeout,
                  backoffLimit: flags.backoffLimit,
                  activeDeadlineSeconds: flags.activeDeadline,
                  ttlSecondsAfterFinished: flags.ttl,
                  queue: flags.queue,
                  natsSecret: { name: flags.natsSecret, key: 'url' },
                  natsCredentialKeys: { user: 'user', password: 'password', token: 'token' },
                  dbSecret: flags.dbSecret ? { name: flags.dbSecret, key: 'url' } : undefined,
                  cudaCachePvc: flags.cudaCachePvc,
                },
              },
            );
          }
        } finally {
          process.off('SIGINT', onSigint);
          process.off('SIGTERM', onSigterm);
          ingest.abort();
          await orchestrating;
        }
      }),
    );
  });
}
