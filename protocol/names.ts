/**
 * Subject, stream, consumer and bucket names of one deployment, under a namespace so that several
 * deployments (or test runs) can share one NATS server. Both sides use them: the orchestrator sets
 * the streams up (orchestrator/nats/streams.ts), the agents pull and publish on them.
 */
export interface Names {
  ns: string;
  tasks: string;
  results: string;
  agentsConsumer: string;
  ingestConsumer: string;
  agentsKv: string;
  taskSubject: (sweep: string) => string;
  resultSubject: (sweep: string) => string;
}

export function names(ns = process.env.SIGMA_SWEEP_NS ?? 'sigma'): Names {
  if (!/^[A-Za-z0-9_-]+$/.test(ns)) throw new Error(`namespace '${ns}' may only hold letters, digits, '_' and '-'`);
  const up = ns.toUpperCase().replace(/-/g, '_');
  return {
    ns,
    tasks: `${up}_TASKS`,
    results: `${up}_RESULTS`,
    agentsConsumer: 'agents',
    ingestConsumer: 'ingester',
    agentsKv: `${ns.replace(/-/g, '_')}_agents`,
    taskSubject: (sweep) => `${ns}.tasks.${sweep}`,
    resultSubject: (sweep) => `${ns}.results.${sweep}`,
  };
}
