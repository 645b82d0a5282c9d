"""`ctcasr export`: a model as ONNX or TorchScript in a folder that `--model DIR` runs.

The folder holds the network (`model.onnx` or `model.pt`: waveforms (B, N) float32 and lengths (B,) int64 in,
log-probs (B, T, V) and frame lengths (B,) out; the log-mel features are inside the graph), `ctcasr-export.json`
(tokenizer, feature settings, frame duration, the network file's sha256 and where it came from) and, when the
model has one, its tuned decoding file `model.decoding.yaml` with the LMs it names. The ONNX graph computes the
STFT as a strided convolution with windowed DFT kernels (ONNX has no complex STFT output): the same numbers as
PyTorch's FFT to float rounding. The ONNX backend needs onnxruntime and NumPy, not PyTorch.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np

from ctcasr.acoustic import pad_waves
from ctcasr.errors import UserError
from ctcasr.units import tokenizer_from_dict

FORMAT = "ctcasr-export"
VERSION = 1
SIDECAR = "ctcasr-export.json"
FILES = {"onnx": "model.onnx", "torchscript": "model.pt"}
DECODING = "model.decoding.yaml"
OPSET = 17


def _example(sample_rate: int):
    import torch

    g = torch.Generator().manual_seed(0)
    waves = torch.randn(2, sample_rate * 2, generator=g) * 0.1
    return waves, torch.tensor([sample_rate * 2, sample_rate * 3 // 2])


def _network(model):
    """The model as a module of (waves, lengths) only, without the training-time arguments."""
    import torch

    class Network(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, waves: torch.Tensor, lengths: torch.Tensor):
            return self.model(waves, lengths)

    return Network().eval()


def _write_onnx(model, path: Path) -> None:
    import copy

    import torch

    model = copy.deepcopy(model).cpu().eval()
    model.features.use_dft_conv()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter is deprecated, and says so per RNN
        torch.onnx.export(_network(model), _example(model.sample_rate), str(path), dynamo=False,
                          input_names=["waves", "lengths"], output_names=["log_probs", "frames"],
                          dynamic_axes={"waves": {0: "batch", 1: "samples"}, "lengths": {0: "batch"},
                                        "log_probs": {0: "batch", 1: "time"}, "frames": {0: "batch"}},
                          opset_version=OPSET)


def _write_torchscript(model, path: Path) -> None:
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about shape arithmetic, which stays symbolic
        traced = torch.jit.trace(_network(model.cpu().eval()), _example(model.sample_rate), check_trace=False)
    traced.save(str(path))


def _quantize(path: Path) -> None:
    """int8 weights for the encoder's convolutions and matrix products (dynamic quantisation: activations stay
    float). The feature front end (DFT and mel matrices) stays float: int8 spectra cost accuracy for nothing.
    onnxruntime has no int8 GRU, so a DeepSpeech2's recurrent layers stay float too."""
    import contextlib
    import io
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    features = [n.name for n in onnx.load(str(path), load_external_data=False).graph.node
                if n.name.startswith("/model/features/")]
    tmp = path.with_name(path.stem + ".int8.tmp.onnx")
    logging.disable(logging.WARNING)  # it advises pre-processing on the root logger, every time
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # and prints its progress
            quantize_dynamic(str(path), str(tmp), weight_type=QuantType.QInt8, nodes_to_exclude=features,
                             op_types_to_quantize=["Conv", "MatMul", "Gemm"])
    finally:
        logging.disable(logging.NOTSET)
    os.replace(tmp, path)


def export_model(model_path: str | os.PathLike, fmt: str, out_dir: str | os.PathLike,
                 quantize: str | None = None, decoding: bool = True) -> dict:
    """Write the export folder (each file under a temporary name, then renamed) and return its sidecar;
    `decoding`: with the model's decoding file and the LMs it names, when it has one."""
    from ctcasr.checkpoint import load_model
    from ctcasr.data.download import file_digest
    from ctcasr.decoding.settings import model_decoding_path
    from ctcasr.files import atomic_path, check_output_dir, write_json

    if fmt not in FILES:
        raise UserError(f"unknown export format {fmt!r}; use onnx or torchscript")
    if quantize not in (None, "int8"):
        raise UserError(f"unknown quantisation {quantize!r}; use int8")
    if quantize and fmt != "onnx":
        raise UserError("--quantize int8 is for --format onnx (onnxruntime's dynamic quantisation)")
    if fmt == "onnx":
        _require_onnx()
    model_path = Path(model_path)
    if model_path.is_dir():
        raise UserError("already an exported model folder; export a checkpoint (.pt) or a registered name",
                        model_path)
    out = check_output_dir(out_dir)
    model = load_model(model_path, "cpu")
    started = time.time()
    target = out / FILES[fmt]
    with atomic_path(target) as tmp:
        if fmt == "onnx":
            _write_onnx(model, tmp)
            if quantize:
                _quantize(tmp)
        else:
            _write_torchscript(model, tmp)
    for other in FILES.values():  # a folder holds one network: an earlier export of the other format goes
        if other != FILES[fmt]:
            (out / other).unlink(missing_ok=True)
    decoding_file = model_decoding_path(model_path)
    if decoding and decoding_file.is_file():
        _copy_decoding(decoding_file, out)
    else:
        (out / DECODING).unlink(missing_ok=True)
    sidecar = {
        "format": FORMAT, "version": VERSION, "runtime": fmt, "file": target.name,
        "sha256": file_digest(target, "sha256"), "quantize": quantize,
        "source": {"model": str(model_path), "sha256": file_digest(model_path, "sha256")},
        "arch": model.arch, "sample_rate": model.sample_rate, "frame_seconds": model.frame_seconds,
        "min_samples": model.features.config.win_length, "tokenizer": model.tokenizer.to_dict(),
        "features": dataclasses.asdict(model.features.config), "model": dataclasses.asdict(model.encoder.config),
        "metadata": {k: v for k, v in getattr(model, "metadata", {}).items() if isinstance(v, str | int | float)},
        "inputs": {"waves": "(batch, samples) float32 mono at sample_rate, zero-padded",
                   "lengths": "(batch,) int64 valid samples"},
        "outputs": {"log_probs": "(batch, time, vocabulary) float32 CTC log-probs, blank = 0",
                    "frames": "(batch,) int64 valid frames"},
        "export_seconds": round(time.time() - started, 2),
    }
    write_json(out / SIDECAR, sidecar)
    return sidecar


def _copy_decoding(decoding: Path, out: Path) -> None:
    """The model's decoding file and the files it names (relative paths keep working beside it)."""
    from ctcasr.decoding.settings import load_decoding, save_decoding

    config = load_decoding(decoding)
    for key in ("lm", "rescore_lm", "hotwords"):
        source = getattr(config, key)
        if source:
            name = Path(os.path.relpath(source, decoding.parent))
            name = Path(name.name) if name.parts[0] == ".." else name
            target = out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if Path(source).resolve() != target.resolve():
                shutil.copyfile(source, target.with_name(target.name + ".tmp"))
                os.replace(target.with_name(target.name + ".tmp"), target)
            setattr(config, key, str(target))
    save_decoding(out / DECODING, config, {"copied_from": str(decoding)})


def _require_onnx(export: bool = True) -> None:
    """Exporting needs onnx and onnxruntime (the export is checked by loading it); running needs onnxruntime only
    (importing onnx costs half a second)."""
    try:
        if export:
            import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise UserError("ONNX models need onnx and onnxruntime: pip install 'ctcasr[export]'") from None


def read_sidecar(folder: Path) -> dict:
    """The export folder's sidecar, checked against the network file beside it."""
    from ctcasr.data.download import file_digest

    path = folder / SIDECAR
    if not path.is_file():
        raise UserError(f"not an exported model folder (no {SIDECAR}; make one with `ctcasr export`)", folder)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"not valid JSON ({exc})", path) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError("not a ctcasr export sidecar (no format marker)", path)
    if not isinstance(data.get("version"), int) or data["version"] > VERSION:
        raise UserError(f"export version {data.get('version')!r} is not one this ctcasr reads ({VERSION})", path)
    for key, kind in (("runtime", str), ("file", str), ("sha256", str), ("tokenizer", dict),
                      ("sample_rate", int), ("frame_seconds", float), ("min_samples", int)):
        if not isinstance(data.get(key), kind):
            raise UserError(f"sidecar is damaged: {key!r} is missing or not a {kind.__name__}", path)
    if data["runtime"] not in FILES or data["file"] != FILES[data["runtime"]]:
        raise UserError(f"sidecar names an unknown runtime or file ({data['runtime']!r}, {data['file']!r})", path)
    network = folder / data["file"]
    if not network.is_file():
        raise UserError(f"the sidecar's network file {data['file']} is missing", folder)
    if file_digest(network, "sha256") != data["sha256"]:
        raise UserError(f"{SIDECAR} describes another model ({data['file']} has a different sha256); export "
                        "again", folder)
    return data


class ExportedAcoustic:
    """An exported network with its sidecar; `run` is the runtime's forward pass on padded NumPy arrays."""

    def __init__(self, folder: Path, sidecar: dict):
        self.folder, self.sidecar = folder, sidecar
        self.tokenizer = tokenizer_from_dict(sidecar["tokenizer"], str(folder / SIDECAR))
        self.sample_rate = sidecar["sample_rate"]
        self.frame_seconds = sidecar["frame_seconds"]
        self.min_samples = sidecar["min_samples"]
        self.metadata = sidecar.get("metadata", {})
        self.description = f"{sidecar['runtime']} ({sidecar.get('arch')}" + \
            (f", {sidecar['quantize']})" if sidecar.get("quantize") else ")")

    def log_probs(self, waves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        batch, lengths = pad_waves(waves)
        return self.run(batch, lengths)

    def run(self, batch: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


def default_threads() -> int:
    """OMP_NUM_THREADS when set (the CLI's --threads sets it), else every core."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else (os.cpu_count() or 1)


class OnnxAcoustic(ExportedAcoustic):
    def __init__(self, folder: Path, sidecar: dict):
        super().__init__(folder, sidecar)
        _require_onnx(export=False)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = default_threads()
        options.inter_op_num_threads = 1
        if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE":  # a busy machine: waiting threads sleep
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(folder / sidecar["file"]), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own kinds for bad graphs
            raise UserError(f"onnxruntime cannot load it ({' '.join(str(exc).split())[:200]})",
                            folder / sidecar["file"]) from None

    def run(self, batch: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        log_probs, frames = self.session.run(None, {"waves": batch, "lengths": lengths})
        return log_probs, frames

    def threads(self) -> int:
        return default_threads()


class TorchScriptAcoustic(ExportedAcoustic):
    def __init__(self, folder: Path, sidecar: dict, device: str = "cpu"):
        super().__init__(folder, sidecar)
        import torch

        self.device = torch.device("cuda" if device in ("auto", "cuda") and torch.cuda.is_available() else "cpu")
        with warnings.catch_warnings():  # torch.jit.load is deprecated in favour of torch.export (not yet for RNNs)
            warnings.simplefilter("ignore", DeprecationWarning)
            self.network = torch.jit.load(str(folder / sidecar["file"]), map_location=self.device).eval()

    def run(self, batch: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            out, frames = self.network(torch.from_numpy(batch).to(self.device),
                                       torch.from_numpy(lengths).to(self.device))
        return out.float().cpu().numpy(), frames.cpu().numpy()

    def threads(self) -> int:
        import torch

        return torch.get_num_threads()


def open_export(folder: str | os.PathLike, device: str = "auto") -> ExportedAcoustic:
    folder = Path(folder)
    sidecar = read_sidecar(folder)
    if sidecar["runtime"] == "onnx":
        return OnnxAcoustic(folder, sidecar)
    return TorchScriptAcoustic(folder, sidecar, device)
