"""Trains the embedded feature networks of jaxgan.metrics.feature_nets, reproducibly.

  python scripts/train_feature_nets.py [--nets digits,faces] [--steps N] [--out DIR]

digits: 10-class classifier of scikit-learn's 1,797 8x8 digits (as the embedded `digits`
        dataset stores them: 0..16 scaled to uint8).
faces:  face / not-face classifier of scikit-image's lfw_subset (100 LFW faces, the
        embedded `lfw_faces` dataset, against its 100 non-face patches). Why a classifier
        and not an autoencoder: 100 faces are too few to learn a general face code, while
        the negatives teach the network what separates a face from image clutter, which
        is what a generator of faces gets wrong.

The images are shown as training would produce them: resized from their native size to
sides of 8..64 pixels (tf.image.resize-like bilinear, antialiased), quantised to uint8,
then fed through the network's own preprocessing; plus random shifts (and flips for
faces). A fixed 20% of each dataset is held out; its accuracy is printed. Same seed, same
library versions: same weights (CPU, float32).
"""

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan.metrics import feature_nets

SIZES = {"digits": (8, 16, 24, 32, 64), "faces": (16, 25, 32, 64)}
STEPS = {"digits": 2000, "faces": 600}  # faces: separable (loss ~0) long before 600


def load_data(name: str) -> tuple[np.ndarray, np.ndarray]:
  """uint8 images (N, h, w, 1) at their native size, int labels (N,)."""
  if name == "digits":
    from sklearn.datasets import load_digits
    d = load_digits()
    return np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[..., None], d.target
  from skimage import data
  patches = data.lfw_subset()  # 100 faces then 100 non-faces
  return (np.round(patches * 255.0).astype(np.uint8)[..., None],
          (np.arange(len(patches)) < 100).astype(np.int64))


def resized_variants(images: np.ndarray, spec: feature_nets.NetSpec, sizes) -> np.ndarray:
  """(len(sizes), N, S, S, 1) network inputs: native -> each size -> uint8 -> preprocess."""
  out = []
  for s in sizes:
    x = jnp.asarray(images, jnp.float32)
    x = jax.image.resize(x, (x.shape[0], s, s, 1), "linear", antialias=True)
    x = jnp.clip(jnp.round(x), 0, 255).astype(jnp.uint8)
    out.append(np.asarray(feature_nets.preprocess(x, spec.input_size)))
  return np.stack(out)


def augment(key, x: jax.Array, max_shift: int, flip: bool) -> jax.Array:
  """Random integer shifts (edge-replicating) and optional horizontal flips of (B, S, S, 1)."""
  k1, k2 = jax.random.split(key)
  shifts = jax.random.randint(k1, (x.shape[0], 2), -max_shift, max_shift + 1)
  padded = jnp.pad(x, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)), mode="edge")
  s = x.shape[1]
  crop = lambda img, sh: jax.lax.dynamic_slice(img, (max_shift + sh[0], max_shift + sh[1], 0),
                                               (s, s, 1))
  x = jax.vmap(crop)(padded, shifts)
  if flip:
    x = jnp.where(jax.random.bernoulli(k2, 0.5, (x.shape[0], 1, 1, 1)), x[:, :, ::-1], x)
  return x


def train(name: str, steps: int, seed: int = 0, batch: int = 128) -> tuple[dict, float, dict]:
  """(params, feature scale, metadata) of the `name` feature net."""
  spec = feature_nets.EMBEDDED_SPECS[name]
  images, labels = load_data(name)
  order = np.random.default_rng(seed).permutation(len(images))
  n_val = len(images) // 5
  val, tr = order[:n_val], order[n_val:]
  variants = resized_variants(images, spec, SIZES[name])  # (V, N, S, S, 1)
  x_train = variants[:, tr].reshape(-1, *variants.shape[2:])
  y_train = np.tile(labels[tr], len(SIZES[name]))
  model = feature_nets.ConvClassifier(spec)
  key = jax.random.PRNGKey(seed)
  params = model.init(key, x_train[:1])["params"]
  opt = optax.adamw(optax.cosine_decay_schedule(2e-3, steps), weight_decay=1e-4)
  opt_state = opt.init(params)
  max_shift = max(1, spec.input_size // 16)

  @jax.jit
  def step(params, opt_state, k):
    k1, k2 = jax.random.split(k)
    idx = jax.random.randint(k1, (batch,), 0, x_train.shape[0])
    x = augment(k2, jnp.asarray(x_train)[idx], max_shift, flip=name == "faces")
    y = jnp.asarray(y_train)[idx]

    def loss_fn(p):
      _, logits = model.apply({"params": p}, x)
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  start = time.perf_counter()
  for i in range(steps):
    params, opt_state, loss = step(params, opt_state, jax.random.fold_in(key, i))
    if (i + 1) % 500 == 0:
      print(f"{name}: step {i + 1}/{steps} loss {float(loss):.4f}", flush=True)
  accuracy = {}
  for s, v in zip(SIZES[name], variants):
    _, logits = model.apply({"params": params}, v[val])
    accuracy[str(s)] = float((np.asarray(logits).argmax(1) == labels[val]).mean())
  # Scale making the real data's mean x.x/D one (faces: the face class only, what GANs model).
  real = variants[:, labels == 1] if name == "faces" else variants
  feats, _ = model.apply({"params": params}, real.reshape(-1, *real.shape[2:]))
  feature_scale = float(np.sqrt(np.mean(np.square(np.asarray(feats, np.float64)))))
  meta = {"net": name, "feature_scale": feature_scale, "steps": steps, "seed": seed,
          "batch": batch, "sizes": SIZES[name],
          "held_out": int(n_val), "held_out_accuracy_by_size": accuracy,
          "jax": jax.__version__, "train_seconds": round(time.perf_counter() - start, 1)}
  print(f"{name}: held-out accuracy by source size {accuracy}", flush=True)
  return params, feature_scale, meta


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--nets", default="digits,faces")
  parser.add_argument("--steps", type=int, default=0, help="0: the per-net default (STEPS)")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default=feature_nets.WEIGHTS_DIR)
  args = parser.parse_args()
  for name in args.nets.split(","):
    params, scale, meta = train(name, args.steps or STEPS[name], args.seed)
    path = feature_nets.save_embedded(name, params, scale, meta,
                                      os.path.join(args.out, f"{name}_features.npz"))
    print(f"wrote {path} ({os.path.getsize(path)} bytes): {json.dumps(meta)}")


if __name__ == "__main__":
  main()
