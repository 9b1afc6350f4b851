#!/usr/bin/python3
"""brulee model zoo exporter (run by `brulee zoo`; see docs/zoo.md).

Builds torchvision architectures (or tiny test networks) with random weights and writes them as a
Triton-style model repository:

    <out>/<name>-onnx/1/model.onnx     ONNX, opset 10, fixed for OpenCV 4.6 DNN
    <out>/<name>-pt/1/model.pt         TorchScript (traced), metadata in extra file brulee.json
    <out>/<name>-<fmt>/config.json     backend, inputs, outputs, preprocessing, labels
    <out>/zoo_catalog.json             what was exported (architecture, family, params, bytes)

Nothing is downloaded: weights are random (seeded). Progress goes to stdout, one line per model;
errors go to stderr as one line, exit code 2 for bad usage, 1 for export failures.
Must run under Debian's /usr/bin/python3 (python3-torch, python3-torchvision, python3-onnx).
"""
import argparse
import json
import os
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore")  # torch.onnx's tracer warnings are expected for these models

EXIT_USAGE = 2
EXIT_FAILURE = 1


def fail(code, message):
    print(f"zoo: {message}", file=sys.stderr)
    sys.exit(code)


try:
    import torch
    import torch.nn as nn
    import torchvision
    import onnx
    from onnx import numpy_helper
except ImportError as error:  # pragma: no cover - depends on the interpreter
    fail(EXIT_FAILURE, f"{sys.executable} cannot import {error.name}: run the zoo with Debian's "
         "/usr/bin/python3 (packages python3-torch python3-torchvision python3-onnx)")

# ---------------------------------------------------------------------------------------------
# Architectures. Each entry: name -> (family, builder, input size, paper counterpart or "").
# Families mirror the paper's (Keras applications on m5.large); torchvision 0.14 has no NASNet or
# Xception, so the NAS-found MnasNet and RegNet stand in for that family.


def tv(builder_name, **kwargs):
    def build():
        return getattr(torchvision.models, builder_name)(weights=None, **kwargs)
    return build


FULL_MODELS = {
    # name: (family, builder, image size, paper model)
    "resnet18": ("resnet", tv("resnet18"), 224, ""),
    "resnet50": ("resnet", tv("resnet50"), 224, "ResNet50"),
    "resnet101": ("resnet", tv("resnet101"), 224, "ResNet101"),
    "resnet152": ("resnet", tv("resnet152"), 224, "ResNet152"),
    "resnext50_32x4d": ("resnet", tv("resnext50_32x4d"), 224, ""),
    "wide_resnet50_2": ("resnet", tv("wide_resnet50_2"), 224, ""),
    "vgg16": ("vgg", tv("vgg16"), 224, "VGG16"),
    "vgg19": ("vgg", tv("vgg19"), 224, "VGG19"),
    "densenet121": ("densenet", tv("densenet121"), 224, "DenseNet121"),
    "densenet169": ("densenet", tv("densenet169"), 224, "DenseNet169"),
    "densenet201": ("densenet", tv("densenet201"), 224, "DenseNet201"),
    "mobilenet_v2": ("mobilenet", tv("mobilenet_v2"), 224, "MobileNetV2"),
    "mobilenet_v3_small": ("mobilenet", tv("mobilenet_v3_small"), 224, "MobileNet"),
    "mobilenet_v3_large": ("mobilenet", tv("mobilenet_v3_large"), 224, ""),
    "efficientnet_b0": ("efficientnet", tv("efficientnet_b0"), 224, "EfficientNetB0"),
    "efficientnet_b1": ("efficientnet", tv("efficientnet_b1"), 240, "EfficientNetB1"),
    "efficientnet_b2": ("efficientnet", tv("efficientnet_b2"), 260, "EfficientNetB2"),
    "efficientnet_b3": ("efficientnet", tv("efficientnet_b3"), 300, "EfficientNetB3"),
    "efficientnet_b4": ("efficientnet", tv("efficientnet_b4"), 380, "EfficientNetB4"),
    "efficientnet_b5": ("efficientnet", tv("efficientnet_b5"), 456, "EfficientNetB5"),
    "efficientnet_b6": ("efficientnet", tv("efficientnet_b6"), 528, "EfficientNetB6"),
    "efficientnet_b7": ("efficientnet", tv("efficientnet_b7"), 600, "EfficientNetB7"),
    "inception_v3": ("inception", tv("inception_v3", aux_logits=False, init_weights=False), 299,
                     "InceptionV3"),
    "googlenet": ("inception", tv("googlenet", aux_logits=False, init_weights=False), 224, ""),
    "mnasnet1_0": ("nas", tv("mnasnet1_0"), 224, "NASNetMobile"),
    "regnet_y_400mf": ("nas", tv("regnet_y_400mf"), 224, ""),
    "regnet_y_8gf": ("nas", tv("regnet_y_8gf"), 224, "NASNetLarge"),
    "shufflenet_v2_x1_0": ("mobile", tv("shufflenet_v2_x1_0"), 224, ""),
    "squeezenet1_1": ("mobile", tv("squeezenet1_1"), 224, ""),
}


# Tiny networks for tests: each well under 1 MB, built and exported in well under a second.
class TinyCnn(nn.Module):
    def __init__(self, width=16, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Linear(2 * width, classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class TinyResidual(nn.Module):
    def __init__(self, width=32, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU())
        self.block = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width),
                                   nn.ReLU(), nn.Conv2d(width, width, 3, padding=1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width, classes)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(x + self.block(x))
        return self.classifier(torch.flatten(self.pool(x), 1))


class TinyMobile(nn.Module):
    """Depthwise-separable block with ReLU6 (exports as Clip: checks the opset-10 fix)."""

    def __init__(self, width=24, classes=10):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU6(),
            nn.Conv2d(width, width, 3, padding=1, groups=width), nn.ReLU6(),
            nn.Conv2d(width, 2 * width, 1), nn.BatchNorm2d(2 * width), nn.ReLU6(),
            nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Linear(2 * width, classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.body(x), 1))


class TinyDense(nn.Module):
    """Concatenating block (DenseNet-like)."""

    def __init__(self, growth=12, classes=10):
        super().__init__()
        self.stem = nn.Conv2d(3, 2 * growth, 3, padding=1)
        self.layer1 = nn.Sequential(nn.BatchNorm2d(2 * growth), nn.ReLU(),
                                    nn.Conv2d(2 * growth, growth, 3, padding=1))
        self.layer2 = nn.Sequential(nn.BatchNorm2d(3 * growth), nn.ReLU(),
                                    nn.Conv2d(3 * growth, growth, 3, padding=1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * growth, classes)

    def forward(self, x):
        x = self.stem(x)
        x = torch.cat([x, self.layer1(x)], 1)
        x = torch.cat([x, self.layer2(x)], 1)
        return self.classifier(torch.flatten(self.pool(x), 1))


class TinyMlp(nn.Module):
    def __init__(self, features=64, hidden=384, classes=10):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, classes))

    def forward(self, x):
        return self.net(x)


TINY_MODELS = {
    # name: (family, builder, input shape without batch)
    "tiny_cnn": ("tiny", lambda: TinyCnn(), (3, 32, 32)),
    "tiny_resnet": ("tiny", lambda: TinyResidual(), (3, 32, 32)),
    "tiny_mobilenet": ("tiny", lambda: TinyMobile(), (3, 32, 32)),
    "tiny_densenet": ("tiny", lambda: TinyDense(), (3, 32, 32)),
    "tiny_mlp": ("tiny", lambda: TinyMlp(), (64,)),
}

FORMATS = {"onnx": ("onnx", "model.onnx"), "torchscript": ("pt", "model.pt")}


def fix_for_opencv(model_proto):
    """Rewrites what OpenCV 4.6's ONNX importer rejects (docs/zoo.md):
    - an Identity node fed by an initializer becomes a renamed copy of that initializer;
    - any other Identity node is bypassed (its consumers read its input), unless it feeds a
      graph output.
    Returns the number of nodes removed."""
    graph = model_proto.graph
    initializers = {init.name: init for init in graph.initializer}
    graph_outputs = {out.name for out in graph.output}
    removed = 0
    rename = {}
    kept = []
    for node in graph.node:
        if node.op_type != "Identity" or len(node.input) != 1:
            kept.append(node)
            continue
        source = node.input[0]
        target = node.output[0]
        if source in initializers:
            copy = onnx.TensorProto()
            copy.CopyFrom(initializers[source])
            copy.name = target
            graph.initializer.append(copy)
            initializers[target] = copy
            removed += 1
        elif target not in graph_outputs:
            rename[target] = rename.get(source, source)
            removed += 1
        else:
            kept.append(node)
    for node in kept:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    del graph.node[:]
    graph.node.extend(kept)
    # Drop initializers nobody reads any more.
    used = {name for node in graph.node for name in node.input} | graph_outputs
    unused = [init for init in graph.initializer if init.name not in used]
    for init in unused:
        graph.initializer.remove(init)
    return removed


def export_onnx(module, example, path):
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.onnx")
        torch.onnx.export(module, example, raw, opset_version=10, do_constant_folding=True,
                          input_names=["input"], output_names=["output"])
        proto = onnx.load(raw)
    fix_for_opencv(proto)
    onnx.checker.check_model(proto)
    onnx.save(proto, path)


def export_torchscript(module, example, path, metadata):
    with torch.no_grad():
        traced = torch.jit.trace(module, example, check_trace=False)
    torch.jit.save(traced, path, _extra_files={"brulee.json": json.dumps(metadata)})


def parse_bytes(text):
    units = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "kib": 1024, "m": 1e6, "mb": 1e6,
             "mib": 1024 ** 2, "g": 1e9, "gb": 1e9, "gib": 1024 ** 3, "t": 1e12, "tb": 1e12,
             "tib": 1024 ** 4}
    stripped = text.strip().lower()
    number = stripped.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = stripped[len(number):]
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if unit not in units or value < 0:
        fail(EXIT_USAGE, f"--budget: '{text}' is not a size (e.g. 2GiB, 500MB, 1e9)")
    return int(value * units[unit])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="", help="repository folder to write")
    parser.add_argument("--tiny", action="store_true", help="tiny test models only (< 1 MB)")
    parser.add_argument("--families", default="", help="comma-separated families (default all)")
    parser.add_argument("--models", default="", help="comma-separated architectures")
    parser.add_argument("--format", default="both", choices=["onnx", "torchscript", "both"])
    parser.add_argument("--budget", default="", help="stop adding models past this many bytes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument("--list", action="store_true", help="print the architectures and exit")
    parser.add_argument("--force", action="store_true", help="re-export models already present")
    args = parser.parse_args()

    table = TINY_MODELS if args.tiny else FULL_MODELS
    if args.list:
        for name, entry in table.items():
            print(f"{name:22s} {entry[0]}")
        return 0
    if not args.out:
        fail(EXIT_USAGE, "--out DIR is required")
    names = list(table)
    if args.families:
        wanted = [f.strip() for f in args.families.split(",") if f.strip()]
        known = sorted({entry[0] for entry in table.values()})
        for family in wanted:
            if family not in known:
                fail(EXIT_USAGE, f"--families: unknown family '{family}' (known: {', '.join(known)})")
        names = [n for n in names if table[n][0] in wanted]
    if args.models:
        wanted = [m.strip() for m in args.models.split(",") if m.strip()]
        for model in wanted:
            if model not in table:
                fail(EXIT_USAGE, f"--models: unknown architecture '{model}' (see --list)")
        names = [n for n in names if n in wanted]
    formats = ["onnx", "torchscript"] if args.format == "both" else [args.format]
    budget = parse_bytes(args.budget) if args.budget else None
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    os.makedirs(args.out, exist_ok=True)
    catalog_path = os.path.join(args.out, "zoo_catalog.json")
    catalog = {"generator": "brulee zoo", "torch": torch.__version__,
               "torchvision": torchvision.__version__, "models": []}
    if os.path.exists(catalog_path):
        try:
            with open(catalog_path) as f:
                catalog["models"] = json.load(f).get("models", [])
        except (OSError, ValueError):
            catalog["models"] = []
    entries = {entry["name"]: entry for entry in catalog["models"]}
    used_bytes = 0
    skipped = []
    failed = []
    for index, arch in enumerate(names):
        entry = table[arch]
        family, builder = entry[0], entry[1]
        if args.tiny:
            shape = (1,) + tuple(entry[2])
            paper = ""
        else:
            shape = (1, 3, entry[2], entry[2])
            paper = entry[3]
        torch.manual_seed(args.seed + index)
        module = builder().eval()
        params = sum(p.numel() for p in module.parameters())
        estimate = 4 * params * len(formats)
        if budget is not None and used_bytes + estimate > budget:
            skipped.append(arch)
            print(f"skip {arch}: {estimate / 1e6:.1f} MB would exceed the budget", flush=True)
            continue
        example = torch.rand(*shape)
        for fmt in formats:
            suffix, file_name = FORMATS[fmt]
            name = f"{arch}-{suffix}"
            model_dir = os.path.join(args.out, name)
            path = os.path.join(model_dir, "1", file_name)
            with torch.no_grad():
                out_shape = list(module(example).shape)
            config = {
                "backend": fmt,
                "inputs": [{"name": "input", "dtype": "FP32", "shape": list(shape)}],
                "outputs": [{"name": "output", "dtype": "FP32", "shape": out_shape}],
                "preprocessing": ({"kind": "image", "layout": "NCHW", "size": list(shape[2:]),
                                   "scale": 1.0 / 255, "mean": [0.485, 0.456, 0.406],
                                   "std": [0.229, 0.224, 0.225]}
                                  if len(shape) == 4 else {"kind": "none"}),
                "labels": [f"class_{i}" for i in range(min(out_shape[-1], 10))]
                if args.tiny else [],
                "architecture": arch,
                "family": family,
            }
            if os.path.exists(path) and not args.force and name in entries:
                print(f"have {name}", flush=True)
                used_bytes += os.path.getsize(path)
                continue
            os.makedirs(os.path.dirname(path), exist_ok=True)
            start = time.monotonic()
            partial = path + ".partial"
            try:
                if fmt == "onnx":
                    export_onnx(module, example, partial)
                else:
                    export_torchscript(module, example, partial, config)
                os.replace(partial, path)
            except Exception as error:  # export failures name the model and carry on
                if os.path.exists(partial):
                    os.remove(partial)
                reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
                print(f"zoo: {name}: export failed: {reason}", file=sys.stderr, flush=True)
                failed.append(name)
                continue
            with open(os.path.join(model_dir, "config.json"), "w") as f:
                json.dump(config, f, indent=2)
            file_bytes = os.path.getsize(path)
            used_bytes += file_bytes
            entries[name] = {"name": name, "architecture": arch, "family": family,
                             "format": fmt, "paper_model": paper, "params": params,
                             "file_bytes": file_bytes, "input_shape": list(shape),
                             "path": os.path.join(name, "1", file_name)}
            print(f"wrote {name}: {file_bytes / 1e6:.2f} MB, {params / 1e6:.2f} M params, "
                  f"{time.monotonic() - start:.1f} s", flush=True)
    catalog["models"] = sorted(entries.values(), key=lambda e: e["name"])
    with open(catalog_path + ".partial", "w") as f:
        json.dump(catalog, f, indent=2)
    os.replace(catalog_path + ".partial", catalog_path)
    print(f"zoo: {len(catalog['models'])} models in {args.out}"
          + (f", skipped over budget: {', '.join(skipped)}" if skipped else ""), flush=True)
    if failed:
        print(f"zoo: export failed for {', '.join(failed)}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


if __name__ == "__main__":
    sys.exit(main())
