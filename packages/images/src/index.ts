export { ImageArgumentError } from './errors.js';
export { sniffFormat, type DecodableFormat, type Sniffed } from './sniff.js';
export {
  ACCEPTED_FORMATS,
  DEFAULT_MAX_INPUT_BYTES,
  DEFAULT_MAX_INPUT_PIXELS,
  preprocessImage,
  REJECT_REASONS,
  type PreprocessOk,
  type PreprocessOptions,
  type PreprocessRejected,
  type PreprocessResult,
  type RejectReason,
} from './preprocess.js';
export { encodePng, gridPng, pngSize, type GridOptions } from './png.js';
export { heatColour, heatmapPng, normalise, type HeatmapOptions } from './heatmap.js';
