/**
 * IDX file reader (the MNIST / Fashion-MNIST container format).
 *
 * Layout: 2 zero bytes, a type code (0x08 = unsigned byte is the only one used by these datasets),
 * the number of dimensions, then one big-endian uint32 per dimension, then the data.
 * Every check failure throws IdxFormatError naming the file and what is wrong, so a truncated or
 * mislabelled file never turns into silently wrong pixels.
 */
import { readFileSync } from 'node:fs';
import { PermanentError } from '../../schema/errors.ts';

export class IdxFormatError extends PermanentError {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: not a valid IDX file: ${detail}`);
    this.name = 'IdxFormatError';
  }
}

export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

/** Parse an IDX ubyte buffer; `expectDims` pins the number of dimensions (3 images, 1 labels). */
export function parseIdx(buf: Uint8Array, file: string, expectDims: number): IdxArray {
  if (buf.length < 4) throw new IdxFormatError(file, `file is ${buf.length} bytes, shorter than the 4-byte magic number`);
  if (buf[0] !== 0 || buf[1] !== 0) throw new IdxFormatError(file, 'magic number must start with two zero bytes');
  if (buf[2] !== 0x08) throw new IdxFormatError(file, `type code 0x${buf[2].toString(16)} is not 0x08 (unsigned byte)`);
  const ndim = buf[3];
  if (ndim !== expectDims) throw new IdxFormatError(file, `expected ${expectDims} dimensions, header says ${ndim}`);
  const header = 4 + 4 * ndim;
  if (buf.length < header) throw new IdxFormatError(file, 'truncated header');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < ndim; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const count = shape.reduce((a, b) => a * b, 1);
  if (buf.length !== header + count) {
    throw new IdxFormatError(
      file,
      `header shape [${shape.join(', ')}] needs ${header + count} bytes, file has ${buf.length}` +
        (buf.length < header + count ? ' (truncated)' : ' (trailing bytes)'),
    );
  }
  return { shape, data: buf.subarray(header, header + count) };
}

export function readIdxFile(file: string, expectDims: number): IdxArray {
  return parseIdx(readFileSync(file), file, expectDims);
}
