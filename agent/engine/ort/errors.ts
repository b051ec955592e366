/** Errors of the ONNX Runtime engine. All are permanent: the same graph fails the same way every time. */
import { PermanentError } from '../../../schema/errors.ts';

/** A node the gradient-graph builder has no adjoint for (or an attribute value it does not handle). */
export class UnsupportedOpError extends PermanentError {
  constructor(
    readonly opType: string,
    readonly nodeName: string,
    detail?: string,
  ) {
    super(`ONNX Runtime engine: no input gradient for ${opType} node '${nodeName}'${detail ? ` (${detail})` : ''}`);
    this.name = 'UnsupportedOpError';
  }
}

/** A graph the engine cannot use as a classifier (inputs, outputs, opset, ONNX Runtime refusing it). */
export class OrtGraphError extends PermanentError {
  constructor(message: string) {
    super(`ONNX Runtime engine: ${message}`);
    this.name = 'OrtGraphError';
  }
}

/** The requested engine cannot run here (e.g. ort-cuda without the CUDA execution provider). */
export class EngineUnavailableError extends PermanentError {
  constructor(engine: string, reason: string) {
    super(`engine '${engine}' is not available: ${reason}`);
    this.name = 'EngineUnavailableError';
  }
}
