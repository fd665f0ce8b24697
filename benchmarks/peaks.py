"""Peak dense FLOP/s of accelerators, for MFU. Vendor datasheet figures, without sparsity.

f32 on NVIDIA GPUs is compared with the TF32 tensor-core peak: XLA and cuDNN run f32
convolutions through TF32 tensor cores by default on Ampere and newer (PyTorch too for
convolutions). f32 on TPUs runs at the bf16 peak at default precision (one bf16 pass).
CPUs have no entry: MFU is reported as null there.
"""

# device_kind substring -> {precision: FLOP/s}; first match wins, so specific names first.
PEAKS = (
    ("H200", {"bf16": 989.4e12, "f32": 494.7e12}),            # SXM, same tensor cores as H100 SXM
    ("H100 PCIe", {"bf16": 756.0e12, "f32": 378.0e12}),
    ("H100", {"bf16": 989.4e12, "f32": 494.7e12}),            # SXM5
    ("A100", {"bf16": 312.0e12, "f32": 156.0e12}),
    ("L4", {"bf16": 121.0e12, "f32": 60.0e12}),
    ("V100", {"bf16": None, "f32": 15.7e12}),                  # no bf16; fp16 125 TFLOP/s
    ("TPU v6", {"bf16": 918.0e12, "f32": 918.0e12}),
    ("TPU v5p", {"bf16": 459.0e12, "f32": 459.0e12}),
    ("TPU v5 lite", {"bf16": 197.0e12, "f32": 197.0e12}),     # v5e
    ("TPU v5e", {"bf16": 197.0e12, "f32": 197.0e12}),
    ("TPU v4", {"bf16": 275.0e12, "f32": 275.0e12}),
)


def peak_flops(device, precision: str) -> float | None:
  """The peak of `device` (a jax Device) at `precision` ("f32"/"bf16"), or None if unknown."""
  kind = getattr(device, "device_kind", "") or ""
  for name, table in PEAKS:
    if name.lower() in kind.lower():
      return table.get(precision)
  return None
