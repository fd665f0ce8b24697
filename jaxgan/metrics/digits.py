"""Do generated images look like the digits, and of every class?

A logistic-regression classifier trained on scikit-learn's real 8x8 digits judges
samples after 2x2..kxk mean-pooling them back to 8x8. Reported:
  confidence   mean max class probability (real digits: ~0.97)
  coverage     classes predicted for at least 2% of the samples (of 10)
  class_kl     KL(predicted class histogram || uniform) in nats (0 = balanced)
  digits_is    the Inception Score with this classifier: exp E_x KL(p(y|x) || p(y)), 1..10
"""

import functools

import numpy as np


@functools.cache
def _classifier():
  from sklearn.datasets import load_digits
  from sklearn.linear_model import LogisticRegression
  digits = load_digits()
  clf = LogisticRegression(C=10.0, max_iter=5000)
  clf.fit(digits.data / 16.0, digits.target)
  return clf


def to_digit_features(images: np.ndarray) -> np.ndarray:
  """uint8 (N, H, W, 1) with H a multiple of 8 -> (N, 64) in [0, 1], mean-pooled to 8x8."""
  n, h, w, c = images.shape
  if c != 1 or h % 8 or w % 8:
    raise ValueError(f"expected greyscale images with sides a multiple of 8, got {images.shape}")
  x = images[..., 0].astype(np.float64) / 255.0
  x = x.reshape(n, 8, h // 8, 8, w // 8).mean(axis=(2, 4))
  return x.reshape(n, 64)


def digits_report(images: np.ndarray) -> dict[str, float]:
  """Quality figures (see module doc) for uint8 (N, H, W, 1) digit images."""
  probs = _classifier().predict_proba(to_digit_features(images))
  predicted = probs.argmax(axis=1)
  hist = np.bincount(predicted, minlength=10) / len(predicted)
  marginal = probs.mean(axis=0)
  eps = 1e-12
  kl = np.sum(probs * (np.log(probs + eps) - np.log(marginal + eps)), axis=1)
  nonzero = hist[hist > 0]
  return {
      "confidence": float(probs.max(axis=1).mean()),
      "coverage": int(np.sum(hist >= 0.02)),
      "class_kl": float(np.sum(nonzero * np.log(nonzero * 10))),
      "digits_is": float(np.exp(kl.mean())),
  }


def label_agreement(images: np.ndarray, labels: np.ndarray) -> dict:
  """How often the classifier's class is the one a conditional generator was asked for.

  uint8 (N, H, W, 1) images, int (N,) requested labels -> {"agreement": overall rate,
  "per_class": [rate of class 0, ..., rate of class 9] (nan for a class never asked for)}.
  """
  labels = np.asarray(labels)
  if labels.shape != (len(images),):
    raise ValueError(f"expected {len(images)} labels, got shape {labels.shape}")
  predicted = _classifier().predict(to_digit_features(images))
  hit = predicted == labels
  per_class = [float(hit[labels == k].mean()) if np.any(labels == k) else float("nan")
               for k in range(10)]
  return {"agreement": float(hit.mean()), "per_class": per_class}


def real_digits_uint8(image_size: int) -> np.ndarray:
  """The real digits upsampled by pixel repetition to image_size (a reference row)."""
  from sklearn.datasets import load_digits
  x = np.round(load_digits().images * (255.0 / 16.0)).astype(np.uint8)
  r = image_size // 8
  return np.repeat(np.repeat(x, r, axis=1), r, axis=2)[..., None]
