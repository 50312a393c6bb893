"""Checks an ONNX file ddptrain exported: onnx.checker accepts it, and onnxruntime's outputs
for each given input equal the outputs ddptrain computed (float32 files, shapes in cases.json).

usage: check_onnx.py MODEL.onnx CASES.json   (prints one JSON line; exit 0 when every case matches)
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    model_path, cases_path = sys.argv[1], sys.argv[2]
    with open(cases_path) as f:
        spec = json.load(f)
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    report = {"opset": model.opset_import[0].version, "inputs": [i.name for i in session.get_inputs()],
              "outputs": [o.name for o in session.get_outputs()],
              "metadata": {p.key: p.value for p in model.metadata_props}, "cases": []}
    ok = True
    for case in spec["cases"]:
        x = np.fromfile(case["input"], dtype=np.float32).reshape(case["input_shape"])
        expected = np.fromfile(case["expected"], dtype=np.float32).reshape(case["expected_shape"])
        (y,) = session.run(None, {input_name: x})
        relative = float(np.max(np.abs(y - expected)) / max(float(np.max(np.abs(expected))), 1e-12))
        same_shape = list(y.shape) == list(expected.shape)
        ok = ok and same_shape and relative <= spec["tolerance"]
        report["cases"].append({"batch": case["input_shape"][0], "shape": list(y.shape), "relative_error": relative,
                                "largest": float(np.max(np.abs(expected)))})
    report["ok"] = ok
    print(json.dumps(report))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
