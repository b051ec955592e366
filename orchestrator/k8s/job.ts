/**
 * The Kubernetes Job of one sweep's agents, as a pure function of the launch options (no API
 * calls, so the spec is checked field by field in tests). The work-queue pattern: `parallelism`
 * agents pull from the JetStream queue, `completions` stays unset, and each agent exits 0 only
 * when the queue is empty (`agent --exit-when-idle`), which is how the Job knows it is finished.
 *
 * Pod failures are sorted by podFailurePolicy, first match wins:
 * - exit 2 (bad input: flags, backend, configuration) fails the Job at once: every replacement
 *   would fail the same way, so retrying only burns GPU hours;
 * - exit 143 (the agent drained after SIGTERM: a scale-down, a preemption, a node drain) is
 *   ignored: not a failure, and not a success either (a Job stops creating pods after the first
 *   success, so a drained agent must not exit 0);
 * - a pod with the DisruptionTarget condition (preempted, evicted, node gone) is ignored;
 * - anything else counts against backoffLimit.
 * Secrets reach the pods only as secretKeyRef: the Job holds names, never values.
 */
import { createHash } from 'node:crypto';
import type { V1EnvVar, V1Job, V1NodeSelectorRequirement, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { EXIT } from '../exit-code.ts';

/** Label on the Job and its pods naming the sweep (selector of the pod watch). */
export const SWEEP_LABEL = 'sigma-sweep/sweep';
/** Annotation with the full sweep id (a label value is cut at 63 characters). */
export const SWEEP_ANNOTATION = 'sigma-sweep/sweep-id';
export const NATS_NS_ANNOTATION = 'sigma-sweep/nats-namespace';
export const KUEUE_QUEUE_LABEL = 'kueue.x-k8s.io/queue-name';
export const GPU_RESOURCE = 'nvidia.com/gpu';
export const GPU_PRODUCT_LABEL = 'nvidia.com/gpu.product';
export const GPU_COMPUTE_MAJOR_LABEL = 'nvidia.com/gpu.compute.major';
export const CONTAINER = 'agent';
/** Where the CUDA JIT cache lives in the pod (PTX compiled on first start on A100 is kept there). */
export const CUDA_CACHE_DIR = '/var/cache/cuda';

export interface SecretRef {
  name: string;
  key: string;
}

export interface JobOptions {
  sweepId: string;
  namespace: string;
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  parallelism: number;
  /** the --ns of the JetStream streams (SIGMA_SWEEP_NS in the pods) */
  natsNs: string;
  /** one nvidia.com/gpu per agent, GPU node affinity and tolerations; false: a CPU (wasm) Job */
  gpu: boolean;
  /** nvidia.com/gpu.product values to run on; empty: any GPU of compute capability ≥ minComputeMajor */
  gpuProducts: string[];
  minComputeMajor: number;
  /** resource quantities, requested (and memory also as the limit) */
  cpu: string;
  memory: string;
  slots: number;
  backend: string;
  idleSeconds: number;
  drainSeconds: number;
  backoffLimit: number;
  activeDeadlineSeconds: number;
  ttlSecondsAfterFinished: number;
  /** Kueue LocalQueue: label the Job and create it suspended (Kueue unsuspends it on admission) */
  queue?: string;
  natsSecret: SecretRef;
  /** keys of the NATS secret read when present: user, password, token */
  natsCredentialKeys: { user: string; password: string; token: string };
  /** DATABASE_URL for the pods; agents never open the database, so only on request */
  dbSecret?: SecretRef;
  /** a PersistentVolumeClaim for the CUDA JIT cache (else an emptyDir) */
  cudaCachePvc?: string;
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** A label value for the sweep id: itself when it fits (63 characters), else its head and a hash. */
export function sweepLabelValue(sweepId: string): string {
  if (sweepId.length <= 63 && /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(sweepId)) return sweepId;
  const head = sweepId
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 52)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return `${head ? head + '-' : ''}${sha(sweepId).slice(0, 10)}`;
}

/** The Job's name: `sigma-sweep-<sweep id>` in DNS-1123 form, at most 63 characters (pods carry it as a label). */
export function jobName(sweepId: string): string {
  const slug = sweepId
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  const full = `sigma-sweep-${slug}`;
  if (full.length <= 63 && slug === sweepId) return full;
  // cut or changed (upper case, dots, underscores): a hash of the exact id keeps names apart
  return `sigma-sweep-${slug.slice(0, 40).replace(/-$/, '')}-${sha(sweepId).slice(0, 10)}`;
}

/** The label selector of a sweep's pods. */
export const podSelector = (sweepId: string) => `${SWEEP_LABEL}=${sweepLabelValue(sweepId)}`;

/** Node affinity terms: the listed GPU products, or a minimum compute capability (feature-discovery labels). */
export function gpuNodeRequirements(o: Pick<JobOptions, 'gpuProducts' | 'minComputeMajor'>): V1NodeSelectorRequirement[] {
  if (o.gpuProducts.length) return [{ key: GPU_PRODUCT_LABEL, operator: 'In', values: [...o.gpuProducts] }];
  return [{ key: GPU_COMPUTE_MAJOR_LABEL, operator: 'Gt', values: [String(o.minComputeMajor - 1)] }];
}

/** The agent's command line in the pod (the image's entrypoint is `sigma-sweep`). */
export function agentArgs(o: Pick<JobOptions, 'idleSeconds' | 'slots' | 'backend' | 'drainSeconds'>): string[] {
  return ['agent', '--exit-when-idle', String(o.idleSeconds), '--slots', String(o.slots), '--backend', o.backend, '--drain-timeout', String(o.drainSeconds)];
}

function env(o: JobOptions): V1EnvVar[] {
  const fromSecret = (name: string, ref: SecretRef, optional = false): V1EnvVar => ({
    name,
    valueFrom: { secretKeyRef: { name: ref.name, key: ref.key, ...(optional ? { optional: true } : {}) } },
  });
  const k = o.natsCredentialKeys;
  const out: V1EnvVar[] = [
    fromSecret('NATS_URL', o.natsSecret),
    fromSecret('NATS_USER', { name: o.natsSecret.name, key: k.user }, true),
    fromSecret('NATS_PASSWORD', { name: o.natsSecret.name, key: k.password }, true),
    fromSecret('NATS_TOKEN', { name: o.natsSecret.name, key: k.token }, true),
    { name: 'SIGMA_SWEEP_NS', value: o.natsNs },
    { name: 'SIGMA_SWEEP_LOG', value: 'json' },
  ];
  if (o.dbSecret) out.push(fromSecret('DATABASE_URL', o.dbSecret));
  if (o.gpu) {
    // several TensorFlow runtimes must not each reserve the whole device up front
    out.push({ name: 'TF_FORCE_GPU_ALLOW_GROWTH', value: 'true' });
    // libtensorflow 2.9 has no sm_80 kernels: PTX is JIT-compiled on first start and cached here
    out.push({ name: 'CUDA_CACHE_PATH', value: CUDA_CACHE_DIR });
    out.push({ name: 'CUDA_CACHE_MAXSIZE', value: String(4 * 1024 ** 3) });
  }
  return out;
}

export function buildJob(o: JobOptions): V1Job {
  const sweep = sweepLabelValue(o.sweepId);
  const labels: Record<string, string> = {
    'app.kubernetes.io/name': 'sigma-sweep',
    'app.kubernetes.io/component': 'agent',
    'app.kubernetes.io/managed-by': 'sigma-sweep-launch',
    [SWEEP_LABEL]: sweep,
  };
  const annotations = { [SWEEP_ANNOTATION]: o.sweepId, [NATS_NS_ANNOTATION]: o.natsNs };
  const volumes: V1Volume[] = [];
  const mounts: V1VolumeMount[] = [];
  if (o.gpu) {
    volumes.push(o.cudaCachePvc ? { name: 'cuda-cache', persistentVolumeClaim: { claimName: o.cudaCachePvc } } : { name: 'cuda-cache', emptyDir: {} });
    mounts.push({ name: 'cuda-cache', mountPath: CUDA_CACHE_DIR });
  }
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobName(o.sweepId),
      namespace: o.namespace,
      labels: { ...labels, ...(o.queue ? { [KUEUE_QUEUE_LABEL]: o.queue } : {}) },
      annotations,
    },
    spec: {
      parallelism: o.parallelism,
      // completions unset: the work-queue pattern (done once an agent exits 0 and all have ended)
      backoffLimit: o.backoffLimit,
      activeDeadlineSeconds: o.activeDeadlineSeconds,
      ttlSecondsAfterFinished: o.ttlSecondsAfterFinished,
      ...(o.queue ? { suspend: true } : {}),
      podFailurePolicy: {
        rules: [
          { action: 'FailJob', onExitCodes: { containerName: CONTAINER, operator: 'In', values: [EXIT.badInput] } },
          { action: 'Ignore', onExitCodes: { containerName: CONTAINER, operator: 'In', values: [EXIT.sigterm] } },
          { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
        ],
      },
      template: {
        metadata: { labels, annotations },
        spec: {
          restartPolicy: 'Never',
          // the agent finishes its task within --drain-timeout after SIGTERM, then hands it back
          terminationGracePeriodSeconds: Math.ceil(o.drainSeconds) + 15,
          automountServiceAccountToken: false, // agents never call the Kubernetes API
          // the images (deploy/*.Dockerfile) run as user 10001; a root image is refused, not run
          securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
          ...(o.gpu
            ? {
                affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: gpuNodeRequirements(o) }] } } },
                tolerations: [{ key: GPU_RESOURCE, operator: 'Exists', effect: 'NoSchedule' }],
              }
            : {}),
          containers: [
            {
              name: CONTAINER,
              image: o.image,
              imagePullPolicy: o.imagePullPolicy,
              args: agentArgs(o),
              env: env(o),
              resources: {
                requests: { cpu: o.cpu, memory: o.memory },
                limits: { memory: o.memory, ...(o.gpu ? { [GPU_RESOURCE]: '1' } : {}) },
              },
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
              ...(mounts.length ? { volumeMounts: mounts } : {}),
            },
          ],
          ...(volumes.length ? { volumes } : {}),
        },
      },
    },
  };
}
