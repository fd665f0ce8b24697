"""The CPU formulations of jaxgan/models/cpu_conv.py against the lax ops: values, first and
second reverse-mode derivatives. DCGAN's 4x4 stride-2 convolutions over paddings, odd sizes
and channel counts on both sides of MIN_NATIVE_CHANNELS; StyleGAN2's up/down forms; every
torch-style convolution's (any kernel, stride, padding, dilation)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxgan.models import cpu_conv, layers

NHWC = ("NHWC", "HWIO", "NHWC")


def _lax_conv(x, k, p):
  return lax.conv_general_dilated(x, k, (2, 2), ((p, p), (p, p)), dimension_numbers=NHWC)


def _lax_conv_transpose(x, kernel, p):  # torch.nn.ConvTranspose2d semantics, as layers.py
  return lax.conv_transpose(x, kernel, (2, 2), ((3 - p, 3 - p),) * 2, dimension_numbers=NHWC)


def _inputs(shape, c_out, seed=0):
  kx, kk = jax.random.split(jax.random.PRNGKey(seed))
  return (jax.random.normal(kx, shape),
          0.3 * jax.random.normal(kk, (4, 4, shape[-1], c_out)))


def _assert_grads_equal(f_ref, f_new, *args, tol=1e-4):
  loss = lambda f: lambda *a: jnp.sum(jnp.sin(f(*a)))     # a non-trivial cotangent
  argnums = tuple(range(len(args)))
  for a, b in zip(jax.grad(loss(f_ref), argnums)(*args),
                  jax.jit(jax.grad(loss(f_new), argnums))(*args)):
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.fixture(params=["patch", "matmul"])
def regime(request, monkeypatch):
  """Every 4x4 stride-2 case twice: the space-to-depth forms, and the kernel-bound layers'
  matmul forms (thresholds forced to take every layer)."""
  big = request.param == "matmul"
  monkeypatch.setattr(cpu_conv, "MAX_PATCHES_PER_KERNEL", 1 << 30 if big else 0)
  monkeypatch.setattr(cpu_conv, "MAX_TRANSPOSE_POSITIONS", 1 << 30 if big else 0)
  return request.param


# Channel counts 3 and 4 take the im2col forward, 16 and 20 XLA's strided convolution.
CONV_CASES = [((2, 8, 8, 3), 1), ((2, 8, 8, 16), 1), ((2, 6, 10, 20), 1), ((2, 6, 6, 16), 0),
              ((2, 6, 6, 4), 2), ((2, 8, 8, 16), 2), ((3, 4, 4, 16), 1)]


@pytest.mark.parametrize("shape,padding", CONV_CASES)
def test_strided_conv_equals_lax(shape, padding, regime):
  x, k = _inputs(shape, 5)
  assert cpu_conv.supported(shape[1], shape[2], padding)
  ref = _lax_conv(x, k, padding)
  got = jax.jit(cpu_conv.strided_conv, static_argnums=2)(x, k, padding)
  assert got.shape == ref.shape
  np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4)
  _assert_grads_equal(lambda x, k: _lax_conv(x, k, padding),
                      lambda x, k: cpu_conv.strided_conv(x, k, padding), x, k)


@pytest.mark.parametrize("shape,padding", [((2, 4, 4, 16), 1), ((2, 1, 1, 4), 1),
                                           ((3, 5, 7, 6), 1), ((2, 8, 8, 20), 1),
                                           ((2, 4, 4, 16), 0), ((2, 5, 5, 3), 2)])
def test_transposed_conv_equals_lax(shape, padding, regime):
  x, kernel = _inputs(shape, 16 if shape[-1] < 16 else 3)    # both sides of the threshold
  ref = _lax_conv_transpose(x, kernel, padding)
  f = lambda x, k: cpu_conv.conv_transpose_stored(x, k, padding)
  got = jax.jit(f)(x, kernel)
  assert got.shape == ref.shape
  np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4)
  _assert_grads_equal(lambda x, k: _lax_conv_transpose(x, k, padding), f, x, kernel)


def test_adjoint_identity_and_kernel_grad():
  """<S x, y> = <x, S^T y>, and the kernel gradient is d<S(x, K), y>/dK, per primitive."""
  x, k = _inputs((2, 8, 8, 16), 8)
  y = jax.random.normal(jax.random.PRNGKey(3), (2, 4, 4, 8))
  lhs = jnp.vdot(cpu_conv.conv_forward(x, k, 1), y)
  rhs = jnp.vdot(x, cpu_conv.conv_adjoint(y, k, 1))
  np.testing.assert_allclose(lhs, rhs, rtol=1e-4)
  ref = jax.grad(lambda k: jnp.vdot(_lax_conv(x, k, 1), y))(k)
  np.testing.assert_allclose(cpu_conv.conv_kernel_grad(x, y, 1), ref, rtol=1e-4, atol=1e-4)


def test_gradient_penalty_second_order_equals_lax(regime):
  """WGAN-GP differentiates D's input gradient with respect to D's kernels: reverse over
  the custom VJPs' backward rules must equal reverse over the lax ops'."""
  x, k1 = _inputs((2, 8, 8, 4), 16)
  k2 = 0.3 * jax.random.normal(jax.random.PRNGKey(5), (4, 4, 16, 16))
  def d(conv):
    def f(x, k1, k2):
      h = jax.nn.leaky_relu(conv(x, k1), 0.2)
      return jnp.sum(jnp.tanh(conv(h, k2)))
    return f
  def penalty(conv):
    return lambda k1, k2: jnp.sum(jax.grad(d(conv))(x, k1, k2) ** 2)
  ref = jax.grad(penalty(lambda x, k: _lax_conv(x, k, 1)), (0, 1))(k1, k2)
  got = jax.jit(jax.grad(penalty(lambda x, k: cpu_conv.strided_conv(x, k, 1)), (0, 1)))(k1, k2)
  for a, b in zip(ref, got):  # float32 round-off of two differentiations: relative to scale
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4 * float(jnp.max(jnp.abs(a))))


def test_transposed_conv_second_order_equals_lax(regime):
  """Reverse over reverse through the stored-kernel transposed convolution (both forms)."""
  y, kernel = _inputs((2, 3, 3, 8), 6)
  def penalty(conv):
    return lambda y, k: jnp.sum(jax.grad(lambda y, k: jnp.sum(jnp.tanh(conv(y, k))))(y, k) ** 2)
  ref = jax.grad(penalty(lambda y, k: _lax_conv_transpose(y, k, 1)), (0, 1))(y, kernel)
  got = jax.jit(jax.grad(penalty(lambda y, k: cpu_conv.conv_transpose_stored(y, k, 1)),
                         (0, 1)))(y, kernel)
  for a, b in zip(ref, got):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4 * float(jnp.max(jnp.abs(a))))


def test_kernel_bound_layers_never_rearrange_the_kernel():
  """pix2pix's inner layers (batch 1, small maps, big kernels): forward + both gradients of
  Conv2d and ConvTranspose2d compile to matmuls that read the kernel and write its gradient
  in the stored layout; no transpose, reverse or copy of a kernel-sized array (each cost
  15-30 ms at 4x4x1024x512 on XLA:CPU) is left."""
  cases = [(layers.Conv2d, (1, 8, 8, 96), 128), (layers.ConvTranspose2d, (1, 4, 4, 96), 128)]
  for cls, shape, c_out in cases:
    m = cls(c_out, 4, 2, 1, impl="rearranged")
    x = jnp.ones(shape)
    v = m.init(jax.random.PRNGKey(0), x)
    y_shape = (m.apply(v, x) if cls is layers.Conv2d else x).shape
    assert (cpu_conv.conv_kernel_bound(y_shape) if cls is layers.Conv2d
            else cpu_conv.conv_transpose_kernel_bound(y_shape))
    step = jax.jit(jax.grad(lambda v, x: jnp.sum(jnp.sin(m.apply(v, x))), (0, 1)))
    hlo = step.lower(v, x).compile().as_text()
    size = 16 * shape[-1] * c_out
    def elements(line):
      dims = line.split("=", 1)[1].split("[", 1)[1].split("]", 1)[0]
      return int(np.prod([int(d) for d in dims.split(",") if d])) if dims else 1
    moved = [line.strip() for line in hlo.splitlines()
             if "=" in line and "[" in line.split("=", 1)[1][:40]
             and any(f" {op}(" in line for op in ("transpose", "reverse", "copy"))
             and elements(line) == size]
    assert not moved, (cls.__name__, moved)


@pytest.mark.parametrize("cls,shape", [(layers.Conv2d, (2, 8, 8, 3)),
                                       (layers.Conv2d, (2, 7, 7, 16)),   # odd: conv_strided
                                       (layers.ConvTranspose2d, (2, 4, 4, 16))])
def test_layers_route_through_the_formulation_and_agree(cls, shape):
  x = jax.random.normal(jax.random.PRNGKey(0), shape)
  fast, ref = cls(8, 4, 2, 1, impl="rearranged"), cls(8, 4, 2, 1, impl="lax")
  v = ref.init(jax.random.PRNGKey(1), x)
  np.testing.assert_allclose(fast.apply(v, x), ref.apply(v, x), rtol=1e-5, atol=1e-5)
  jaxpr = str(jax.make_jaxpr(lambda v, x: fast.apply(v, x))(v, x))
  if cls is layers.Conv2d:
    assert ("name=strided_conv" if shape[1] % 2 == 0 else "name=conv_strided") in jaxpr
  else:
    assert "custom_vjp" in jaxpr


@pytest.mark.parametrize("shape", [(2, 5, 7, 3, 4), (1, 4, 4, 16, 8), (3, 1, 2, 2, 5)])
def test_subpixel_3x3_transposed_conv_equals_lax(shape):
  """CycleGAN's ConvTranspose2d(3, stride 2, padding 1, output_padding 1) as one stride-1
  2x2 convolution by phase: values and both gradients equal lax.conv_transpose's."""
  b, h, w, c_in, c_out = shape
  kx, kk, kd = jax.random.split(jax.random.PRNGKey(sum(shape)), 3)
  x = jax.random.normal(kx, (b, h, w, c_in))
  kernel = jax.random.normal(kk, (3, 3, c_in, c_out))
  dy = jax.random.normal(kd, (b, 2 * h, 2 * w, c_out))
  ref = lambda x, k: lax.conv_transpose(x, k, (2, 2), ((1, 2), (1, 2)),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))
  for fn in (ref, cpu_conv.conv_transpose_3x3_s2):
    y, pullback = jax.vjp(fn, x, kernel)
    if fn is ref:
      want = (y, *pullback(dy))
    else:
      for got, exp in zip((y, *pullback(dy)), want):
        np.testing.assert_allclose(got, exp, rtol=1e-5, atol=1e-5)


def test_layer_routes_cyclegan_upsampling_through_the_subpixel_form():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 6, 6, 4))
  outs = []
  for impl in ("lax", "rearranged"):
    m = layers.ConvTranspose2d(3, 3, 2, 1, output_padding=1, impl=impl)
    v = m.init(jax.random.PRNGKey(1), x)
    outs.append(m.apply(v, x))
    jaxpr = str(jax.make_jaxpr(lambda v, x: m.apply(v, x))(v, x))
    assert ("lhs_dilation=(2, 2)" in jaxpr) == (impl == "lax"), impl
  np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5)


# --- stride-1 'same' convolutions and StyleGAN2's up-convolution -------------------------------

def _lax_same(x, k):
  p = k.shape[0] // 2
  return lax.conv_general_dilated(x, k, (1, 1), ((p, p), (p, p)), dimension_numbers=NHWC)


def _second_order(f):
  """||d/dx sum(sin(f(x, k)))||^2 differentiated w.r.t. (x, k): StyleGAN2's path length and
  R1 differentiate through the backward rule."""
  def penalty(x, k):
    g = jax.grad(lambda x: jnp.sum(jnp.sin(f(x, k))))(x)
    return jnp.sum(g ** 2)
  return jax.grad(penalty, (0, 1))


@pytest.mark.parametrize("shape,k,c_out", [((2, 8, 8, 5), 3, 7), ((1, 6, 10, 4), 3, 3),
                                           ((2, 5, 5, 6), 1, 2), ((2, 7, 7, 2), 5, 3)])
def test_conv_s1_equals_lax_with_first_and_second_derivatives(shape, k, c_out):
  kx, kk = jax.random.split(jax.random.PRNGKey(1))
  x, kernel = jax.random.normal(kx, shape), 0.3 * jax.random.normal(kk, (k, k, shape[-1], c_out))
  np.testing.assert_allclose(cpu_conv.conv_same(x, kernel), _lax_same(x, kernel), rtol=1e-5,
                             atol=1e-5)
  _assert_grads_equal(_lax_same, cpu_conv.conv_same, x, kernel)
  for a, b in zip(_second_order(_lax_same)(x, kernel),
                  jax.jit(_second_order(cpu_conv.conv_same))(x, kernel)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape,c_out", [((2, 4, 4, 3), 5), ((1, 8, 6, 6), 4)])
def test_up_conv_by_phase_equals_transposed_conv_and_blur(shape, c_out):
  """conv_up_2d's CPU form (the transposed conv by output phase, on the input padded in
  front) = its lax form (transposed conv, then the FIR blur): values, gradients and second
  derivatives (the path-length penalty differentiates G's input gradient)."""
  kx, kk = jax.random.split(jax.random.PRNGKey(2))
  x, kernel = jax.random.normal(kx, shape), 0.3 * jax.random.normal(kk, (3, 3, shape[-1], c_out))
  ref = lambda x, k: layers.conv_up_2d(x, k, "lax")
  new = lambda x, k: layers.conv_up_2d(x, k, "rearranged")
  assert new(x, kernel).shape == (shape[0], 2 * shape[1], 2 * shape[2], c_out)
  np.testing.assert_allclose(new(x, kernel), ref(x, kernel), rtol=1e-5, atol=1e-5)
  _assert_grads_equal(ref, new, x, kernel)
  for a, b in zip(_second_order(ref)(x, kernel), jax.jit(_second_order(new))(x, kernel)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_up_conv_by_phase_has_no_transposed_or_dilated_convolution():
  """The CPU up-conv's forward and both gradients are stride-1 convolutions and matmuls:
  no input-dilated (transposed) window for XLA:CPU, whose kernel gradient of one is slow."""
  x, k = jnp.ones((2, 8, 8, 4)), jnp.ones((3, 3, 4, 4))
  step = jax.grad(lambda x, k: jnp.sum(layers.conv_up_2d(x, k, "rearranged") ** 2), (0, 1))
  hlo = jax.jit(step).lower(x, k).compile().as_text()
  windows = [line for line in hlo.splitlines() if "convolution(" in line]
  assert windows and not any("lhs_dilate" in line or "rhs_dilate" in line for line in windows)
  assert all("size=2x2" in line for line in windows), windows


@pytest.mark.parametrize("k", [1, 3])
def test_down_conv_equals_blur_and_strided_conv(k):
  """conv_down_2d's CPU form (conv_s1 for 1x1, conv_strided for 3x3) = its lax form: values,
  gradients and second derivatives (R1 differentiates D's input gradient)."""
  kx, kk = jax.random.split(jax.random.PRNGKey(3))
  x, kernel = jax.random.normal(kx, (2, 8, 8, 3)), 0.3 * jax.random.normal(kk, (k, k, 3, 5))
  ref = lambda x, w: layers.conv_down_2d(x, w, "lax")
  new = lambda x, w: layers.conv_down_2d(x, w, "rearranged")
  assert new(x, kernel).shape == (2, 4, 4, 5)
  np.testing.assert_allclose(new(x, kernel), ref(x, kernel), rtol=1e-5, atol=1e-5)
  _assert_grads_equal(ref, new, x, kernel)
  for a, b in zip(_second_order(ref)(x, kernel), jax.jit(_second_order(new))(x, kernel)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_no_lax_kernel_gradient_left_in_a_second_derivative():
  """Reverse over reverse through conv_s1 stays in conv_s1 and matmuls: no convolution over
  a whole feature map (XLA's kernel gradient, 50x slower inside lax.cond on XLA:CPU)."""
  x, k = jnp.ones((2, 16, 16, 4)), jnp.ones((3, 3, 4, 4))
  hlo = jax.jit(_second_order(cpu_conv.conv_same)).lower(x, k).compile().as_text()
  windows = [line for line in hlo.splitlines() if "convolution(" in line]
  assert windows and all("size=3x3" in line for line in windows), windows


# --- torch_conv2d's CPU forms: any square kernel, stride, padding, dilation ---------------------

def _lax_torch_conv(stride, padding, dilation):
  return lambda x, k: lax.conv_general_dilated(x, k, (stride, stride), ((padding, padding),) * 2,
                                               rhs_dilation=(dilation, dilation),
                                               dimension_numbers=NHWC)


# (input shape, k, C_out, stride, padding, dilation): DeepFill's dilated and 5x5 stride-2
# layers, SRGAN's 3x3 stride 2 and 9x9, CycleGAN's VALID 7x7, the PatchGAN's 4x4 stride 1 on
# an odd map, padding beyond the dilated kernel's reach, odd sizes, a stride of 3.
TORCH_CONV_CASES = [((2, 12, 12, 3), 3, 4, 1, 4, 4), ((2, 9, 9, 3), 3, 2, 1, 2, 2),
                    ((2, 10, 10, 4), 5, 3, 2, 2, 1), ((2, 8, 8, 5), 5, 3, 2, 2, 1),
                    ((1, 11, 9, 3), 3, 5, 2, 1, 1), ((2, 12, 12, 2), 9, 3, 1, 4, 1),
                    ((1, 13, 13, 3), 7, 2, 1, 0, 1), ((2, 7, 7, 6), 4, 1, 1, 1, 1),
                    ((2, 6, 6, 3), 3, 2, 1, 3, 1), ((2, 13, 13, 3), 3, 4, 3, 1, 1)]


@pytest.mark.parametrize("shape,k,c_out,stride,padding,dilation", TORCH_CONV_CASES)
def test_torch_conv2d_cpu_form_equals_lax(shape, k, c_out, stride, padding, dilation):
  """layers.torch_conv2d's "rearranged" form (cpu_conv.conv: conv_s1 at stride 1, dilated or
  not; conv_strided otherwise) = lax: values, gradients, and second derivatives (an SN or
  gradient-penalty D differentiates its input gradient)."""
  kx, kk = jax.random.split(jax.random.PRNGKey(4))
  x = jax.random.normal(kx, shape)
  kernel = 0.3 * jax.random.normal(kk, (k, k, shape[-1], c_out))
  ref = _lax_torch_conv(stride, padding, dilation)
  new = lambda x, w: layers.torch_conv2d(x, w, stride, padding, "rearranged", dilation)
  assert cpu_conv.conv(x, kernel, stride, padding, dilation) is not None  # small: taps pay
  np.testing.assert_allclose(new(x, kernel), ref(x, kernel), rtol=1e-5, atol=1e-5)
  _assert_grads_equal(ref, new, x, kernel)
  for a, b in zip(_second_order(ref)(x, kernel), jax.jit(_second_order(new))(x, kernel)):
    # float32 summation order: the 9x9 case's entries reach 370, where lax's own error
    # against float64 is 7e-4 (as is the flat form's)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=max(1e-4, 1e-5 * float(jnp.abs(a).max())))


def test_strided_conv_kernel_gradient_is_matmuls():
  """conv_strided's kernel gradient runs as matmuls, not as XLA's convolution over the whole
  map (the slow direction on XLA:CPU): the only convolutions left in its backward are the
  stride-2 input gradient's small one (2x2 window over space-to-depth channels)."""
  x, k = jnp.ones((2, 16, 16, 4)), jnp.ones((3, 3, 4, 8))
  grads = jax.jit(jax.grad(lambda x, k: jnp.sum(cpu_conv.conv_strided(x, k, 2, 1) ** 2),
                           (0, 1)))
  hlo = grads.lower(x, k).compile().as_text()
  windows = [line for line in hlo.splitlines() if "convolution(" in line]
  assert windows and all("size=3x3 stride=2x2" in line or "size=2x2 " in line
                         for line in windows), windows


@pytest.mark.parametrize("shape,k,stride,padding,dilation",
                         [((2, 9, 9, 4), 3, 1, 0, 1), ((1, 11, 8, 3), 3, 1, 0, 2),
                          ((2, 9, 9, 4), 3, 2, 0, 1), ((1, 13, 10, 2), 5, 3, 0, 1),
                          ((2, 6, 7, 5), 1, 1, 0, 1), ((2, 7, 7, 3), 2, 1, 0, 1),
                          ((1, 8, 8, 3), 3, 2, 1, 1)])
def test_window_equals_lax(shape, k, stride, padding, dilation):
  """cpu_conv._window (unpadded windows padded by the stride and cropped; 1x1 as a matmul)
  computes lax's convolution."""
  kx, kk = jax.random.split(jax.random.PRNGKey(6))
  x, kernel = jax.random.normal(kx, shape), jax.random.normal(kk, (k, k, shape[-1], 6))
  ref = lax.conv_general_dilated(x, kernel, (stride, stride), ((padding, padding),) * 2,
                                 rhs_dilation=(dilation, dilation), dimension_numbers=NHWC)
  got = cpu_conv._window(x, kernel, stride, padding, dilation)
  assert got.shape == ref.shape
  np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_no_unpadded_window_reaches_xla():
  """Unpadded stride-1 and strided layers (CycleGAN's reflection-padded residual convs,
  StyleGAN2's down-convolution, SNGAN's 1x1 shortcuts), forward and both gradients, compile
  to padded windows or matmuls only: YNNPACK runs unpadded windows 1.1-2.9x slower."""
  x = jnp.ones((2, 16, 16, 8))
  for conv, k in ((lambda x, w: cpu_conv.conv_s1(x, w, 0), 3),
                  (lambda x, w: cpu_conv.conv_s1(x, w, 0), 1),
                  (lambda x, w: cpu_conv.conv_strided(x, w, 2, 0), 3)):
    step = jax.grad(lambda x, w: jnp.sum(conv(x, w) ** 2), (0, 1))
    hlo = jax.jit(step).lower(x, jnp.ones((k, k, 8, 8))).compile().as_text()
    windows = [line for line in hlo.splitlines() if " convolution(" in line]
    assert all("pad=" in line for line in windows), windows


# (input shape, k, C_out, padding, dilation, the flat form it takes): RGB in (im2col), to RGB
# (overlap), both narrow, wide (taps); batch 2, a non-square map, dilation, padding beyond
# the kernel's reach.
FLAT_CASES = [((2, 9, 9, 3), 3, 6, 1, 1, "im2col"), ((1, 7, 11, 8), 5, 2, 2, 1, "overlap"),
              ((2, 8, 8, 3), 3, 3, 2, 2, "im2col"), ((2, 6, 9, 5), 3, 6, 1, 1, "taps"),
              ((1, 6, 6, 6), 3, 1, 3, 1, "overlap")]


@pytest.mark.parametrize("shape,k,c_out,padding,dilation,form", FLAT_CASES)
def test_conv_flat_equals_lax_in_every_form(shape, k, c_out, padding, dilation, form):
  """conv_flat (row slices of the flattened map) = lax: values, gradients, and second
  derivatives, in each of its three forms."""
  assert cpu_conv._flat_form(shape[-1], c_out) == form
  kx, kk = jax.random.split(jax.random.PRNGKey(5))
  x = jax.random.normal(kx, shape)
  kernel = 0.3 * jax.random.normal(kk, (k, k, shape[-1], c_out))
  ref = _lax_torch_conv(1, padding, dilation)
  new = lambda x, w: cpu_conv.conv_flat(x, w, padding, dilation)
  np.testing.assert_allclose(new(x, kernel), ref(x, kernel), rtol=1e-5, atol=1e-5)
  _assert_grads_equal(ref, new, x, kernel)
  for a, b in zip(_second_order(ref)(x, kernel), jax.jit(_second_order(new))(x, kernel)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=max(1e-4, 1e-5 * float(jnp.abs(a).max())))


def test_narrow_layers_run_without_xla_convolutions():
  """A stride-1 layer with at most MAX_NARROW_CHANNELS on a side (to or from RGB) runs
  every direction as conv_flat's matmuls, however large its map; other narrow outputs over
  large maps keep XLA's kernel gradient (memory-bound taps lose), small maps take taps."""
  big, small = jnp.ones((1, 134, 134, 16)), jnp.ones((1, 31, 31, 16))
  to_rgb, narrow, wide = jnp.ones((7, 7, 16, 3)), jnp.ones((7, 7, 16, 8)), jnp.ones((7, 7, 16, 64))
  step = jax.grad(lambda x, k: jnp.sum(cpu_conv.conv(x, k, 1, 0) ** 2), (0, 1))
  hlo = jax.jit(step).lower(big, to_rgb).compile().as_text()
  assert "convolution(" not in hlo
  rgb_in = jax.grad(lambda x, k: jnp.sum(cpu_conv.conv(x, k, 1, 3) ** 2), (0, 1))
  assert "convolution(" not in jax.jit(rgb_in).lower(big[..., :3], to_rgb.swapaxes(2, 3)
                                                     ).compile().as_text()
  assert cpu_conv.conv(jnp.ones((1, 262, 262, 16)), narrow, 1, 0) is None
  assert cpu_conv.conv(small, narrow, 1, 0) is not None
  assert cpu_conv.conv(big, wide, 1, 0) is not None


def test_sngan_networks_agree_across_conv_impls():
  """SNGAN's ResNet G and D (SNConv, stride 1) give the same outputs and parameter gradients
  with the CPU convolutions as with lax's."""
  from jaxgan.models import resnet
  z = jax.random.normal(jax.random.PRNGKey(0), (2, 16))
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 16, 16, 3))
  for net, inputs, kw in ((resnet.Generator, (z,), dict(image_size=16, latent_dim=16, width=8)),
                          (resnet.Discriminator, (x,), dict(image_size=16, width=8))):
    ref, new = net(conv_impl="lax", **kw), net(conv_impl="rearranged", **kw)
    v = ref.init(jax.random.PRNGKey(2), *inputs)
    def loss(m):
      def f(params):
        out, _ = m.apply({**v, "params": params}, *inputs, mutable=["batch_stats"])
        return jnp.sum(jnp.sin(out))
      return f
    np.testing.assert_allclose(loss(new)(v["params"]), loss(ref)(v["params"]), rtol=1e-5)
    jaxpr = str(jax.make_jaxpr(loss(new))(v["params"]))
    assert "name=conv_s1" in jaxpr
    grads_ref = jax.tree.leaves(jax.grad(loss(ref))(v["params"]))
    grads_new = jax.tree.leaves(jax.jit(jax.grad(loss(new)))(v["params"]))
    # A conv bias in front of BatchNorm has a zero gradient in exact arithmetic; what is left
    # is float32 round-off of sums of gradients up to a few hundred, which differs by CPU
    # (AVX-512 or not): the absolute tolerance scales with the largest gradient.
    atol = 1e-7 * max(float(np.abs(g).max()) for g in grads_ref)
    for a, b in zip(grads_ref, grads_new):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=atol)
