"""A `.py` file in a plugin directory that implements no hook at all."""

HELPER_CONSTANT = 42
