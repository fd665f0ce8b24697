"""Inception Score (Salimans et al. 2016): exp E_x KL(p(y|x) || p(y)), over 10 splits.

As in the original code and torch-fidelity: the samples are cut into `splits` contiguous
parts, p(y) is the mean class distribution of each part, and the score is reported as
the mean and (population) standard deviation over the parts.
"""

import numpy as np
import scipy.special


def inception_score(logits: np.ndarray, *, splits: int = 10) -> tuple[float, float]:
  """IS from unnormalised class logits.

  Args:
    logits: (N, K) logits (softmax is applied here, in float64).
    splits: number of contiguous parts; each needs at least one sample.
  Returns:
    (mean, std) over the splits; 1.0 means one class for everything, K the best.
  """
  logits = np.asarray(logits, np.float64)
  if logits.ndim != 2:
    raise ValueError(f"expected (N, K) logits, got shape {logits.shape}")
  return inception_score_from_probs(scipy.special.softmax(logits, axis=1), splits=splits)


def inception_score_from_probs(probs: np.ndarray, *, splits: int = 10) -> tuple[float, float]:
  """IS from (N, K) class probabilities (rows sum to 1); see `inception_score`."""
  probs = np.asarray(probs, np.float64)
  if splits < 1 or probs.shape[0] < splits:
    raise ValueError(f"need at least splits={splits} >= 1 samples, got {probs.shape[0]}")
  n, scores = probs.shape[0], []
  for i in range(splits):
    part = probs[i * n // splits:(i + 1) * n // splits]  # the original code's split points
    marginal = part.mean(axis=0, keepdims=True)
    # xlogy: 0 log 0 = 0, so one-hot (one-class) rows give exactly KL = 0.
    kl = (scipy.special.xlogy(part, part) - scipy.special.xlogy(part, marginal)).sum(axis=1)
    scores.append(np.exp(kl.mean()))
  return float(np.mean(scores)), float(np.std(scores))
