/**
 * Signatures of image formats that the decoder in this build does not read, so that such files
 * are reported as 'unsupported_format' rather than 'not_an_image'.
 */
const SIGNATURES: ReadonlyArray<{ name: string; at: number; bytes: readonly number[] }> = [
  { name: 'psd', at: 0, bytes: [0x38, 0x42, 0x50, 0x53] },
  { name: 'ico', at: 0, bytes: [0x00, 0x00, 0x01, 0x00] },
  { name: 'pdf', at: 0, bytes: [0x25, 0x50, 0x44, 0x46] },
  { name: 'jp2', at: 4, bytes: [0x6a, 0x50, 0x20, 0x20] },
  { name: 'jxl', at: 0, bytes: [0xff, 0x0a] },
  { name: 'jxl', at: 4, bytes: [0x4a, 0x58, 0x4c, 0x20] },
];

function matches(input: Uint8Array, at: number, bytes: readonly number[]): boolean {
  if (input.length < at + bytes.length) return false;
  return bytes.every((b, i) => input[at + i] === b);
}

/** Names a known but unreadable image format from its leading bytes, or returns undefined. */
export function sniffUnsupportedFormat(input: Uint8Array): string | undefined {
  if (isBmp(input)) return 'bmp';
  return SIGNATURES.find((s) => matches(input, s.at, s.bytes))?.name;
}

/** BMP: "BM" followed, at byte 14, by one of the known DIB header sizes (little-endian). */
function isBmp(input: Uint8Array): boolean {
  if (input.length < 18 || !matches(input, 0, [0x42, 0x4d])) return false;
  const dib = input[14] | (input[15] << 8) | (input[16] << 16) | (input[17] << 24);
  return [12, 40, 52, 56, 64, 108, 124].includes(dib);
}
