"""GANState: the whole training state as one pytree (what a checkpoint holds)."""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

PyTree = Any


@flax.struct.dataclass
class NetState:
  """One network's variables and its optimizer state."""
  params: PyTree
  batch_stats: PyTree        # BatchNorm running statistics; {} for networks without them
  opt_state: PyTree


@flax.struct.dataclass
class GANState:
  step: jax.Array            # int32 scalar: completed generator updates
  rng: jax.Array             # uint32[2] base key; step keys are fold_in(rng, step)
  g: NetState
  d: NetState
  # Exponential moving average of G's parameters (sampling uses it when present);
  # {} when the config's ema_decay is 0.
  g_ema: PyTree = flax.struct.field(default_factory=dict)
  # Running statistics of the step itself: StyleGAN2's path-length mean {"pl_mean": f32[]};
  # {} for the other models (their checkpoints keep their old structure).
  extras: PyTree = flax.struct.field(default_factory=dict)


@flax.struct.dataclass
class GANDef:
  """What the step needs besides the state: modules, optimizers, losses (all static)."""
  generator: Any = flax.struct.field(pytree_node=False)
  discriminator: Any = flax.struct.field(pytree_node=False)
  g_tx: Any = flax.struct.field(pytree_node=False)
  d_tx: Any = flax.struct.field(pytree_node=False)
  d_loss: Any = flax.struct.field(pytree_node=False)
  g_loss: Any = flax.struct.field(pytree_node=False)
  grad_accum_steps: int = flax.struct.field(pytree_node=False, default=1)  # micro-batches a step
  # A step whose losses, gradients or new parameters are not finite leaves the state as it
  # was (but advances the step) and reports skipped=1, instead of poisoning the run.
  skip_nonfinite: bool = flax.struct.field(pytree_node=False, default=False)
  n_critic: int = flax.struct.field(pytree_node=False, default=1)   # D updates per G update
  penalty: str = flax.struct.field(pytree_node=False, default="none")  # losses.PENALTIES
  penalty_weight: float = flax.struct.field(pytree_node=False, default=0.0)  # lambda or gamma
  ema_decay: float = flax.struct.field(pytree_node=False, default=0.0)  # 0: no generator EMA
  num_classes: int = flax.struct.field(pytree_node=False, default=0)  # > 0: class-conditional
  ac_weight: float = flax.struct.field(pytree_node=False, default=0.0)  # AC-GAN class loss weight
  augment: Any = flax.struct.field(pytree_node=False, default=None)  # x, key -> x (DiffAugment)
  # StyleGAN2Options (jaxgan/train/stylegan2_step.py): the lazy-regularised StyleGAN2 step
  # replaces the default one; None: the default step.
  stylegan2: Any = flax.struct.field(pytree_node=False, default=None)
  # TranslationOptions (jaxgan/train/translation_step.py): G maps an input image to an
  # image and D judges (input, image) pairs (pix2pix); None: G maps noise z.
  translation: Any = flax.struct.field(pytree_node=False, default=None)
  # CycleOptions (jaxgan/train/cycle_step.py): two generators and two discriminators on
  # unpaired domains (CycleGAN); None otherwise.
  cycle: Any = flax.struct.field(pytree_node=False, default=None)
  # SROptions (jaxgan/train/superres_step.py): G upsamples a low-resolution image and D
  # judges high-resolution ones (SRGAN, ESRGAN); None otherwise.
  superres: Any = flax.struct.field(pytree_node=False, default=None)
  # InpaintOptions (jaxgan/train/inpaint_step.py): G fills the masked holes of an image and
  # D judges (image, mask) pairs (DeepFill v2); None otherwise.
  inpaint: Any = flax.struct.field(pytree_node=False, default=None)

  @property
  def latent_dim(self) -> int:
    return self.generator.latent_dim


def _init_net(module, tx, key, dummy, labels=None) -> NetState:
  kwargs = {} if labels is None else {"labels": labels}
  dummies = dummy if isinstance(dummy, tuple) else (dummy,)  # pairs of networks: two inputs
  variables = module.init(key, *dummies, train=False, **kwargs)
  params = variables["params"]
  return NetState(params=params, batch_stats=variables.get("batch_stats", {}),
                  opt_state=tx.init(params))


def init_state(gan: GANDef, seed: int, image_shape: tuple[int, ...]) -> GANState:
  """A fresh state. Pure: jit it with out_shardings to build it directly on devices.

  Args:
    gan: the GAN definition.
    seed: the run's seed.
    image_shape: one example's shape: (H, W, C) for images, (2,) for 2-D points.
  """
  if gan.superres is not None or gan.inpaint is not None:
    # Their hundreds of parameter tensors of many shapes make XLA:CPU compile the
    # partitionable threefry for minutes (measured on DeepFill's 84: 37 s of random draws
    # alone, 10 s with the classic threefry). Parameters are replicated, so the classic
    # one loses nothing; the older models keep their initial values.
    with jax.threefry_partitionable(False):
      return _init_state(gan, seed, image_shape)
  return _init_state(gan, seed, image_shape)


def _init_state(gan: GANDef, seed: int, image_shape: tuple[int, ...]) -> GANState:
  root = jax.random.PRNGKey(seed)
  g_key, d_key, train_key = jax.random.split(root, 3)
  labels = jnp.zeros((1,), jnp.int32) if gan.num_classes else None
  g_input, d_input = (1, gan.latent_dim), (1, *image_shape)
  if gan.translation is not None:  # G sees the input image; D sees (input, image)
    c_in = gan.translation.input_channels
    g_input, d_input = (1, *image_shape[:-1], c_in), (1, *image_shape[:-1], c_in + image_shape[-1])
  zeros = lambda shape: jnp.zeros(shape, jnp.float32)
  g_dummy, d_dummy = zeros(g_input), zeros(d_input)
  if gan.cycle is not None:  # G_A(A), G_B(B); D_A(B), D_B(A)
    a = zeros((1, *image_shape[:-1], gan.cycle.channels_a))
    g_dummy, d_dummy = (a, zeros(d_input)), (zeros(d_input), a)
  if gan.superres is not None:  # G sees the low-resolution image; D the high-resolution one
    (h, w, c), s = image_shape, gan.superres.scale
    g_dummy = zeros((1, h // s, w // s, c))
  if gan.inpaint is not None:  # G(image, mask); D sees [image, mask]
    g_dummy = (zeros((1, *image_shape)), zeros((1, *image_shape[:-1], 1)))
    d_dummy = zeros((1, *image_shape[:-1], image_shape[-1] + 1))
  g = _init_net(gan.generator, gan.g_tx, g_key, g_dummy, labels)
  d = _init_net(gan.discriminator, gan.d_tx, d_key, d_dummy, labels)
  g_ema = jax.tree.map(jnp.copy, g.params) if gan.ema_decay > 0 else {}
  extras = {}
  if gan.stylegan2 is not None:
    from jaxgan.train.stylegan2_step import init_ada_extras
    extras = {"pl_mean": jnp.zeros((), jnp.float32), **init_ada_extras(gan.stylegan2)}
  if gan.cycle is not None:
    from jaxgan.train.cycle_step import init_pools
    extras = init_pools(gan.cycle, image_shape)
  if gan.superres is not None:  # the frozen VGG of the perceptual loss (random until loaded)
    from jaxgan.train.superres_step import init_extras
    extras = init_extras(gan.superres, jax.random.fold_in(root, 1))
  return GANState(step=jnp.zeros((), jnp.int32), rng=train_key, g=g, d=d, g_ema=g_ema,
                  extras=extras)


def sampling_params(state: GANState):
  """The generator parameters to sample with: the EMA ones when the run keeps them."""
  return state.g_ema if state.g_ema else state.g.params
