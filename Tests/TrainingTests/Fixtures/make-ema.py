"""Writes ema.json, torchvision's classification reference's model EMA transcribed in NumPy
(run once; the file is committed): ExponentialMovingAverage(decay) over parameters and buffers,
updated after the optimizer step of every iteration i (from 0 in each epoch) with
i % model_ema_steps == 0, its count reset to 0 while epoch < lr_warmup_epochs so that updates
copy; float32 arithmetic as PyTorch does it (decay * avg + (1 - decay) * param)."""
import json
import os

import numpy as np

rng = np.random.default_rng(0)
steps_per_epoch, epochs, every, warmup_epochs, decay = 5, 3, 2, 1, 0.9
weights = rng.standard_normal((steps_per_epoch * epochs, 6)).astype(np.float32)
average = np.zeros(6, dtype=np.float32)
n_averaged = 0
after = []
for step, current in enumerate(weights):
    epoch, i = divmod(step, steps_per_epoch)
    if i % every == 0:
        if n_averaged == 0:
            average = current.copy()
        else:
            average = np.float32(decay) * average + np.float32(1 - decay) * current
        n_averaged += 1
        if epoch < warmup_epochs:
            n_averaged = 0
    after.append(average.tolist())
json.dump({"steps_per_epoch": steps_per_epoch, "every": every, "warmup_epochs": warmup_epochs, "decay": decay,
           "weights": weights.tolist(), "average_after_step": after},
          open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "ema.json"), "w"))
