"""The 5x5 stride-2 (transposed) convolutions, each direction computed in its fastest exact form.

Every conv_* architecture is built from one linear map and its transpose. With u an image
[B, 2n, 2n, C_u] and w a (5, 5, C_u, C_z) kernel:

  down(u, w)    = nn.Conv(C_z, (5, 5), strides=2, padding='SAME'):  z[m] = sum_t w[t] u[2m + t - 1]
  up(z, w)      = the transpose of down w.r.t. u (a [B, n, n, C_z] -> [B, 2n, 2n, C_u] map)
  wgrad(u, zb)  = the transpose of down w.r.t. w:  sum_m u[2m + t - 1] zb[m]   (a 5x5 kernel)

The encoder's FastConv is down; the decoder's FastConvTranspose(x, k) is up(x, flip(k)^T): flax's
ConvTranspose (lax.conv_transpose, kernel not transposed) with kernel k (5, 5, C_x, C_y) equals
up with the spatially flipped, in/out-swapped kernel `swap(k)`. So the backward pass of each
layer is made of the other two maps:

  FastConv           forward down(u, w);   du = up(zb, w),    dw = wgrad(u, zb)
  FastConvTranspose  forward up(x, w);     dx = down(yb, w),  dw = wgrad(yb, x)   (w = swap(k))

(Each map is a bilinear primitive whose jvp and transposes are these maps, see `_bilinear`:
plain autodiff of lax.conv_transpose instead differentiates the kernel of an input-dilated
convolution, which XLA's CPU backend runs 10-20x slower.) Each map has one form per platform,
the fastest exact one measured (benchmarks/conv_ops.py, benchmarks/train_step.py), which the CPU
policy (cpu/policy.py) picks:

- down: XLA's own strided convolution (lax.conv_general_dilated);
- up: a stride-1 3x3 convolution to 4x the channels followed by depth-to-space (below), or,
  where convolutions run in XLA's Eigen runtime (cpu/xla_options.py: x86 CPUs with AVX2), the
  same kernel split by output-row parity into a 2x3 and a 3x3 convolution (`up_rows`), faster there;
- wgrad: XLA's kernel gradient of the strided convolution;
- with oneDNN's maps switched on (opt-in, cpu/onednn.py: faster on Intel AVX-512 and AMD Zen 4),
  through oneDNN's convolution primitives, as TensorFlow runs them (FFI custom calls), the maps
  measured faster there: all three for image sides of at least 14x14 with at most 64 channels,
  down and wgrad of the RGB / grey layers;
- otherwise, when the image side has at most `policy.PATCHES_MAX_CHANNELS` channels (the RGB / grey
  layers), down and wgrad are one matrix product with the 5x5 patches of u (im2col), which beats
  a convolution with 1-3 input channels several times; on the CPU, up is then that product's
  transpose (col2im, `up_patches`): 14x14x64 -> 28x28x1 at batch 256 in 3.8 ms against the
  row-phase form's 20.4 and TensorFlow's 16.6 (AMD EPYC Zen 4, Eigen convolutions; 5.5 against
  the sub-pixel form's 10.4 with XLA's defaults). Not measured on GPUs or TPUs, so not used
  there. wgrad takes the patches taps first (`_patches_taps_major`, each tap one contiguous
  block): the same products (the 16 smoke goldens stay bit-identical), 28x28x1 at batch 256 in
  3.5 ms against 5.2 for the pixel-major patches, 32x32x3 in 24 against 29 (Zen 4).

The sub-pixel form of up. lax.conv_transpose with SAME padding dilates its input by 2 and pads
3 before, 2 after: y[o] = sum_t k[t] x[(o + t - 3) / 2] over even (o + t - 3). For o = 2m the taps
are x[m-1], x[m] (t = 1, 3); for o = 2m + 1 they are x[m-1], x[m], x[m+1] (t = 0, 2, 4): one 3-tap
stride-1 convolution with 4x the output channels, kernel rows even: [k1, k3, 0], odd:
[k0, k2, k4], followed by depth-to-space. The 3x3 kernels are gathered from the stored 5x5
kernel inside the forward pass.

FastDense is nn.Dense with its kernel gradient x^T y_bar in `dense_wgrad`: oneDNN's sgemm where
it applies (faster than XLA's product for it, onednn.py), else the product autodiff forms.

The parameters are the same (5, 5, C_in, C_out) kernel (a dense layer's (I, O)) and bias as
flax's layers, so checkpoints are interchangeable with `model.fast_layers=False`. Spatial sizes
must be even (all architectures here); tests/layers_test.py proves equality of outputs and
gradients with flax's nn.Conv / nn.ConvTranspose / nn.Dense for every layer shape used.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from pga_jax.cpu import onednn, policy

_DIMS = ("NHWC", "HWIO", "NHWC")
_ZERO = 5  # index of the zero row appended to the 5-tap kernel
# For each output phase of up, which of the 5 taps (or the zero tap) multiplies window
# positions -1, 0, +1 of the input.
_UP_TAPS = ((1, 3, _ZERO), (0, 2, 4))


def swap(kernel: jax.Array) -> jax.Array:
    """(5, 5, I, O) -> (5, 5, O, I), spatially flipped: ConvTranspose's kernel <-> up's kernel.

    An involution: swap(swap(k)) == k.
    """
    return jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2)


def space_to_depth(x: jax.Array) -> jax.Array:
    """(B, H, W, C) -> (B, H/2, W/2, 4C), channel order (py, px, c)."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h // 2, w // 2, 4 * c)


def depth_to_space(x: jax.Array) -> jax.Array:
    """(B, H, W, 4C) with channel order (py, px, c) -> (B, 2H, 2W, C)."""
    b, h, w, c4 = x.shape
    c = c4 // 4
    x = x.reshape(b, h, w, 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, 2 * h, 2 * w, c)


def _same_pads(size: int) -> tuple[int, int]:
    """lax 'SAME' padding of a 5-tap stride-2 window: total (ceil(n/2) - 1) * 2 + 5 - n."""
    total = max((-(-size // 2) - 1) * 2 + 5 - size, 0)
    return total // 2, total - total // 2


def _taps(u: jax.Array) -> list[jax.Array]:
    """The 25 window taps of u's 5x5 stride-2 SAME patches, order (ty, tx): [B, H/2, W/2, C]."""
    _, h, w, _ = u.shape
    up = jnp.pad(u, ((0, 0), _same_pads(h), _same_pads(w), (0, 0)))
    ho, wo = -(-h // 2), -(-w // 2)
    return [
        up[:, ty : ty + 2 * ho - 1 : 2, tx : tx + 2 * wo - 1 : 2, :]
        for ty in range(5)
        for tx in range(5)
    ]


def _patches(u: jax.Array) -> jax.Array:
    """The 5x5 stride-2 SAME patches of u: [B, H/2, W/2, 25 C], order (ty, tx, c) like w."""
    return jnp.concatenate(_taps(u), axis=-1)


def _patches_taps_major(u: jax.Array) -> jax.Array:
    """The same patches taps first, [25 C, B, H/2, W/2]: each tap (and channel) one contiguous
    block, the operand layout of the kernel gradient's product (faster than `_patches`, which
    XLA transposes for that product: see the module docstring)."""
    return jnp.stack([tap[..., c] for tap in _taps(u) for c in range(u.shape[-1])])


def _down_patches(u: jax.Array, w: jax.Array) -> jax.Array:
    """down as one matrix product with the 5x5 patches of u (im2col)."""
    return jnp.einsum("bhwk,ko->bhwo", _patches(u), w.reshape(-1, w.shape[-1]))


def down_forms(u: jax.Array, w: jax.Array) -> jax.Array:
    """5x5 stride-2 SAME convolution: [B, H, W, C_u] x (5, 5, C_u, C_z) -> [B, H/2, W/2, C_z],
    in the form the CPU policy picks (a plain function of lax ops: not differentiable by its
    own rules, see `down`)."""
    form = policy.conv_form("down", u, u.shape[1], u.shape[-1])
    if form == "onednn":
        return onednn.down(u, w)
    if form == "patches":
        return _down_patches(u, w)
    return jax.lax.conv_general_dilated(u, w, (2, 2), "SAME", dimension_numbers=_DIMS)


def wgrad_forms(u: jax.Array, z_bar: jax.Array) -> jax.Array:
    """d<z_bar, down(u, w)>/dw: the (5, 5, C_u, C_z) kernel gradient of `down`."""
    c_u, c_z = u.shape[-1], z_bar.shape[-1]
    form = policy.conv_form("wgrad", u, u.shape[1], c_u)
    if form == "onednn":
        return onednn.wgrad(u, z_bar)
    if form == "patches":
        return jnp.einsum("kbhw,bhwo->ko", _patches_taps_major(u), z_bar).reshape(5, 5, c_u, c_z)
    kernel = jax.ShapeDtypeStruct((5, 5, c_u, c_z), u.dtype)
    return jax.linear_transpose(lambda w: down_forms(u, w), kernel)(z_bar)[0]


def _up_kernel(w: jax.Array) -> jax.Array:
    """up's kernel w (5, 5, C_u, C_z) -> the sub-pixel (3, 3, C_z, 4 C_u) stride-1 kernel."""
    k = jnp.pad(swap(w), ((0, 1), (0, 1), (0, 0), (0, 0)))  # ConvTranspose kernel; tap 5 = 0
    idx = jnp.asarray(_UP_TAPS)  # [phase, window]
    k = k[idx][:, :, idx]  # (2, 3, 2, 3, C_z, C_u)  [py, a, px, b]
    c_z, c_u = w.shape[3], w.shape[2]
    return k.transpose(1, 3, 4, 0, 2, 5).reshape(3, 3, c_z, 4 * c_u)


def up_subpixel(z: jax.Array, w: jax.Array) -> jax.Array:
    """up as one 3x3 stride-1 convolution to 4 C_u channels, then depth-to-space (36 taps)."""
    y = jax.lax.conv_general_dilated(
        z, _up_kernel(w), (1, 1), ((1, 1), (1, 1)), dimension_numbers=_DIMS
    )
    return depth_to_space(y)


def up_rows(z: jax.Array, w: jax.Array) -> jax.Array:
    """up as two convolutions, one per output-row parity py (30 taps instead of 36).

    Even rows see input rows m-1, m (window rows 0, 1 of the sub-pixel kernel, its row 2 is
    zero there), odd rows m-1, m, m+1: a 2x3 and a 3x3 stride-1 convolution to 2 C_u channels
    (px, c), interleaved row by row.
    """
    b, n, m, c_z = z.shape
    c_u = w.shape[2]
    k = _up_kernel(w).reshape(3, 3, c_z, 2, 2 * c_u)  # [a, b, c_z, py, (px, c)]
    even = jax.lax.conv_general_dilated(
        z, k[:2, :, :, 0], (1, 1), ((1, 0), (1, 1)), dimension_numbers=_DIMS
    )
    odd = jax.lax.conv_general_dilated(
        z, k[:, :, :, 1], (1, 1), ((1, 1), (1, 1)), dimension_numbers=_DIMS
    )
    return jnp.stack([even, odd], 2).reshape(b, 2 * n, 2 * m, c_u)


def up_patches(z: jax.Array, w: jax.Array) -> jax.Array:
    """up as the transpose of down's im2col product (col2im): each code pixel's 25 C_u taps
    z @ W^T, added into the image where the 5x5 windows overlap (the transpose of the patches'
    strided slices, which XLA fuses into one loop)."""
    b, n, m, _ = z.shape
    u = jax.ShapeDtypeStruct((b, 2 * n, 2 * m, w.shape[2]), z.dtype)
    return jax.linear_transpose(lambda v: _down_patches(v, w), u)(z)[0]


def up_forms(z: jax.Array, w: jax.Array) -> jax.Array:
    """The transpose of down(., w): [B, n, n, C_z] -> [B, 2n, 2n, C_u].

    On the CPU, with at most `policy.PATCHES_MAX_CHANNELS` image channels, the col2im form
    (the transpose of down's im2col form); otherwise oneDNN's where it is on (cpu/onednn.py),
    the row-phase form where convolutions run in XLA's Eigen runtime (cpu/xla_options.py), the
    sub-pixel form elsewhere: each is the faster one there.
    """
    form = policy.conv_form("up", z, 2 * z.shape[1], w.shape[2])
    if form == "patches":
        return up_patches(z, w)
    if form == "onednn":
        return onednn.up(z, w)
    return (up_rows if form == "rows" else up_subpixel)(z, w)


def dense_wgrad_forms(x: jax.Array, y_bar: jax.Array) -> jax.Array:
    """d<y_bar, x @ k>/dk = x^T y_bar: a dense layer's [I, O] kernel gradient, in oneDNN's
    sgemm where it is on (cpu/onednn.py), else XLA's product."""
    if policy.dense_wgrad_form(x) == "onednn":
        return onednn.matmul(x, y_bar, trans_a=True)
    return jnp.einsum("bi,bo->io", x, y_bar)


# ----------------------------------------------------------------------------------------------
# The maps as bilinear primitives: each is differentiated by its own rules, never through its
# forms, so the networks compose like any JAX function (grad, grad of grad, jvp / jacfwd, vmap,
# jax.export) whatever form runs.
#
# A bilinear map f(a, b) has the tangent f(da, b) + f(a, db) (jvp) and two transposes, one per
# argument. For the three convolution maps these transposes are the other maps:
#
#   down(u, w):    u -> up(ct, w),      w -> wgrad(u, ct)
#   up(z, w):      z -> down(ct, w),    w -> wgrad(ct, z)
#   wgrad(u, zb):  u -> up(zb, ct),     zb -> down(u, ct)     (<W, wgrad(u, zb)> = <zb, down(u, W)>)
#
# so a gradient runs the fast forms of the maps, and a gradient of a gradient, a jvp of a
# gradient, ... do too. A dense layer x @ k is the same with matmul's transposes and its
# kernel gradient dense_wgrad(x, yb) = x^T yb. Under vmap a map runs its forms vmapped.
# ----------------------------------------------------------------------------------------------


def _scope(precision):
    """jax.default_matmul_precision(precision), or nothing for None (the device's default)."""
    return jax.default_matmul_precision(precision) if precision else contextlib.nullcontext()


def _bilinear(name: str, forms: Callable, lhs_transpose: Callable, rhs_transpose: Callable):
    """A primitive computing `forms(a, b)` (bilinear) with its jvp from bilinearity and its
    transposes lhs_transpose(ct, b) (w.r.t. a) and rhs_transpose(a, ct) (w.r.t. b).

    Like lax.dot_general, it carries the matmul precision in force where it is called
    (`jax.default_matmul_precision`, config.precision): its forms are lowered under it, and
    its tangents, transposes and batched forms keep it, so a gradient runs at the precision of
    its forward pass."""
    prim = Primitive(f"pga_{name}")

    def forms_at(a, b, *, precision):
        with _scope(precision):
            return forms(a, b)

    def lhs(ct, a, b, *, precision):
        with _scope(precision):
            return lhs_transpose(ct, b)

    def rhs(ct, a, b, *, precision):
        with _scope(precision):
            return rhs_transpose(a, ct)

    def batched(args, dims, *, precision):
        fn = functools.partial(forms_at, precision=precision)
        return jax.vmap(fn, in_axes=tuple(dims))(*args), 0  # unmapped: None

    prim.def_impl(forms_at)
    prim.def_abstract_eval(
        lambda a, b, *, precision: jax.core.ShapedArray(jax.eval_shape(forms, a, b).shape, a.dtype)
    )
    ad.defbilinear(prim, lhs, rhs)
    batching.primitive_batchers[prim] = batched
    mlir.register_lowering(prim, mlir.lower_fun(forms_at, multiple_results=False))

    def bind(a, b):
        return prim.bind(a, b, precision=jax.config.jax_default_matmul_precision)

    return bind


def down(u: jax.Array, w: jax.Array) -> jax.Array:
    """5x5 stride-2 SAME convolution: [B, H, W, C_u] x (5, 5, C_u, C_z) -> [B, H/2, W/2, C_z]."""
    return _down(u, w)


def up(z: jax.Array, w: jax.Array) -> jax.Array:
    """The transpose of down(., w): [B, n, n, C_z] -> [B, 2n, 2n, C_u]."""
    return _up(z, w)


def wgrad(u: jax.Array, z_bar: jax.Array) -> jax.Array:
    """d<z_bar, down(u, w)>/dw: the (5, 5, C_u, C_z) kernel gradient of `down`."""
    return _wgrad(u, z_bar)


def dense_wgrad(x: jax.Array, y_bar: jax.Array) -> jax.Array:
    """d<y_bar, x @ k>/dk = x^T y_bar: a dense layer's [I, O] kernel gradient."""
    return _dense_wgrad(x, y_bar)


def dense_matmul(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """x @ kernel, its kernel gradient from `dense_wgrad`."""
    return _dense_matmul(x, kernel)


_down = _bilinear("down", down_forms, lambda ct, w: up(ct, w), lambda u, ct: wgrad(u, ct))
_up = _bilinear("up", up_forms, lambda ct, w: down(ct, w), lambda z, ct: wgrad(ct, z))
_wgrad = _bilinear("wgrad", wgrad_forms, lambda ct, zb: up(zb, ct), lambda u, ct: down(u, ct))
_dense_matmul = _bilinear(
    "dense_matmul", jnp.matmul, lambda ct, k: ct @ k.T, lambda x, ct: dense_wgrad(x, ct)
)
_dense_wgrad = _bilinear(
    "dense_wgrad", dense_wgrad_forms, lambda ct, yb: yb @ ct.T, lambda x, ct: x @ ct
)


def _check_even(x: jax.Array, layer: str) -> None:
    if x.shape[1] % 2 or x.shape[2] % 2:
        raise ValueError(f"{layer} needs even spatial sizes, got {x.shape[1:3]}")


class _FastLayer(nn.Module):
    """y = op(x, kernel) (+ bias), with the parameters (names, shapes, initialisers) of flax's
    layer: the frame of the fast layers below."""

    features: int
    use_bias: bool = True
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros

    def kernel_shape(self, x: jax.Array) -> tuple[int, ...]:
        raise NotImplementedError

    def op(self, x: jax.Array, kernel: jax.Array) -> jax.Array:
        raise NotImplementedError

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", self.kernel_init, self.kernel_shape(x))
        y = self.op(x, kernel)
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,))
        return y


class FastConv(_FastLayer):
    """== nn.Conv(features, (5, 5), strides=(2, 2), padding='SAME') for even input sizes."""

    def kernel_shape(self, x):
        return (5, 5, x.shape[-1], self.features)

    def op(self, x, kernel):
        _check_even(x, "FastConv")
        return down(x, kernel)


class FastConvTranspose(_FastLayer):
    """== nn.ConvTranspose(features, (5, 5), strides=(2, 2), padding='SAME')."""

    def kernel_shape(self, x):
        return (5, 5, x.shape[-1], self.features)

    def op(self, x, kernel):
        return up(x, swap(kernel))


class FastDense(_FastLayer):
    """== nn.Dense(features) on [B, I] inputs, its kernel gradient from `dense_wgrad`."""

    def kernel_shape(self, x):
        if x.ndim != 2:
            raise ValueError(f"FastDense takes [batch, features] inputs, got shape {x.shape}")
        return (x.shape[-1], self.features)

    def op(self, x, kernel):
        return dense_matmul(x, kernel)
