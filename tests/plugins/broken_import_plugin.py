"""A plugin that cannot even be imported."""

raise RuntimeError("this plugin needs a library that is not installed")
