/**
 * Errors of the ONNX importer. Everything a user can get wrong (a digest, a damaged file, an op or
 * attribute value the importer does not implement) is found while the model loads and is permanent:
 * a task naming such a model can never succeed, so these extend ModelLoadError (a PermanentError)
 * and name the file.
 *
 * Op implementations do not know the file: they throw NodeProblem (op type, node name, attribute),
 * which the loader re-throws as OnnxUnsupportedError / OnnxGraphError with the file added.
 */
import { ModelLoadError } from '../io.ts';

/** Any problem with an .onnx file; `file` is the path (or the name given to onnxNetFromBytes). */
export class OnnxModelError extends ModelLoadError {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(file, detail);
    this.name = 'OnnxModelError';
  }
}

export class OnnxDigestError extends OnnxModelError {
  constructor(
    file: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(file, `sha256 mismatch: the spec says ${expected}, the file's bytes digest to ${actual}`);
    this.name = 'OnnxDigestError';
  }
}

/** Where a problem sits in the graph: the op, the node (its name, or its position), the attribute or input. */
export interface NodeWhere {
  op: string;
  node: string;
  attribute?: string;
}

function whereText(w: NodeWhere): string {
  return `node '${w.node}' (${w.op})${w.attribute ? `, attribute '${w.attribute}'` : ''}`;
}

/** An op, attribute value or dtype the importer does not implement: rejected at load, never approximated. */
export class OnnxUnsupportedError extends OnnxModelError {
  readonly op: string;
  readonly nodeName: string;
  readonly attribute?: string;
  constructor(file: string, where: NodeWhere, detail: string) {
    super(file, `${whereText(where)}: ${detail}`);
    this.name = 'OnnxUnsupportedError';
    this.op = where.op;
    this.nodeName = where.node;
    this.attribute = where.attribute;
  }
}

/** A graph that is malformed or does not fit the classifier contract (inputs, outputs, shapes). */
export class OnnxGraphError extends OnnxModelError {
  constructor(file: string, detail: string) {
    super(file, detail);
    this.name = 'OnnxGraphError';
  }
}

/**
 * Thrown inside op implementations and graph passes (which do not know the file); the loader
 * turns it into OnnxUnsupportedError (unsupported: true) or OnnxGraphError with the file's name.
 */
export class NodeProblem extends Error {
  constructor(
    readonly where: NodeWhere,
    readonly detail: string,
    readonly unsupported: boolean,
  ) {
    super(`${whereText(where)}: ${detail}`);
    this.name = 'NodeProblem';
  }
}

/** Re-throw `e` with the file named (NodeProblem → typed error; tfjs errors while building → OnnxGraphError). */
export function withFile(file: string, e: unknown, during: string): OnnxModelError {
  if (e instanceof OnnxModelError) return e;
  if (e instanceof NodeProblem) {
    return e.unsupported ? new OnnxUnsupportedError(file, e.where, e.detail) : new OnnxGraphError(file, `${whereText(e.where)}: ${e.detail}`);
  }
  return new OnnxGraphError(file, `${during}: ${(e as Error)?.message ?? String(e)}`);
}
