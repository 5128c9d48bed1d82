#!/usr/bin/env python3
"""Data-parallel logistic regression with the Python standard library only.

Each worker (RANK of WORLD_SIZE, from the environment a training run sets)
trains on its shard of the data; with --dist the workers average their
gradients after every mini-batch over TCP: rank 0 listens on
MASTER_ADDR:MASTER_PORT, the others connect to it, send their gradient and
receive the average. Metrics (loss, accuracy) are printed per epoch with the
rank; rank 0 writes model.json to --output_dir.

Data: --data_url names a CSV file, or a directory whose first *.csv file is
used (features..., label 0/1 in the last column; a header row is skipped);
without it a seeded synthetic data set is generated.

    python3 train.py --epoch_num=5 --output_dir=/tmp/out            # one worker
    WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 python3 train.py --dist &
    WORLD_SIZE=2 RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 python3 train.py --dist
"""

import argparse
import csv
import glob
import json
import math
import os
import random
import shutil
import socket
import struct
import sys
import time

CONNECT_TIMEOUT_S = 60.0

# The serving side of this model (examples/serving/logreg_model), found
# beside this example when the code directory is examples/ (or the repository).
DEFAULT_PACKAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "serving", "logreg_model")


def copy_package(package, output_dir):
    """Copies the model package's config.json and customize_service.py beside
    model.json (ModelArts' layout of a servable output), when they exist."""
    if not package:
        return
    copied = []
    for name in ("config.json", "customize_service.py"):
        src = os.path.join(package, name)
        if os.path.isfile(src):
            shutil.copyfile(src, os.path.join(output_dir, name))
            copied.append(name)
    if copied:
        print("rank 0 copied %s: the output is a model package" % ", ".join(copied), flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data_url", default="", help="CSV file or directory (default: generated)")
    p.add_argument("--output_dir", "--train_url", dest="output_dir", default="",
                   help="where rank 0 writes model.json")
    p.add_argument("--epoch_num", "--epoc_num", dest="epoch_num", type=int, default=5)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--samples", type=int, default=512, help="generated samples")
    p.add_argument("--features", type=int, default=4, help="generated features")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--dist", action="store_true", help="average gradients across WORLD_SIZE")
    p.add_argument("--model_package", default=DEFAULT_PACKAGE,
                   help="a model package directory (config.json, customize_service.py) copied "
                        "beside model.json, so the output registers as a model; '' for none")
    args, unknown = p.parse_known_args(argv)
    if unknown:
        print("ignoring unknown arguments: %s" % " ".join(unknown), flush=True)
    return args


# -- data ---------------------------------------------------------------------------


def generate(n, d, seed):
    rng = random.Random(seed)
    true_w = [rng.uniform(-2, 2) for _ in range(d)]
    rows = []
    for _ in range(n):
        x = [rng.gauss(0, 1) for _ in range(d)]
        z = sum(a * b for a, b in zip(true_w, x)) + rng.gauss(0, 0.3)
        rows.append((x, 1.0 if z > 0 else 0.0))
    return rows


def load_csv(url):
    path = url
    if os.path.isdir(url):
        found = sorted(glob.glob(os.path.join(url, "**", "*.csv"), recursive=True))
        if not found:
            raise SystemExit("no .csv file under --data_url %s" % url)
        path = found[0]
    rows = []
    with open(path, newline="") as f:
        for rec in csv.reader(f):
            if not rec:
                continue
            try:
                vals = [float(v) for v in rec]
            except ValueError:
                continue  # a header
            rows.append((vals[:-1], vals[-1]))
    if not rows:
        raise SystemExit("no data rows in %s" % path)
    return rows


# -- model --------------------------------------------------------------------------


def sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def gradient(w, b, batch):
    gw = [0.0] * len(w)
    gb = 0.0
    for x, y in batch:
        err = sigmoid(sum(a * c for a, c in zip(w, x)) + b) - y
        for j, xj in enumerate(x):
            gw[j] += err * xj
        gb += err
    return gw + [gb]


def metrics(w, b, rows):
    loss = correct = 0.0
    for x, y in rows:
        p = min(max(sigmoid(sum(a * c for a, c in zip(w, x)) + b), 1e-12), 1 - 1e-12)
        loss -= y * math.log(p) + (1 - y) * math.log(1 - p)
        correct += (p >= 0.5) == (y >= 0.5)
    return [loss, correct, float(len(rows))]


# -- gradient exchange over TCP --------------------------------------------------------


def _send(sock, values):
    data = json.dumps(values).encode()
    sock.sendall(struct.pack(">I", len(data)) + data)


def _recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("a peer closed the connection")
        buf += chunk
    return bytes(buf)


def _recv(sock):
    (n,) = struct.unpack(">I", _recv_exact(sock, 4))
    return json.loads(_recv_exact(sock, n))


class Group:
    """Group sums vectors across the workers: rank 0 is the hub, the others its clients."""

    def __init__(self, rank, world, addr, port):
        self.rank, self.world = rank, world
        self.peers = []
        self.sock = None
        if world == 1:
            return
        if rank == 0:
            srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind((addr, port))
            srv.listen(world)
            srv.settimeout(CONNECT_TIMEOUT_S)
            by_rank = {}
            while len(by_rank) < world - 1:
                conn, _ = srv.accept()
                conn.settimeout(None)
                by_rank[_recv(conn)["rank"]] = conn
            srv.close()
            self.peers = [by_rank[r] for r in sorted(by_rank)]
        else:
            deadline = time.monotonic() + CONNECT_TIMEOUT_S
            while True:
                try:
                    self.sock = socket.create_connection((addr, port), timeout=5)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)  # rank 0 is not listening yet
            self.sock.settimeout(None)
            _send(self.sock, {"rank": rank})

    def allreduce_sum(self, values):
        if self.world == 1:
            return list(values)
        if self.rank == 0:
            total = list(values)
            for p in self.peers:
                for i, v in enumerate(_recv(p)):
                    total[i] += v
            for p in self.peers:
                _send(p, total)
            return total
        _send(self.sock, list(values))
        return _recv(self.sock)

    def close(self):
        for s in self.peers + ([self.sock] if self.sock else []):
            s.close()


def main(argv=None):
    args = parse_args(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if not args.dist:
        world = 1  # every worker trains alone on all the data
    rows = load_csv(args.data_url) if args.data_url else generate(
        args.samples, args.features, args.seed)
    random.Random(args.seed).shuffle(rows)
    per = len(rows) // world
    part = rank if args.dist else 0
    shard = rows[part * per:(part + 1) * per]
    d = len(rows[0][0])
    print("rank %d/%d: %d samples, %d features, %d epochs, lr %g"
          % (rank, world, len(shard), d, args.epoch_num, args.lr), flush=True)
    group = Group(rank, world, os.environ.get("MASTER_ADDR", "127.0.0.1"),
                  int(os.environ.get("MASTER_PORT", "29500")))
    w, b = [0.0] * d, 0.0
    steps = max(1, math.ceil(per / args.batch_size))
    for epoch in range(1, args.epoch_num + 1):
        for s in range(steps):
            batch = shard[s * args.batch_size:(s + 1) * args.batch_size]
            g = group.allreduce_sum(gradient(w, b, batch) + [float(len(batch))])
            n = g[-1] or 1.0
            w = [wj - args.lr * gj / n for wj, gj in zip(w, g[:d])]
            b -= args.lr * g[d] / n
        loss, correct, count = group.allreduce_sum(metrics(w, b, shard))
        print("rank %d epoch %d loss %.4f accuracy %.4f"
              % (rank, epoch, loss / count, correct / count), flush=True)
    group.close()
    if rank == 0 and args.output_dir:
        os.makedirs(args.output_dir, exist_ok=True)
        with open(os.path.join(args.output_dir, "model.json"), "w") as f:
            json.dump({"weights": w, "bias": b, "epochs": args.epoch_num, "world_size": world,
                       "loss": loss / count, "accuracy": correct / count}, f)
        print("rank 0 wrote %s" % os.path.join(args.output_dir, "model.json"), flush=True)
        copy_package(args.model_package, args.output_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
