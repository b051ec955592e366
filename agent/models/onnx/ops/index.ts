/** Every ONNX op the importer implements (default domain), by family. */
import { convOps } from './conv.ts';
import { binaryOps, unaryOps } from './elementwise.ts';
import { linalgOps } from './linalg.ts';
import { normOps } from './norm.ts';
import type { OpImpl } from './op.ts';
import { poolOps } from './pool.ts';
import { shapeOps } from './shape.ts';

export const OPS: ReadonlyMap<string, OpImpl> = new Map(
  Object.entries({ ...convOps, ...poolOps, ...unaryOps, ...binaryOps, ...linalgOps, ...normOps, ...shapeOps }),
);

/** Ops whose output is computed from their input's shape only: never part of the differentiable graph. */
export const SHAPE_ONLY_OPS: ReadonlySet<string> = new Set(['Shape', 'Size']);
