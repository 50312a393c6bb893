"""Runs an exported Fashion-MNIST model in onnxruntime, as the README shows, on the raw test
images, feeding what the file's metadata says (normalisation), and prints one JSON line per
image: {"index": i, "top1": class, "probability": p}.
usage: onnx-fashion.py MODEL.onnx IDX_IMAGES_GZ FIRST COUNT"""
import gzip
import json
import struct
import sys

import numpy as np
import onnxruntime as ort

model, images, first, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
meta = session.get_modelmeta().custom_metadata_map
pre = json.loads(meta["ddptrain.preprocessing"])
data = gzip.open(images).read()
_, n, h, w = struct.unpack(">IIII", data[:16])
pixels = np.frombuffer(data[16 + first * h * w: 16 + (first + count) * h * w], dtype=np.uint8)
x = pixels.reshape(count, 1, h, w).astype(np.float32)
mean = np.array(pre["mean"], dtype=np.float32).reshape(1, -1, 1, 1)
std = np.array(pre["std"], dtype=np.float32).reshape(1, -1, 1, 1)
x = (x / 255 - mean) / std
(logits,) = session.run(["logits"], {"input": x})
probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
probabilities /= probabilities.sum(axis=1, keepdims=True)
names = json.loads(meta.get("ddptrain.class_names", "null"))
for i in range(count):
    top = int(np.argmax(probabilities[i]))
    print(json.dumps({"index": first + i, "top1": top, "name": names[top] if names else None,
                      "probability": float(probabilities[i, top])}))
