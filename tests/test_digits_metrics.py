"""The digits judge: its figures on real digits, shuffled labels and blank images."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from jaxgan.metrics import digits


def test_label_agreement_is_the_classifier_accuracy_on_real_digits():
  images, labels = digits.real_digits_uint8(16), load_digits().target
  real = digits.label_agreement(images, labels)
  # Hand count of the same thing: predictions equal to the labels.
  predicted = digits._classifier().predict(digits.to_digit_features(images))
  assert real["agreement"] == pytest.approx(np.mean(predicted == labels))
  assert real["agreement"] > 0.95                     # a fit on these very digits
  shifted = digits.label_agreement(images, (labels + 1) % 10)
  assert shifted["agreement"] < 0.05
  assert len(real["per_class"]) == 10 and min(real["per_class"]) > 0.9


def test_label_agreement_marks_classes_never_asked_for():
  images = digits.real_digits_uint8(8)[:20]
  r = digits.label_agreement(images, np.zeros(20, int))
  assert not np.isnan(r["per_class"][0]) and np.isnan(r["per_class"][1:]).all()
  with pytest.raises(ValueError, match="expected 20 labels"):
    digits.label_agreement(images, np.zeros(19, int))


def test_digits_report_on_real_digits():
  r = digits.digits_report(digits.real_digits_uint8(16))
  assert r["coverage"] == 10 and r["class_kl"] < 0.01 and r["digits_is"] > 8
