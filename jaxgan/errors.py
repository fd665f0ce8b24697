"""The one exception type that means "the user asked for something we cannot do"."""


class UsageError(ValueError):
  """Bad user input (config, dataset, paths). The CLI prints it as one line and exits 2."""
