"""Input data. The only package of jaxgan that imports TensorFlow (for tf.data and TFDS)."""
