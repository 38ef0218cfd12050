"""BLiMP of this experiment's models before training, on the same pairs as the final scores.

The trainer seeds torch, random and numpy with the run's seed and then builds the model, so the
same steps here give each seed's step-0 weights. Run from the repository root after the
experiment (it reads the runs' config.json): ``python docs/results/novels-cpu-small/untrained.py``.
"""

import json
import random
from pathlib import Path

import numpy as np
import torch

from l2t.eval import BlimpSuite
from l2t.tokenizer import Tokenizer, tokenizer_json
from l2t.train.model import CausalLM
from l2t.train.presets import preset

EXPERIMENT = Path("experiments/novels-cpu-small")
BLIMP = ".device/blimp-data"
FINAL_LIMIT = 300  # the experiment's final_limit

run = json.loads((EXPERIMENT / "runs" / "raw" / "seed-0" / "config.json").read_text())
text = tokenizer_json(run["tokenizer"])
suite = BlimpSuite.load(text, BLIMP, limit=FINAL_LIMIT)
scores = {}
for seed in (0, 1):
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    config = preset(run["model"], Tokenizer(text).vocab_size, **run["model_overrides"])
    report = suite.score(CausalLM(config).eval(), batch_size=128)
    scores[seed] = {"overall": report.overall, "fields": report.fields, "pairs": report.pairs}
    print(seed, round(100 * report.overall, 2), flush=True)
(EXPERIMENT / "untrained.json").write_text(json.dumps(scores, indent=1) + "\n")
