/**
 * Object keys of a run's data and artifacts, all under runs/<runId>/ in the artifact
 * bucket. One place names them so every service reads what another wrote.
 */
export const runKeys = (runId: string) => {
  const root = `runs/${runId}`;
  const shardName = (i: number) => String(i).padStart(5, '0');
  return {
    root,
    spec: `${root}/spec.json`,
    plan: `${root}/plan.json`,
    imageShard: (i: number) => `${root}/images/shard-${shardName(i)}.bin`,
    rejected: (i: number) => `${root}/images/rejected-${shardName(i)}.json`,
    codeShard: (i: number) => `${root}/codes/codes-${shardName(i)}.bin`,
    attentionShard: (i: number) => `${root}/codes/attention-${shardName(i)}.bin`,
    checkpoint: `${root}/checkpoint/state.json`,
    /** One checkpoint's files; `tag` names its epoch and step, e.g. e002-s000040. */
    checkpointFiles: (tag: string) => ({
      modelJson: `${root}/checkpoint/${tag}/model.json`,
      weights: `${root}/checkpoint/${tag}/weights.bin`,
    }),
    encoderJson: `${root}/model/encoder/model.json`,
    encoderWeights: `${root}/model/encoder/weights.bin`,
    decoderJson: `${root}/model/decoder/model.json`,
    decoderWeights: `${root}/model/decoder/weights.bin`,
    training: `${root}/model/training.json`,
    shardIndex: `${root}/shard-index.json`,
    labels: `${root}/labels.csv`,
    centroids: `${root}/centroids.bin`,
    clusters: `${root}/clusters.json`,
    clusterImage: (c: number, kind: 'samples' | 'attention' | 'decoded') =>
      `${root}/clusters/${String(c).padStart(3, '0')}-${kind}.png`,
    /** Every member of a cluster, nearest the centre first. */
    clusterMembers: (c: number) => `${root}/clusters/${String(c).padStart(3, '0')}-members.json`,
    /** Pictures of one input image beside its reconstruction and attention map. */
    example: (i: number, kind: 'input' | 'reconstruction' | 'attention') =>
      `${root}/examples/${String(i).padStart(2, '0')}-${kind}.png`,
    /** An assign job's results, and where a multipart request's images wait for it. */
    assignment: (id: string) => ({
      results: `${root}/assignments/${id}/results.json`,
      input: (i: number) => `${root}/assignments/${id}/inputs/${String(i).padStart(6, '0')}`,
    }),
    /** With k "auto": every k tried with its inertia and silhouette, and a plot of them. */
    kSelection: `${root}/k-selection.json`,
    kSelectionPlot: `${root}/k-selection.png`,
    /** With a manifold step: its reference codes and their layout (one float32 shard). */
    manifold: `${root}/manifold.bin`,
    /** With kmeans.mixture "gaussian": the fitted mixture (weights, means, variances). */
    mixture: `${root}/mixture.json`,
    metrics: `${root}/metrics.json`,
    report: `${root}/report.html`,
    manifest: `${root}/manifest.json`,
  };
};

export type RunKeys = ReturnType<typeof runKeys>;
