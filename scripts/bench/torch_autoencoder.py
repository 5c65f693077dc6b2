"""PyTorch twin of the imgcluster autoencoder, for throughput comparisons.

The layers mirror packages/model/src/autoencoder.ts exactly:

  encoder: (conv 3x3 'same' + ReLU -> max-pool 2x2 stride 2) x 3, filters f0, f1, f2
  decoder: (conv 3x3 'same' + ReLU -> nearest upsampling x2) x 3, filters f2, f1, f0,
           then conv 3x3 'same' + sigmoid back to the image's channels

with Glorot-uniform kernels and zero biases, mean squared error loss and Adam
(lr 1e-3, betas 0.9/0.999, epsilon 1e-7 as in TensorFlow.js). Images are NHWC uint8 on the
way in, as in the TypeScript code; the network itself runs NCHW, PyTorch's native layout.

Usage:
  python3 torch_autoencoder.py --size 32 --channels 1 --batch 64 --threads 1,2 --seconds 3
      [--pixels FILE]                       batch of uint8 NHWC pixels (else synthetic)
      [--weights FILE --check-out FILE]     check mode: load weights, write codes, print losses
      [--serve]                             read {"op": "train"|"encode", "threads", "seconds"}
                                            lines on stdin, answer {"imgPerSec"} lines

Prints one JSON object on stdout (in --serve mode, one per request after {"ready": true}).
"""

import argparse
import json
import sys
import time

import numpy as np
import torch
from torch import nn

# TensorFlow.js's Adam epsilon (backend epsilon), not PyTorch's default 1e-8.
ADAM_EPSILON = 1e-7
WARMUP_CALLS = 2


def conv(cin, cout):
    """3x3 convolution with 'same' padding, Glorot-uniform kernel, zero bias."""
    layer = nn.Conv2d(cin, cout, kernel_size=3, padding=1)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class Autoencoder(nn.Module):
    def __init__(self, channels, filters):
        super().__init__()
        f0, f1, f2 = filters
        self.encoder = nn.Sequential(
            conv(channels, f0), nn.ReLU(), nn.MaxPool2d(2, 2),
            conv(f0, f1), nn.ReLU(), nn.MaxPool2d(2, 2),
            conv(f1, f2), nn.ReLU(), nn.MaxPool2d(2, 2),
        )
        self.decoder = nn.Sequential(
            conv(f2, f2), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"),
            conv(f2, f1), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"),
            conv(f1, f0), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"),
            conv(f0, channels), nn.Sigmoid(),
        )

    def forward(self, x):
        return self.decoder(self.encoder(x))

    def convs(self):
        """The seven convolutions in TypeScript layer order (enc_conv1..3, dec_conv1..3, dec_out)."""
        return [m for m in [*self.encoder, *self.decoder] if isinstance(m, nn.Conv2d)]


def synthetic_pixels(n, size, channels):
    """Blobs on noise, the same recipe as packages/model/bench.ts."""
    out = np.empty(n * size * size * channels, dtype=np.uint8)
    seed = 12345
    for i in range(out.size):
        seed = (seed * 1103515245 + 12345) % 2**32
        p = (i // channels) % (size * size)
        blob = abs(p % size - size / 2) + abs(p // size - size / 2)
        out[i] = 200 + seed % 50 if blob < size / 4 else seed % 60
    return out.reshape(n, size, size, channels)


def to_input(pixels):
    """uint8 NHWC -> float32 NCHW in [0, 1]."""
    x = torch.from_numpy(pixels).float().div_(255.0)
    return x.permute(0, 3, 1, 2).contiguous()


def make_optimizer(model):
    return torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=ADAM_EPSILON)


def train_step(model, optimizer, x):
    """One Adam step on x; returns the batch's MSE before the update (as trainOnBatch does)."""
    optimizer.zero_grad(set_to_none=True)
    loss = nn.functional.mse_loss(model(x), x)
    loss.backward()
    optimizer.step()
    return loss.item()


def encode(model, pixels):
    """Codes (NHWC, flattened) and attention (max over code channels), as encodeBatch returns."""
    with torch.inference_mode():
        code = model.encoder(to_input(pixels))
        attention = code.amax(dim=1)
        codes = code.permute(0, 2, 3, 1).contiguous().numpy().copy()
        return codes, attention.numpy().copy()


def rate(fn, batch, seconds):
    """Images per second of fn (one call = one batch), repeated for at least `seconds`."""
    for _ in range(WARMUP_CALLS):
        fn()
    calls = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        calls += 1
    return calls * batch / (time.perf_counter() - t0)


def load_weights(model, path):
    """Loads float32 little-endian TF.js weights: per conv, kernel [3,3,in,out] then bias."""
    flat = np.fromfile(path, dtype="<f4")
    at = 0
    for layer in model.convs():
        cout, cin, kh, kw = layer.weight.shape
        n = kh * kw * cin * cout
        kernel = flat[at : at + n].reshape(kh, kw, cin, cout).transpose(3, 2, 0, 1)
        at += n
        bias = flat[at : at + cout]
        at += cout
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel)))
            layer.bias.copy_(torch.from_numpy(bias.copy()))
    if at != flat.size:
        raise ValueError(f"weights file has {flat.size} floats, the model takes {at}")


def check(args, pixels):
    """Same weights and batch as the TypeScript model: codes to a file, losses of a few steps."""
    torch.set_num_threads(1)
    model = Autoencoder(args.channels, args.filters)
    load_weights(model, args.weights)
    codes, _ = encode(model, pixels)
    codes.astype("<f4").tofile(args.check_out)
    x = to_input(pixels)
    optimizer = make_optimizer(model)
    losses = [train_step(model, optimizer, x) for _ in range(args.check_steps)]
    return {"losses": losses}


class Bench:
    """One model (with its Adam state) per thread count, measured on demand."""

    def __init__(self, args, pixels):
        self.args = args
        self.pixels = pixels
        self.x = to_input(pixels)
        self.models = {}

    def rate(self, op, threads, seconds):
        torch.set_num_threads(threads)
        if threads not in self.models:
            torch.manual_seed(0)
            model = Autoencoder(self.args.channels, self.args.filters)
            self.models[threads] = (model, make_optimizer(model))
        model, optimizer = self.models[threads]
        if op == "train":
            return rate(lambda: train_step(model, optimizer, self.x), self.args.batch, seconds)
        if op == "encode":
            return rate(lambda: encode(model, self.pixels), self.args.batch, seconds)
        raise ValueError(f"unknown op {op!r}")


def measure(args, pixels):
    bench = Bench(args, pixels)
    return [
        {
            "threads": threads,
            "trainImgPerSec": bench.rate("train", threads, args.seconds),
            "encodeImgPerSec": bench.rate("encode", threads, args.seconds),
        }
        for threads in args.threads
    ]


def serve(args, pixels):
    """Answers one JSON line per request line {"op", "threads", "seconds"} until stdin ends."""
    bench = Bench(args, pixels)
    print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        value = bench.rate(req["op"], int(req["threads"]), float(req["seconds"]))
        print(json.dumps({"imgPerSec": value}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--channels", type=int, choices=[1, 3], default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--filters", type=lambda s: [int(v) for v in s.split(",")], default=[16, 8, 8])
    parser.add_argument("--threads", type=lambda s: [int(v) for v in s.split(",")], default=[1, 2])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--pixels", help="uint8 NHWC batch file (default: synthetic)")
    parser.add_argument("--weights", help="check mode: float32 weights in TF.js layer order")
    parser.add_argument("--check-out", help="check mode: where to write the codes (float32)")
    parser.add_argument("--check-steps", type=int, default=3)
    parser.add_argument("--serve", action="store_true", help="measure on request from stdin")
    args = parser.parse_args()
    if args.size <= 0 or args.size % 8 != 0:
        parser.error("--size must be a positive multiple of 8")
    if len(args.filters) != 3:
        parser.error("--filters takes three numbers")

    shape = (args.batch, args.size, args.size, args.channels)
    if args.pixels:
        pixels = np.fromfile(args.pixels, dtype=np.uint8).reshape(shape)
    else:
        pixels = synthetic_pixels(*shape[:2], args.channels)

    model = Autoencoder(args.channels, args.filters)
    out = {
        "torch": torch.__version__,
        "size": args.size,
        "channels": args.channels,
        "batch": args.batch,
        "params": sum(p.numel() for p in model.parameters()),
    }
    if args.weights:
        if not args.check_out:
            parser.error("--weights needs --check-out")
        out["check"] = check(args, pixels)
    elif args.serve:
        serve(args, pixels)
        return
    else:
        out["results"] = measure(args, pixels)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
