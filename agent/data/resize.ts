/**
 * Image resizing as the σ-zero evaluation's torchvision transforms did it on PIL images, so that
 * ImageNet inputs match its pixels: Resize on a PIL image is Pillow's `Image.resize(size,
 * BILINEAR)`, a separable triangle filter widened by the scale when shrinking (antialiasing),
 * with 8-bit fixed-point weights (22 fractional bits) and rounding to bytes after each pass
 * (horizontal first). CenterCrop takes its offsets with Python's round (half to even). Reproducing
 * that arithmetic exactly, instead of calling libvips' resize, is what makes the bytes equal
 * Pillow's (test/datasets-imagenet.test.ts compares with Pillow 9.4 output).
 */

const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;

/** The bilinear (triangle) filter, support 1. */
const triangle = (x: number) => (x < 0 ? -x : x) < 1 ? 1 - (x < 0 ? -x : x) : 0;

interface Coefficients {
  /** first input index of each output sample */
  first: Int32Array;
  /** number of input samples of each output sample */
  taps: Int32Array;
  /** fixed-point weights, `width` per output sample */
  weights: Int32Array;
  width: number;
}

/** Pillow's per-output-pixel input window and weights for resampling `inSize` → `outSize`. */
function coefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // triangle support 1, widened when shrinking
  const ss = 1 / filterScale; // multiplied, not divided: the same doubles as Pillow's
  const width = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const taps = new Int32Array(outSize);
  const weights = new Int32Array(outSize * width);
  const w = new Float64Array(width);
  for (let o = 0; o < outSize; o++) {
    const centre = (o + 0.5) * scale;
    // C's (int) cast truncates toward zero
    const lo = Math.max(Math.trunc(centre - support + 0.5), 0);
    const hi = Math.min(Math.trunc(centre + support + 0.5), inSize);
    const n = hi - lo;
    let sum = 0;
    for (let k = 0; k < n; k++) sum += w[k] = triangle((k + lo - centre + 0.5) * ss);
    for (let k = 0; k < n; k++) {
      const v = sum !== 0 ? w[k] / sum : w[k];
      // to fixed point, rounding half away from zero as Pillow's normalize_coeffs_8bpc does
      weights[o * width + k] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    first[o] = lo;
    taps[o] = n;
  }
  return { first, taps, weights, width };
}

const toByte = (acc: number) => {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
};

/** One pass along x (`horizontal`) or y of an interleaved `channels`-band image. */
function pass(src: Uint8Array, w: number, h: number, channels: number, outSize: number, horizontal: boolean): Uint8Array {
  const c = coefficients(horizontal ? w : h, outSize);
  const [ow, oh] = horizontal ? [outSize, h] : [w, outSize];
  const out = new Uint8Array(ow * oh * channels);
  const step = horizontal ? channels : w * channels; // distance between neighbouring input samples along the pass
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const o = horizontal ? x : y;
      const base = horizontal ? (y * w + c.first[o]) * channels : (c.first[o] * w + x) * channels;
      const wAt = o * c.width;
      for (let b = 0; b < channels; b++) {
        let acc = 1 << (PRECISION_BITS - 1);
        for (let k = 0; k < c.taps[o]; k++) acc += src[base + k * step + b] * c.weights[wAt + k];
        out[(y * ow + x) * channels + b] = toByte(acc);
      }
    }
  }
  return out;
}

/** Pillow's `resize((outW, outH), BILINEAR)` of an 8-bit interleaved image. */
export function resizeBilinear(src: Uint8Array, w: number, h: number, channels: number, outW: number, outH: number): Uint8Array {
  let img = src;
  if (outW !== w) img = pass(img, w, h, channels, outW, true);
  if (outH !== h) img = pass(img, outW, h, channels, outH, false);
  return img === src ? src.slice() : img;
}

/** Python 3's round() of a number (halves to the even neighbour). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

/** torchvision Resize(short) output size for a w×h image: the shorter side becomes `short`, the longer one int(short · long / short side). */
export function shorterSideSize(w: number, h: number, short: number): [number, number] {
  return w <= h ? [short, Math.trunc((short * h) / w)] : [Math.trunc((short * w) / h), short];
}

/** torchvision CenterCrop(size) of an image at least that large (offsets: Python round of the half margin). */
export function centreCrop(src: Uint8Array, w: number, h: number, channels: number, cw: number, ch: number): Uint8Array {
  if (cw > w || ch > h) throw new RangeError(`cannot centre-crop ${cw}×${ch} from ${w}×${h}`);
  const top = roundHalfEven((h - ch) / 2);
  const left = roundHalfEven((w - cw) / 2);
  const out = new Uint8Array(cw * ch * channels);
  for (let y = 0; y < ch; y++) out.set(src.subarray(((top + y) * w + left) * channels, ((top + y) * w + left + cw) * channels), y * cw * channels);
  return out;
}
