"""Serves the logistic regression that examples/distributed_logreg/train.py trains.

The model package is the training output directory (its model.json: weights,
bias) with this file and config.json beside it. Requests:

- JSON ``{"instances": [[x1, ..., xd], ...]}`` (one row may also be given
  flat: ``{"instances": [x1, ..., xd]}``);
- multipart ``files`` (or ``images``) holding CSV files of rows: features,
  and optionally the label in an extra last column, which is ignored; a
  header row is skipped;
- the Open Inference Protocol: an input tensor ``instances`` of shape
  [n, d] (FP32 or FP64).

Answer: ``{"probabilities": [p, ...], "labels": [0 or 1, ...]}``, one entry
per row, p being the probability of label 1.
"""

import csv
import io
import json
import math
import os

import log
from model_service.model_service import SingleNodeService

logger = log.getLogger(__name__)

MODEL_FILE = "model.json"


def _sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class LogisticRegressionService(SingleNodeService):
    def __init__(self, model_name, model_path):
        super().__init__(model_name, model_path)
        with open(os.path.join(model_path, MODEL_FILE)) as f:
            doc = json.load(f)
        self.weights = [float(w) for w in doc["weights"]]
        self.bias = float(doc["bias"])
        logger.info("loaded %s: %d features, trained %s epochs on %s worker(s)", MODEL_FILE,
                    len(self.weights), doc.get("epochs"), doc.get("world_size"))

    def _rows_from_csv(self, f):
        d = len(self.weights)
        rows = []
        text = io.TextIOWrapper(f, encoding="utf-8", newline="")
        for rec in csv.reader(text):
            if not rec:
                continue
            try:
                vals = [float(v) for v in rec]
            except ValueError:
                continue  # a header
            if len(vals) not in (d, d + 1):
                raise ValueError("a CSV row has %d columns; the model takes %d features "
                                 "(and an optional label)" % (len(vals), d))
            rows.append(vals[:d])
        return rows

    def _preprocess(self, data):
        if not isinstance(data, dict):
            raise ValueError('send {"instances": [[x1, ..., xd], ...]}')
        if "instances" in data:
            rows = data["instances"]
            if rows and not isinstance(rows[0], list):
                rows = [rows]
            return [[float(v) for v in row] for row in rows]
        rows = []
        for field in ("files", "images"):
            files = data.get(field)
            if isinstance(files, dict):
                for _, f in sorted(files.items()):
                    rows.extend(self._rows_from_csv(f))
        if not rows:
            raise ValueError('send {"instances": [[x1, ..., xd], ...]} or CSV files as "files"')
        return rows

    def _inference(self, rows):
        d = len(self.weights)
        probs = []
        for row in rows:
            if len(row) != d:
                raise ValueError("a row has %d features; the model takes %d" % (len(row), d))
            probs.append(_sigmoid(sum(w * x for w, x in zip(self.weights, row)) + self.bias))
        return probs

    def _postprocess(self, probs):
        return {"probabilities": probs, "labels": [1 if p >= 0.5 else 0 for p in probs]}
