"""GAN inversion: the latent whose generated image is closest to a given image.

The optimiser is NVIDIA's StyleGAN2-ADA projector (projector.py): Adam (0.9, 0.999) on the
latent from the space's mean, learning rate ramped up over the first 5% of the steps and
down by a half cosine over the last 25%, and Gaussian noise added to the latent, scaled by
the space's spread and decaying quadratically to 0 at 75% of the steps. Their distance is
LPIPS on VGG16 (images larger than 256 pixels area-downsampled to 256 first): here with
LPIPS weights given (`lpips_weight`; `pixel_weight=0` for their loss alone), beside pixel
MSE and, with VGG19 weights, Image2StyleGAN's perceptual term. The targets' features are
computed once, outside the optimisation loop.

Differences for generators without W (DCGAN, SNGAN ResNets): the latent is z, started from
`restarts` draws of the prior (the landscape has many poor minima; the best is kept), with
an optional penalty (||z||^2 / d - 1)^2 that keeps z on the prior's typical shell, where
the generator was trained. Class-conditional generators are projected under every class
unless labels are given; the best (class, restart) wins, so the class is inferred too.

Images are independent: the loss is a sum over them and Adam is elementwise, so a batch of
images gives each one exactly the steps it would get alone (tested).
"""

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan import sampling
from jaxgan.edit import latent_space
from jaxgan.errors import UsageError


@dataclasses.dataclass(frozen=True)
class ProjectOptions:
  space: str = ""                    # "" : the generator's default (w for StyleGAN2, else z)
  num_steps: int = 1000
  learning_rate: float = 0.1
  lr_rampup: float = 0.05            # fractions of num_steps, as NVIDIA's projector
  lr_rampdown: float = 0.25
  noise_factor: float = 0.05         # initial latent noise, times the space's spread
  noise_ramp: float = 0.75
  restarts: int = 1                  # random starts per image (z); the best one is kept
  prior_weight: float = 0.0          # z only: weight of (||z||^2 / d - 1)^2
  perceptual_weight: float = 0.0     # > 0 needs VGG19 variables
  lpips_weight: float = 0.0          # > 0 needs LPIPS variables (NVIDIA's distance)
  pixel_weight: float = 1.0          # pixel MSE's weight (NVIDIA's projector: 0)
  seed: int = 0


def learning_rate(options: ProjectOptions, step: jax.Array) -> jax.Array:
  """NVIDIA's ramp: lr * min(1, t / rampup) * (0.5 - 0.5 cos(pi min(1, (1 - t) / rampdown)))."""
  t = step / options.num_steps
  down = jnp.minimum(1.0, (1.0 - t) / options.lr_rampdown)
  ramp = (0.5 - 0.5 * jnp.cos(down * jnp.pi)) * jnp.minimum(1.0, t / options.lr_rampup)
  return options.learning_rate * ramp


def noise_scale(options: ProjectOptions, spread: float, step: jax.Array) -> jax.Array:
  t = step / options.num_steps
  return spread * options.noise_factor * jnp.maximum(0.0, 1.0 - t / options.noise_ramp) ** 2


def check_options(options: ProjectOptions) -> None:
  if options.num_steps < 1:
    raise UsageError(f"--steps must be at least 1, got {options.num_steps}")
  if options.restarts < 1:
    raise UsageError(f"--restarts must be at least 1, got {options.restarts}")
  if options.learning_rate <= 0:
    raise UsageError(f"--learning-rate must be positive, got {options.learning_rate}")
  weights = (options.prior_weight, options.perceptual_weight, options.lpips_weight,
             options.pixel_weight)
  if min(weights) < 0:
    raise UsageError("loss weights must not be negative")
  if options.pixel_weight + options.perceptual_weight + options.lpips_weight <= 0:
    raise UsageError("the distance is empty: give a positive pixel, perceptual or LPIPS weight")


class Embedding(NamedTuple):
  """A feature network of the distance: apply(weights, images) -> features. The weights
  travel as an argument of the compiled projector (closed over, XLA would inline tens of
  MB of them as constants)."""
  apply: Callable
  weights: Any


class Distance:
  """The projection's per-image distance (B,) between images and their targets:
  pixel_weight * MSE on [-1, 1] + perceptual_weight * VGG feature MSE + lpips_weight *
  LPIPS. `perceptual`, `lpips`: Embeddings (None: term off); LPIPS is the squared
  distance of embeddings (jaxgan.metrics.lpips.LPIPS.embed). Methods take `weights`,
  the dict `weights()` returns (traced under jit)."""

  def __init__(self, options: ProjectOptions, perceptual: Embedding | None = None,
               lpips: Embedding | None = None):
    self.pixel = options.pixel_weight
    self.nets = {name: net for name, net, weight in (
        ("vgg", perceptual, options.perceptual_weight), ("lpips", lpips, options.lpips_weight))
        if net is not None and weight > 0}
    self.perceptual_weight, self.lpips_weight = options.perceptual_weight, options.lpips_weight

  def weights(self) -> dict:
    return {name: net.weights for name, net in self.nets.items()}

  def target_features(self, weights: dict, targets: jax.Array) -> dict:
    """What the distance needs of the targets, computed once per optimisation."""
    out = {name: net.apply(weights[name], targets) for name, net in self.nets.items()}
    return {"pixels": targets, **out}

  def __call__(self, weights: dict, images: jax.Array, target: dict) -> jax.Array:
    loss = self.pixel * jnp.mean((images - target["pixels"]) ** 2, axis=(1, 2, 3))
    if "vgg" in self.nets:
      fx = self.nets["vgg"].apply(weights["vgg"], images)
      loss = loss + self.perceptual_weight * jnp.mean((fx - target["vgg"]) ** 2, axis=(1, 2, 3))
    if "lpips" in self.nets:
      fx = self.nets["lpips"].apply(weights["lpips"], images)
      loss = loss + self.lpips_weight * jnp.sum((fx - target["lpips"]) ** 2, axis=1)
    return loss


def lpips_embedding(net: str, variables, size: int) -> Embedding:
  """The LPIPS embedding for the projector: as NVIDIA's, images larger than 256 pixels
  are area-downsampled (by the whole factor) to at most 256 first."""
  from jaxgan.metrics.lpips import LPIPS, check_size
  factor = max(1, size // 256)
  check_size(net, size // factor, " (the projector's images)")
  model = LPIPS(net)

  def embed(weights, x):
    if factor > 1:
      b, h, w, c = x.shape
      x = x.reshape(b, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))
    return model.apply(weights, x, method="embed")  # grey: repeated to RGB inside
  return Embedding(embed, variables)


def _candidates(num_images: int, restarts: int, num_classes: int, labels):
  """Per candidate (image index, restart, label): every image x restart x class searched."""
  classes = [None] if not num_classes else (range(num_classes) if labels is None else [None])
  rows = [(i, r, c) for i in range(num_images) for c in classes for r in range(restarts)]
  image = np.array([i for i, _, _ in rows])
  restart = np.array([r for _, r, _ in rows])
  if not num_classes:
    label = None
  elif labels is None:
    label = np.array([c for _, _, c in rows], np.int32)
  else:
    label = np.asarray(labels, np.int32)[image]
  return image, restart, label


def make_projector(generator, space: str, options: ProjectOptions, spread: float,
                   distance: Distance):
  """jitted (variables, distance weights, targets (B, H, W, C), start latents, labels,
  ids (B,), key) -> (latents, final per-candidate loss), the whole optimisation in one
  compiled loop.
  `ids` (image index x restarts + restart) seed the latent noise: a candidate's result
  depends on neither its batch nor the classes tried beside it."""
  tx = optax.adam(lambda s: learning_rate(options, s), b1=0.9, b2=0.999)
  d = generator.latent_dim

  def loss_fn(latents, variables, net_weights, targets, labels, noise):
    images = latent_space.decode(generator, variables, space, latents + noise, labels)
    per = distance(net_weights, images, targets)
    if space == "z" and options.prior_weight > 0:
      per = per + options.prior_weight * (jnp.sum(latents ** 2, axis=1) / d - 1.0) ** 2
    return jnp.sum(per)

  @jax.jit
  def project(variables, net_weights, target_images, start, labels, ids, key):
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(ids)
    targets = distance.target_features(net_weights, target_images)

    def body(step, carry):
      latents, opt_state = carry
      draw = lambda k: jax.random.normal(jax.random.fold_in(k, step), latents.shape[1:])
      noise = noise_scale(options, spread, step) * jax.vmap(draw)(keys)
      grads = jax.grad(loss_fn)(latents, variables, net_weights, targets, labels, noise)
      updates, opt_state = tx.update(grads, opt_state, latents)
      return optax.apply_updates(latents, updates), opt_state

    latents, _ = jax.lax.fori_loop(0, options.num_steps, body, (start, tx.init(start)))
    images = latent_space.decode(generator, variables, space, latents, labels)
    return latents, distance(net_weights, images, targets)

  return project


def project(generator, variables, targets: np.ndarray, options: ProjectOptions, *,
            labels=None, perceptual: Embedding | None = None,
            lpips_embed: Embedding | None = None, batch_size: int = 64) -> dict:
  """Projects float (N, H, W, C) targets in [-1, 1] into the generator's latent space
  under the distance of `options` (its VGG and LPIPS terms need their Embeddings).

  Returns {"space", "latents" (N, *shape), "labels" (N,) or None, "loss" (N,): the final
  distance, "images" (N, H, W, C): the reconstructions}. `labels` (N,) fixes the classes of
  a conditional generator; otherwise every class is tried.
  """
  check_options(options)
  space = latent_space.check_space(generator, options.space or latent_space.default_space(generator))
  num_classes = sampling.num_classes(generator)
  if labels is not None and not num_classes:
    raise UsageError("labels need a class-conditional model; this run's is unconditional")
  mean, spread = latent_space.statistics(generator, variables, space)
  image, restart, label = _candidates(len(targets), options.restarts, num_classes, labels)
  # Restart 0 starts at the space's mean (NVIDIA's start); others at prior draws mapped
  # into the space, the same draws for every image and class.
  draws = latent_space.sample(generator, variables, space, options.seed + 1,
                              np.arange(options.restarts))
  starts = jnp.where((restart == 0).reshape(-1, *[1] * mean.ndim), mean, draws[restart])
  if options.lpips_weight > 0 and lpips_embed is None:
    raise UsageError("--lpips-weight needs the LPIPS weights (--lpips FILE)")
  distance = Distance(options, perceptual, lpips_embed)
  run = make_projector(generator, space, options, spread, distance)
  key = jax.random.PRNGKey(options.seed)
  per_image = len(image) // max(len(targets), 1)
  # Whole images per chunk, and no more rows than there are candidates (padding rows cost
  # a full generator + distance evaluation per step each).
  chunk = min(max(1, batch_size // per_image) * per_image, len(image))
  latents, losses = [], []
  for start in range(0, len(image), chunk):
    rows = np.arange(start, start + chunk).clip(max=len(image) - 1)  # padded: one compile
    ids = jnp.asarray(image[rows] * options.restarts + restart[rows], jnp.uint32)
    lat, loss = run(variables, distance.weights(), jnp.asarray(targets)[image[rows]], starts[rows],
                    None if label is None else label[rows], ids, key)
    n = min(chunk, len(image) - start)
    latents.append(np.asarray(lat)[:n])
    losses.append(np.asarray(loss)[:n])
  latents, losses = np.concatenate(latents), np.concatenate(losses)
  best = (losses.reshape(len(targets), per_image).argmin(axis=1)
          + np.arange(len(targets)) * per_image)
  labels_out = None if label is None else label[best]
  return {"space": space, "latents": latents[best], "labels": labels_out, "loss": losses[best],
          "images": decode_all(generator, variables, space, latents[best], labels_out,
                               batch_size)}


def decode_all(generator, variables, space: str, latents: np.ndarray, labels=None,
               batch_size: int = 64) -> np.ndarray:
  """Images (N, H, W, C) of latents (N, ...), in fixed-size batches (one compilation)."""
  run = jax.jit(lambda v, x, y: latent_space.decode(generator, v, space, x, y))
  out = []
  for start in range(0, len(latents), batch_size):
    rows = np.arange(start, start + batch_size).clip(max=len(latents) - 1)
    y = None if labels is None else jnp.asarray(labels)[rows]
    out.append(np.asarray(run(variables, jnp.asarray(latents)[rows], y))[:len(latents) - start])
  return np.concatenate(out)


def psnr(images: np.ndarray, targets: np.ndarray) -> np.ndarray:
  """Per-image PSNR in dB of [-1, 1] images (peak-to-peak 2)."""
  mse = np.mean((np.asarray(images, np.float64) - targets) ** 2, axis=(1, 2, 3))
  return 10 * np.log10(4.0 / np.maximum(mse, 1e-12))

