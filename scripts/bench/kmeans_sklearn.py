"""scikit-learn's side of the k-means benchmark (scripts/bench-kmeans.ts).

Reads an n x dim float32 matrix (little-endian, row-major) from a file and, for each seed,
fits MiniBatchKMeans(batch_size, n_init=1) and, unless --no-lloyd, full Lloyd
KMeans(n_init=1) on it. Prints one JSON line: per seed and method, seconds, steps and
inertia over all points; with --labels-out PREFIX, writes each fit's labels (int32) to
PREFIX.<method>.<seed>.
"""
import argparse
import json
import time

import numpy as np
import sklearn
from sklearn.cluster import KMeans, MiniBatchKMeans


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--dim", type=int, required=True)
    ap.add_argument("--k", type=int, required=True)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--seeds", default="0", help="comma-separated seeds")
    ap.add_argument("--no-lloyd", action="store_true")
    ap.add_argument("--labels-out", default="")
    a = ap.parse_args()

    x = np.fromfile(a.path, dtype="<f4", count=a.n * a.dim).reshape(a.n, a.dim)
    out = {"sklearn": sklearn.__version__, "minibatch": [], "lloyd": []}

    for seed in [int(s) for s in a.seeds.split(",")]:
        t = time.perf_counter()
        mb = MiniBatchKMeans(n_clusters=a.k, batch_size=a.batch, n_init=1, random_state=seed)
        mb.fit(x)
        out["minibatch"].append(
            {
                "seed": seed,
                "seconds": time.perf_counter() - t,
                "steps": int(mb.n_steps_),
                # Inertia of the final centres over every point (not the last batch's).
                "inertia": float(-mb.score(x)),
            }
        )
        if a.labels_out:
            mb.predict(x).astype("<i4").tofile(f"{a.labels_out}.minibatch.{seed}")

        if not a.no_lloyd:
            t = time.perf_counter()
            km = KMeans(n_clusters=a.k, n_init=1, random_state=seed, algorithm="lloyd")
            km.fit(x)
            out["lloyd"].append(
                {
                    "seed": seed,
                    "seconds": time.perf_counter() - t,
                    "steps": int(km.n_iter_),
                    "inertia": float(km.inertia_),
                }
            )
            if a.labels_out:
                km.labels_.astype("<i4").tofile(f"{a.labels_out}.lloyd.{seed}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
